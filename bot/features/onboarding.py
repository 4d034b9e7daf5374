"""Opt-in onboarding and the profile: consent first (nothing is stored before "I agree"), a pseudonym, then
optional steps (role, topics, language, timezone, check-in preference), each skippable and changeable later.

Steps advance one at a time; the same buttons and typed `/peer profile <field> <value>` edit a finished profile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.commands import Command
from bot.config import slug
from bot.events import ActionInvoked, Choice, ChoiceKind, Form, FormField, FormSubmitted, UserRef
from bot.features import pseudonyms
from bot.router import Context
from bot.store import Member, Transaction

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

CONSENT_VERSION = 1
STEPS = ("role", "topics", "language", "timezone", "checkins", "done")
ROLES = {"peer": "peer / looking for support", "mentor": "mentor", "staff": "healthcare staff"}
CHECKINS = {"daily": "daily", "weekly": "weekly", "none": "no check-ins"}


# ---------------------------------------------------------------- what the member reads (reviewed as a whole)

def consent_text(community: str, retention_days: int, keep_text: bool, crisis_footer: str) -> str:
    kept = ("" if not keep_text else " (this community also keeps the text of anonymous posts)")
    return "\n".join([
        f"Welcome to {community}. Before anything about you is stored, here is what joining means:",
        "• What we store: a pseudonym, the choices you make next (role, topics, language, timezone, check-ins), "
        f"your check-in answers and mentor pairings, and which anonymous posts are yours{kept}. "
        f"Records of safety alerts are kept for {retention_days} days.",
        "• Who sees what: other members only ever see your pseudonym. Moderators can see who is behind a "
        "pseudonym only in an emergency; every such reveal is recorded and announced to the moderator team.",
        "• peerbot is peer support, not medical care and not an emergency service.",
        "• Your data is yours: `/peer export` sends you a copy, `/peer forget` deletes it for good.",
        crisis_footer,
        "Do you agree?",
    ])


def declined_text(crisis_footer: str) -> str:
    return ("No problem. Nothing about you has been stored. If you change your mind, type `/peer join` any time.\n"
            + crisis_footer)


def welcome_text(pseudonym: str) -> str:
    return (f"Welcome! Your pseudonym is **{pseudonym}**. Other members will only ever see this name.\n"
            "A few optional questions follow; press Skip on any of them.")


ROLE_PROMPT = "What brings you here?"
MENTOR_NOTE = ("Thank you for offering to mentor. Program staff confirm mentors before any pairing; "
               "you'll hear from them.")
TOPICS_PROMPT = "Which topics matter to you? Pick as many as you like, then press Done."
LANGUAGE_PROMPT = "Which language would you like to use?"
CHECKIN_PROMPT = ("Would you like a short, private mood check-in from me? You can change or pause this any time "
                  "with `/peer checkin`.")


def timezone_prompt(platform_tz: str | None) -> str:
    if platform_tz:
        return (f"Your chat app says your timezone is {platform_tz}. I use it to send check-ins at a sensible "
                "hour. Is that right?")
    return ("Which timezone are you in? I use it to send check-ins at a sensible hour. Type "
            "`/peer profile timezone <Area/City>`, e.g. `Europe/London` or `America/Chicago`, or press Skip.")


FORM_BUTTON = "Fill in a form instead"
PROFILE_FORM_TITLE = "Your peerbot profile"
PROFILE_FORM_INTRO = "Every answer is optional and can be changed later. Other members only see your pseudonym."
TIMEZONE_PLACEHOLDER = "e.g. Europe/London or America/Chicago"

TIMEZONE_TYPE_HINT = "Type `/peer profile timezone <Area/City>`, for example `Europe/London` or `America/Chicago`."


def done_text(member: Member, groups: list[str], crisis_footer: str) -> str:
    where = ", ".join(f"`{g}`" for g in groups) or "the groups"
    return "\n".join([
        f"You're all set, {member.pseudonym}.",
        f"• `/peer post <group> <text>` posts anonymously in a group ({where}).",
        "• `/peer pair` asks for a mentor who has been there.",
        "• `/peer profile` shows or changes your choices.",
        crisis_footer,
    ])


def not_member_text(crisis_footer: str) -> str:
    return "You haven't joined yet. Type `/peer join` to start (nothing is stored until you agree).\n" + crisis_footer


# ---------------------------------------------------------------- the journey

class Onboarding:
    def __init__(self, app: App) -> None:
        self.app = app
        settings = app.settings
        self.topics = {slug(label): label for label in settings.community.topics}
        self.languages = list(settings.community.languages)
        # Other features follow profile answers (e.g. check-ins start when a member asks for them).
        self.listeners: list[Callable[[Context, Member, str], Awaitable[None]]] = []
        # Told once onboarding is finished, after the member has read the "you're all set".
        self.on_finished: list[Callable[[Context, Member], Awaitable[None]]] = []
        # Settings other features keep in the profile: `/peer profile <name> <value>`, a line and a button each.
        self.settings_fields: dict[str, Callable[[Context, Member, str], Awaitable[None]]] = {}
        self.profile_lines: list[str] = []
        self.profile_choices: list[Choice] = []

    def install(self) -> None:
        router = self.app.router
        router.command("join", self.join)
        router.command("profile", self.profile)
        router.action("onb.open_form", self._open_form)
        router.form("onb.form", self._form_submitted)
        for name, handler in (("onb.consent", self._consent), ("onb.role", self._role), ("onb.topic", self._topic),
                              ("onb.topics_done", self._topics_done), ("onb.language", self._language),
                              ("onb.tz", self._timezone), ("onb.checkin", self._checkins),
                              ("prof.edit", self._edit), ("prof.pseudonym", self._new_pseudonym_button)):
            router.action(name, handler)

    @property
    def footer(self) -> str:
        return self.app.texts.crisis_footer

    # -- consent

    async def join(self, ctx: Context, command: Command) -> None:
        member = await ctx.tx.members.by_user(ctx.user)
        if member is not None:
            if member.onboarding_step != "done":
                await self._ask(ctx, member, member.onboarding_step)
            else:
                ctx.reply(self.profile_text(member), self.profile_buttons(ctx.user))
            return
        settings = self.app.settings
        ctx.reply(consent_text(settings.community.name, settings.privacy.retention_days, settings.groups.keep_text,
                               self.footer),
                  (Choice("I agree", "onb.consent", "yes", "primary"), Choice("No thanks", "onb.consent", "no")))

    async def _consent(self, ctx: Context, event: ActionInvoked) -> None:
        existing = await ctx.tx.members.by_user(ctx.user)
        if event.value != "yes":
            if existing is None:
                ctx.reply(declined_text(self.footer))
            return
        if existing is not None:
            ctx.reply(self.profile_text(existing), self.profile_buttons(ctx.user))
            return
        member = await ctx.tx.members.create(ctx.user, await self.free_pseudonym(ctx.tx), CONSENT_VERSION, ctx.now)
        log.info("member joined", extra={"member": member.id})
        ctx.reply(welcome_text(member.pseudonym), self._form_choice(ctx.user))
        await self._ask(ctx, member, "role")

    async def free_pseudonym(self, tx: Transaction) -> str:
        for _ in range(100):
            candidate = pseudonyms.draw()
            if not await tx.members.pseudonym_taken(candidate):
                return candidate
        raise RuntimeError("no free pseudonym after 100 draws")

    # -- the steps

    async def _ask(self, ctx: Context, member: Member, step: str) -> None:
        match step:
            case "role":
                roles = [Choice("Looking for support" if key == "peer" else label.capitalize(), "onb.role", key)
                         for key, label in ROLES.items()]
                ctx.reply(ROLE_PROMPT, (*roles, Choice("Skip", "onb.role", "skip")))
            case "topics":
                topics = [Choice(label, "onb.topic", key, kind=ChoiceKind.OPTION) for key, label in self.topics.items()]
                ctx.reply(TOPICS_PROMPT, (*topics, Choice("Done", "onb.topics_done", "", "primary"),
                                          Choice("Skip", "onb.topics_done", "skip")))
            case "language":
                languages = [Choice(lang, "onb.language", lang) for lang in self.languages]
                ctx.reply(LANGUAGE_PROMPT, (*languages, Choice("Skip", "onb.language", "skip")))
            case "timezone":
                platform_tz = await self._platform_timezone(ctx.user)
                offered = ([Choice(f"Use {platform_tz}", "onb.tz", platform_tz, "primary"),
                            Choice("Another timezone", "onb.tz", "other")] if platform_tz else [])
                ctx.reply(timezone_prompt(platform_tz), (*offered, Choice("Skip", "onb.tz", "skip")))
            case "checkins":
                options = [Choice(label.capitalize(), "onb.checkin", key) for key, label in CHECKINS.items()]
                ctx.reply(CHECKIN_PROMPT, (*options, Choice("Skip", "onb.checkin", "skip")))
            case _:
                groups = list(getattr(self.app.settings.groups, ctx.user.platform, {}))
                ctx.reply(done_text(member, groups, self.footer))

    async def _platform_timezone(self, user: UserRef) -> str | None:
        platform = self.app.platforms.get(user.platform)
        if platform is None:
            return None
        try:
            async with asyncio.timeout(3):
                info = await platform.get_user(user)
        except Exception:
            log.warning("could not read the member's timezone from the platform", extra={"platform": user.platform})
            return None
        return info.timezone if info.timezone and valid_timezone(info.timezone) else None

    async def _member(self, ctx: Context) -> Member | None:
        return await ctx.member_or_tell(not_member_text(self.footer))

    async def _answered(self, ctx: Context, member: Member, step: str, **fields: object) -> None:
        """Save a step's answer; during onboarding go on to the next step, otherwise confirm the change."""
        onboarding = member.onboarding_step == step
        if onboarding:
            fields["onboarding_step"] = STEPS[STEPS.index(step) + 1]
        if fields:
            await ctx.tx.members.update(member.id, **fields)
        updated = await ctx.tx.members.get(member.id)
        assert updated is not None
        for listener in self.listeners:
            await listener(ctx, updated, step)
        if onboarding:
            await self._ask(ctx, updated, updated.onboarding_step)
            if updated.onboarding_step == "done":
                await self._finished(ctx, updated)
        else:
            ctx.reply("Saved. " + self.profile_text(updated))

    async def _role(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None:
            return
        await self.set_role(ctx, member, event.value)

    async def set_role(self, ctx: Context, member: Member, value: str) -> None:
        if value == "skip":
            await self._answered(ctx, member, "role")
            return
        if value not in ROLES:
            ctx.reply(f"Roles are: {', '.join(ROLES)}.")
            return
        if value == "mentor":
            ctx.reply(MENTOR_NOTE)
        await self._answered(ctx, member, "role", role=value)

    async def _topic(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None or event.value not in self.topics:
            return
        chosen = set(member.topics) ^ {event.value}
        ordered = tuple(key for key in self.topics if key in chosen)
        await ctx.tx.members.update(member.id, topics=ordered)
        shown = ", ".join(self.topics[key] for key in ordered) or "none yet"
        ctx.reply(f"Topics: {shown}. Pick more, or press Done.")

    async def _topics_done(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None:
            return
        if event.value == "skip" and member.onboarding_step == "topics":
            await self._answered(ctx, member, "topics", topics=())
        else:
            await self._answered(ctx, member, "topics")

    async def _language(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None:
            return
        if event.value == "skip":
            await self._answered(ctx, member, "language")
        else:
            await self._answered(ctx, member, "language", language=event.value)

    async def _timezone(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None:
            return
        if event.value == "other":
            ctx.reply(TIMEZONE_TYPE_HINT, (Choice("Skip", "onb.tz", "skip"),))
        elif event.value == "skip":
            await self._answered(ctx, member, "timezone")
        else:
            await self.set_timezone(ctx, member, event.value)

    async def set_timezone(self, ctx: Context, member: Member, value: str) -> None:
        zone = valid_timezone(value)
        if zone is None:
            ctx.reply(f"I don't know the timezone `{value}`. {TIMEZONE_TYPE_HINT}")
            return
        await self._answered(ctx, member, "timezone", timezone=zone)

    async def _checkins(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None:
            return
        if event.value == "skip":
            await self._answered(ctx, member, "checkins")
        elif event.value in CHECKINS:
            await self._answered(ctx, member, "checkins", checkin_pref=event.value)

    # -- the profile

    def profile_text(self, member: Member) -> str:
        topics = ", ".join(self.topics.get(t, t) for t in member.topics) or "none"
        return "\n".join([
            "Your profile",
            f"Pseudonym: {member.pseudonym}",
            f"Role: {ROLES.get(member.role or '', 'not set')}",
            f"Topics: {topics}",
            f"Language: {member.language or 'not set'}",
            f"Timezone: {member.timezone or 'not set'}",
            f"Check-ins: {CHECKINS.get(member.checkin_pref or '', 'not set')}",
            *self.profile_lines,
            "Change with the buttons, or type e.g. `/peer profile topics diabetes, chronic-pain`, "
            "`/peer profile timezone Europe/London`, `/peer profile pseudonym new`.",
        ])

    def profile_buttons(self, user: UserRef) -> tuple[Choice, ...]:
        edit = (Choice("Edit profile", "onb.open_form", "", "primary"),) if self._forms(user) else ()
        return (*edit, Choice("Change role", "prof.edit", "role"), Choice("Change topics", "prof.edit", "topics"),
                Choice("Change language", "prof.edit", "language"),
                Choice("Change timezone", "prof.edit", "timezone"),
                Choice("Change check-ins", "prof.edit", "checkins"),
                Choice("New pseudonym", "prof.pseudonym", ""), *self.profile_choices)

    # -- the profile as one form, where the platform has forms (Slack and Discord modals)

    def _forms(self, user: UserRef) -> bool:
        return self.app.supports(user.platform, "forms")

    def _form_choice(self, user: UserRef) -> tuple[Choice, ...]:
        return (Choice(FORM_BUTTON, "onb.open_form", ""),) if self._forms(user) else ()

    def profile_form(self, member: Member, platform_tz: str | None) -> Form:
        def initial(value: str | None) -> tuple[str, ...]:
            return (value,) if value else ()

        return Form(title=PROFILE_FORM_TITLE, action="onb.form", intro=PROFILE_FORM_INTRO, fields=(
            FormField("role", ROLE_PROMPT, "select", tuple(ROLES.items()), initial(member.role)),
            FormField("topics", "Topics that matter to you", "multiselect", tuple(self.topics.items()),
                      member.topics),
            FormField("language", LANGUAGE_PROMPT, "select", tuple((lang, lang) for lang in self.languages),
                      initial(member.language)),
            FormField("timezone", "Your timezone", initial=initial(member.timezone or platform_tz),
                      placeholder=TIMEZONE_PLACEHOLDER, max_length=64),
            FormField("checkins", "Private mood check-ins", "select",
                      tuple((key, label.capitalize()) for key, label in CHECKINS.items()),
                      initial(member.checkin_pref)),
        ))

    async def _open_form(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None:
            return
        # No platform lookup here: the form must be asked for within seconds of the press (Slack's trigger_id
        # lasts 3 s) and the store is held meanwhile; the timezone step offers the platform's timezone instead.
        if not self._forms(ctx.user) or not ctx.open_form(self.profile_form(member, None)):
            await self._ask(ctx, member, member.onboarding_step if member.onboarding_step != "done" else "role")

    async def _form_submitted(self, ctx: Context, event: FormSubmitted) -> None:
        """Save every answer of the profile form at once; a bad timezone is reported and the rest still saved."""
        if (member := await self._member(ctx)) is None:
            return
        answers: dict[str, object] = {}
        problems: list[str] = []
        if (role := event.first("role")) in ROLES:
            answers["role"] = role
        if "topics" in dict(event.fields):
            answers["topics"] = tuple(key for key in self.topics if key in event.get("topics"))
        if (language := event.first("language")) in self.languages:
            answers["language"] = language
        if tz := event.first("timezone"):
            if (zone := valid_timezone(tz)) is None:
                problems.append(f"I don't know the timezone `{tz}`, so I kept the one you had. {TIMEZONE_TYPE_HINT}")
            else:
                answers["timezone"] = zone
        if (pref := event.first("checkins")) in CHECKINS:
            answers["checkin_pref"] = pref
        changed = {name: value for name, value in answers.items() if getattr(member, name) != value}
        onboarding = member.onboarding_step != "done"
        if fields := {**changed, **({"onboarding_step": "done"} if onboarding else {})}:
            await ctx.tx.members.update(member.id, **fields)
        updated = await ctx.tx.members.get(member.id)
        assert updated is not None
        if changed.get("role") == "mentor":
            ctx.reply(MENTOR_NOTE)
        for step in STEPS[:-1]:
            if ("checkin_pref" if step == "checkins" else step) in changed:
                for listener in self.listeners:
                    await listener(ctx, updated, step)
        for problem in problems:
            ctx.reply(problem)
        if onboarding:
            groups = list(getattr(self.app.settings.groups, ctx.user.platform, {}))
            ctx.reply(done_text(updated, groups, self.footer))
            await self._finished(ctx, updated)
        else:
            ctx.reply("Saved. " + self.profile_text(updated), self.profile_buttons(ctx.user))

    async def _finished(self, ctx: Context, member: Member) -> None:
        for listener in self.on_finished:
            await listener(ctx, member)

    async def profile(self, ctx: Context, command: Command) -> None:
        if (member := await self._member(ctx)) is None:
            return
        field, value = command.arg(0).lower(), command.rest(1).strip()
        if not field:
            ctx.reply(self.profile_text(member), self.profile_buttons(ctx.user))
            return
        match field:
            case "role":
                await self.set_role(ctx, member, value.lower() or "?")
            case "topics":
                wanted = [slug(part) for part in value.split(",") if part.strip()]
                unknown = [w for w in wanted if w not in self.topics]
                if unknown or not wanted:
                    ctx.reply(f"Topics are: {', '.join(self.topics)} (separate them with commas).")
                    return
                await self._answered(ctx, member, "topics",
                                     topics=tuple(key for key in self.topics if key in wanted))
            case "language":
                match = next((lang for lang in self.languages if lang.casefold() == value.casefold()), None)
                if match is None:
                    ctx.reply(f"Languages are: {', '.join(self.languages)}.")
                    return
                await self._answered(ctx, member, "language", language=match)
            case "timezone":
                await self.set_timezone(ctx, member, value)
            case "checkins":
                if value.lower() not in CHECKINS:
                    ctx.reply(f"Check-in choices are: {', '.join(CHECKINS)}.")
                    return
                await self._answered(ctx, member, "checkins", checkin_pref=value.lower())
            case "pseudonym":
                await self.new_pseudonym(ctx, member)
            case _ if field in self.settings_fields:
                await self.settings_fields[field](ctx, member, value)
            case _:
                extra = "".join(f", {name}" for name in self.settings_fields)
                ctx.reply(f"You can change: role, topics, language, timezone, checkins, pseudonym{extra}.")

    async def _edit(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is not None and event.value in STEPS:
            await self._ask(ctx, member, event.value)

    async def _new_pseudonym_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is not None:
            await self.new_pseudonym(ctx, member)

    async def new_pseudonym(self, ctx: Context, member: Member) -> None:
        fresh = await self.free_pseudonym(ctx.tx)
        await ctx.tx.members.new_pseudonym(member.id, fresh, ctx.now)
        ctx.reply(f"Your new pseudonym is **{fresh}**. Posts you made before keep the name they had.")


def valid_timezone(value: str) -> str | None:
    value = value.strip()
    if not value or ("/" not in value and value.upper() != "UTC"):
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value
