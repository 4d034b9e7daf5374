"""`/peer` as a Discord application command group: every verb a subcommand with typed options.

Each invocation is turned back into the text the core's parser reads (`post chronic-pain hello`), so the verbs
keep one meaning on every platform. The typed options are data below; a verb the core registers that is not listed
here still gets a subcommand, with one optional free-text option.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import discord
from discord import app_commands

# Called with the interaction and the command text after `/peer`.
CommandHandler = Callable[[discord.Interaction, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    description: str
    type: type = str
    required: bool = True
    quote: bool = False  # a pseudonym has spaces: quoted, so the parser reads it as one argument
    groups: bool = False  # choices are the configured group topics
    choices: tuple[str, ...] = ()  # fixed choices (sub-verbs of the core's command)
    prefix: str = ""  # written before the value (`@` before a pseudonym the core reads as an addressee)
    lead: bool = False  # written first, though Discord lists it after the required options


_ESCALATION = Option("escalation", "the alert number shown on the alert", int)
_PSEUDONYM = Option("pseudonym", "the pseudonym, e.g. Quiet Heron 42", quote=True)
_POST = Option("post", "the post id shown on the post, e.g. K7QM")
_PAIR_ACTIONS = ("end", "share", "status", "cancel", "feedback")

# verb -> (description, options). Descriptions are what Discord shows in the command picker (at most 100 chars).
PEER_VERBS: dict[str, tuple[str, tuple[Option, ...]]] = {
    "help": ("show what peerbot can do", ()),
    "join": ("join the community (asks your consent first)", ()),
    "profile": ("see or change your pseudonym, topics, language and timezone",
                (Option("setting", "e.g. timezone Europe/London, topics diabetes, pseudonym new, surveys off",
                        required=False),)),
    "post": ("post anonymously in a group under your pseudonym",
             (Option("group", "the group to post in", groups=True), Option("text", "what you want to say"))),
    "reply": ("reply anonymously to a group post", (_POST, Option("text", "your reply"))),
    "delete": ("delete one of your anonymous posts", (_POST,)),
    "pair": ("ask for a mentor who has been there; end, share contact, status, cancel, feedback",
             (Option("action", "leave empty to ask for a mentor", required=False, choices=_PAIR_ACTIONS),
              Option("text", "a note for the mentor, a reason for ending, or your feedback", required=False))),
    "say": ("say something to your mentor or mentee (a DM to me works too)",
            (Option("text", "your message"),
             Option("to", "their pseudonym, when you have several pairings", required=False, prefix="@",
                    lead=True))),
    "mentor": ("offer to mentor others, or pause, change or step down",
               (Option("setting", "e.g. offer, intro <a few words>, topics a, b, capacity 2, pause, resume, stepdown",
                       required=False),)),
    "checkin": ("check in now, or change your check-in schedule",
                (Option("setting", "e.g. now, off, daily 09:00, days mon,wed 18:30, quiet 22:00-07:00",
                        required=False),)),
    "pause": ("pause your check-ins (for a while, or until you resume)",
              (Option("duration", "how long, e.g. 3d, 2w, 12h (empty: until you resume)", required=False),)),
    "resume": ("resume after a pause", ()),
    "mood": ("see your own mood history", ()),
    "survey": ("answer the anonymous program survey (or never get one)",
               (Option("answer", "a number from the buttons, or start, skip, stop, later, never", required=False),)),
    "export": ("get a copy of everything peerbot stores about you", ()),
    "forget": ("delete everything peerbot stores about you, for good", ()),
}

MOD_VERBS: dict[str, tuple[str, tuple[Option, ...]]] = {
    "ack": ("acknowledge an alert", (_ESCALATION,)),
    "resolve": ("resolve an alert", (_ESCALATION,)),
    "say": ("write to the person behind an alert, relayed by the bot",
            (_ESCALATION, Option("text", "your message"))),
    "publish": ("publish a held group post", (_ESCALATION,)),
    "discard": ("discard a held group post", (_ESCALATION,)),
    "report": ("open alerts and time-to-acknowledge figures", ()),
    "reveal": ("reveal who is behind a pseudonym (audited)",
               (_PSEUDONYM, Option("reason", "why; recorded in the audit"))),
    "approve": ("approve a member as a mentor", (Option("member", "the member's pseudonym", quote=True),)),
    "decline": ("decline a member's offer to mentor",
                (Option("member", "the member's pseudonym", quote=True),
                 Option("reason", "told to the member", required=False))),
    "waitlist": ("who waits for a mentor, and how many mentors have room", ()),
    "mute": ("mute a pseudonym in the groups", (_PSEUDONYM, Option("reason", "why", required=False))),
    "unmute": ("unmute a pseudonym", (_PSEUDONYM,)),
    "remove": ("remove a group post", (_POST, Option("reason", "why", required=False))),
}

_QUOTE_CHARS = re.compile("[\"\u201c\u201d\u201e\u00ab\u00bb]")  # what the core's parser reads as a quote
_GENERIC = (Option("text", "what follows the command", required=False),)


def command_text(words: Iterable[str], options: tuple[Option, ...], values: dict[str, object]) -> str:
    """`post chronic-pain hello`: the verb words, then each given option in order (quoted where needed).

    Free text that begins with one of a choice option's words, while that option was left empty, is quoted, so
    `/peer pair text:end of my rope` stays a note and never reads as `/peer pair end`."""
    parts = list(words)
    skipped = {c.casefold() for o in options if o.choices and values.get(o.name) in (None, "") for c in o.choices}
    for option in sorted(options, key=lambda o: not o.lead):
        value = values.get(option.name)
        if value is None or value == "":
            continue
        text = str(value).strip()
        if option.prefix:
            text = option.prefix + text.removeprefix(option.prefix)
        first = text.split(maxsplit=1)[0].casefold() if text else ""
        if option.quote or (not option.choices and first in skipped):
            text = '"' + _QUOTE_CHARS.sub("", text).strip() + '"'
        parts.append(text)
    return " ".join(parts)


def _subcommand(words: tuple[str, ...], description: str, options: tuple[Option, ...], handler: CommandHandler,
                groups: list[str], parent: app_commands.Group) -> app_commands.Command[None, ..., None]:
    async def callback(interaction: discord.Interaction, **values: object) -> None:
        await handler(interaction, command_text(words, options, values))

    # The options become the callback's typed parameters, which discord.py reads to build the command.
    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=discord.Interaction)]
    for option in options:
        params.append(inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, annotation=option.type,
                                        default=inspect.Parameter.empty if option.required else None))
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__qualname__ = callback.__name__ = f"peer_{'_'.join(words)}"
    if options:
        app_commands.describe(**{o.name: o.description for o in options})(callback)
    choices = {o.name: [app_commands.Choice(name=g, value=g) for g in groups[:25]]
               for o in options if o.groups and groups}
    choices.update({o.name: [app_commands.Choice(name=c, value=c) for c in o.choices] for o in options if o.choices})
    if choices:
        app_commands.choices(**choices)(callback)
    return app_commands.Command(name=words[-1], description=description[:100], callback=callback, parent=parent)


def build_peer_group(handler: CommandHandler, *, groups: Iterable[str], core_verbs: Iterable[str] = (),
                     core_mod_verbs: Iterable[str] = (), summaries: dict[str, str] | None = None,
                     ) -> app_commands.Group:
    """The `/peer` group: the verbs above plus any the core registers; `/peer mod ...` as a subgroup."""
    summaries = summaries or {}
    topics = sorted(groups)
    peer = app_commands.Group(name="peer", description="peer support: groups, mentors, check-ins")
    verbs = dict(PEER_VERBS)
    for verb in core_verbs:
        if verb not in verbs and verb != "mod":
            verbs[verb] = (summaries.get(verb, f"/peer {verb}"), _GENERIC)
    for verb, (description, options) in verbs.items():
        peer.add_command(_subcommand((verb,), description, options, handler, topics, peer))
    mod = app_commands.Group(name="mod", description="moderator tools (moderators only)", parent=peer)
    mod_verbs = dict(MOD_VERBS)
    for sub in core_mod_verbs:
        mod_verbs.setdefault(sub, (f"/peer mod {sub}", _GENERIC))
    for sub, (description, options) in mod_verbs.items():
        mod.add_command(_subcommand(("mod", sub), description, options, handler, topics, mod))
    return peer
