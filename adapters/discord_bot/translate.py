"""Translation between discord.py objects and `bot.events`, both ways, and nothing more.

Inbound: a `discord.Message` becomes `MessageReceived` (or `CommandInvoked` for `/peer ...` typed in a DM), an
edited message a `MessageReceived` with its new text (screened like a new message), an interaction becomes
`CommandInvoked` or `ActionInvoked`. Outbound: an `OutboundMessage` becomes message content
(split at Discord's 2,000-character limit), a view of buttons and selects whose custom_id carries the core's
`Choice.action` and `value` (so a press works after a restart), a file, and allowed_mentions that ping nobody
(only the moderator role on a re-page).
"""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import discord

from bot.events import (
    ActionInvoked,
    Choice,
    ChoiceKind,
    CommandInvoked,
    ConversationRef,
    Form,
    FormSubmitted,
    MessageReceived,
    MessageRef,
    OutboundMessage,
    UserRef,
)

PLATFORM = "discord"
MAX_CONTENT = 2000  # Discord's limit on message content
MAX_CUSTOM_ID = 100
MAX_SELECT_OPTIONS = 25
MAX_LABEL = 80
COMMAND_PREFIX = "/peer"

BUTTON_TEMPLATE = r"pb:(?P<index>\d+):(?P<action>[^:]+):(?P<value>.*)"
SELECT_TEMPLATE = r"pbs:(?P<index>\d+)"
FORM_TEMPLATE = r"pbf:(?P<action>[^:]+):(?P<value>.*)"

_STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger,
           "default": discord.ButtonStyle.secondary}

# What the adapter's client calls when a component is used: (interaction, action, value, label).
ChoiceHandler = Callable[[discord.Interaction, str, str, str], Awaitable[None]]


class TranslationError(ValueError):
    """An outbound message Discord cannot carry (e.g. a custom_id over 100 characters)."""


# ---------------------------------------------------------------- identities and places


def user_ref(user: discord.abc.User, workspace: str) -> UserRef:
    return UserRef(PLATFORM, workspace, str(user.id))


def conversation_of(channel: Any, workspace: str) -> ConversationRef:
    """A DM, a channel, or a thread in a channel (thread_id is the thread's id, which is its starter message's)."""
    if isinstance(channel, discord.DMChannel) or getattr(channel, "type", None) == discord.ChannelType.private:
        return ConversationRef(PLATFORM, workspace, str(channel.id), kind="dm")
    if isinstance(channel, discord.Thread):
        return ConversationRef(PLATFORM, workspace, str(channel.parent_id), thread_id=str(channel.id))
    return ConversationRef(PLATFORM, workspace, str(channel.id))


def workspace_of(guild_id: int | None, home: str) -> str:
    """Member key = platform + guild + user: DMs belong to the home guild (one server per instance), so a person
    is one member in both."""
    return str(guild_id) if guild_id is not None else home


# ---------------------------------------------------------------- inbound


def message_event(message: discord.Message, home: str, at: datetime) -> MessageReceived | CommandInvoked | None:
    """A message someone wrote; None for what the core must not see (the bot's own, other bots, webhooks,
    system messages)."""
    if message.author.bot or message.webhook_id is not None:
        return None
    if message.type not in (discord.MessageType.default, discord.MessageType.reply):
        return None
    workspace = workspace_of(message.guild.id if message.guild else None, home)
    conversation = conversation_of(message.channel, workspace)
    user = user_ref(message.author, workspace)
    text = message.content
    event_id = f"m{message.id}"
    stripped = text.strip()
    if conversation.kind == "dm" and (stripped.lower() == COMMAND_PREFIX
                                      or stripped.lower().startswith(COMMAND_PREFIX + " ")):
        return CommandInvoked(user, conversation, stripped[len(COMMAND_PREFIX):].strip(), at, event_id=event_id)
    return MessageReceived(user, conversation, text, at, event_id=event_id)


def edit_event(message: discord.Message, before: str | None, home: str, at: datetime) -> MessageReceived | None:
    """An edited message, screened as a new one with its NEW text: "rough day" edited into crisis text must reach
    the safety screen. None for what the core must not see (bots, webhooks, system messages), for updates without
    an edit (embeds unfurled) and for edits that left the text as it was (`before`: the cached text, if known).
    The event id carries the edit's time: each edit is screened once, however often Discord repeats it."""
    if message.author.bot or message.webhook_id is not None:
        return None
    if message.type not in (discord.MessageType.default, discord.MessageType.reply):
        return None
    if message.edited_at is None or not message.content or message.content == before:
        return None
    workspace = workspace_of(message.guild.id if message.guild else None, home)
    edited = int(message.edited_at.timestamp() * 1000)
    return MessageReceived(user_ref(message.author, workspace), conversation_of(message.channel, workspace),
                           message.content, at, event_id=f"edit:{message.id}:{edited}",
                           edited=True)


def command_event(interaction: discord.Interaction, text: str, home: str, at: datetime) -> CommandInvoked:
    workspace = workspace_of(interaction.guild_id, home)
    return CommandInvoked(user_ref(interaction.user, workspace), _interaction_place(interaction, workspace), text, at,
                          event_id=f"i{interaction.id}", interaction=str(interaction.id))


def action_event(interaction: discord.Interaction, action: str, value: str, label: str, home: str,
                 at: datetime) -> ActionInvoked:
    workspace = workspace_of(interaction.guild_id, home)
    conversation = _interaction_place(interaction, workspace)
    ref = None
    if interaction.message is not None:
        ref = MessageRef(PLATFORM, workspace, conversation.channel_id, str(interaction.message.id))
    return ActionInvoked(user_ref(interaction.user, workspace), conversation, action, value, at, message=ref,
                         label=label, event_id=f"i{interaction.id}", interaction=str(interaction.id))


def form_event(interaction: discord.Interaction, home: str, at: datetime) -> FormSubmitted | None:
    """A submitted modal of ours (custom_id `pbf:<action>:<value>`), with the values entered per field."""
    data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
    match = re.fullmatch(FORM_TEMPLATE, str(data.get("custom_id", "")))
    if match is None:
        return None
    workspace = workspace_of(interaction.guild_id, home)
    return FormSubmitted(user_ref(interaction.user, workspace), _interaction_place(interaction, workspace),
                         match["action"], match["value"], form_values(data.get("components") or []), at,
                         event_id=f"i{interaction.id}")


def form_values(components: list[dict[str, Any]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(field name, values) from a modal submission: text inputs in action rows or labels, selects in labels."""
    found: list[tuple[str, tuple[str, ...]]] = []

    def visit(component: dict[str, Any]) -> None:
        if "custom_id" in component and ("value" in component or "values" in component):
            values = component.get("values")
            entered = tuple(str(v) for v in values) if values is not None else (str(component.get("value") or ""),)
            found.append((str(component["custom_id"]), entered))
        for child in component.get("components") or ():
            visit(child)
        if isinstance(component.get("component"), dict):
            visit(component["component"])

    for component in components:
        visit(component)
    return tuple(found)


def _interaction_place(interaction: discord.Interaction, workspace: str) -> ConversationRef:
    channel = interaction.channel
    if channel is not None and not isinstance(channel, discord.PartialMessageable):
        return conversation_of(channel, workspace)
    kind = "dm" if interaction.guild_id is None else "channel"
    return ConversationRef(PLATFORM, workspace, str(interaction.channel_id), kind=kind)


def selected(interaction: discord.Interaction) -> tuple[str, str, str] | None:
    """(action, value, label) of the option chosen in one of our selects."""
    data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
    values = data.get("values") or []
    if not values:
        return None
    action, _, value = str(values[0]).partition(":")
    label = ""
    if interaction.message is not None:
        for row in interaction.message.components:
            for item in getattr(row, "children", ()):
                if getattr(item, "custom_id", None) == data.get("custom_id"):
                    label = next((o.label for o in item.options if o.value == values[0]), "")
    return action, value, label


def member_role_ids(user: discord.abc.User) -> frozenset[int] | None:
    """The roles of a guild member (None for a user seen outside a guild)."""
    if isinstance(user, discord.Member):
        return frozenset(user._roles)
    return None


# ---------------------------------------------------------------- outbound


def button_custom_id(index: int, choice: Choice) -> str:
    return _checked(f"pb:{index}:{choice.action}:{choice.value}")


def option_value(choice: Choice) -> str:
    return _checked(f"{choice.action}:{choice.value}")


def _checked(custom_id: str) -> str:
    if len(custom_id) > MAX_CUSTOM_ID:
        raise TranslationError(f"custom_id longer than {MAX_CUSTOM_ID} characters")
    return custom_id


class ChoiceButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=BUTTON_TEMPLATE):
    """A button of any bot message, dispatched from its custom_id alone: works after a restart."""

    def __init__(self, index: int, choice: Choice) -> None:
        super().__init__(discord.ui.Button(
            label=choice.label[:MAX_LABEL], style=_STYLES.get(choice.style, discord.ButtonStyle.secondary),
            custom_id=button_custom_id(index, choice)))
        self.choice = choice

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> ChoiceButton:
        label = getattr(item, "label", None) or ""
        return cls(int(match["index"]), Choice(label, match["action"], match["value"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        handler: ChoiceHandler | None = getattr(interaction.client, "peerbot_on_choice", None)
        if handler is not None:
            await handler(interaction, self.choice.action, self.choice.value, self.choice.label)


class ChoiceSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=SELECT_TEMPLATE):
    """A select menu of options; each option's value is `action:value`."""

    def __init__(self, index: int, choices: tuple[Choice, ...] = ()) -> None:
        options = [discord.SelectOption(label=c.label[:100], value=option_value(c)) for c in choices]
        select: discord.ui.Select[Any] = discord.ui.Select(custom_id=f"pbs:{index}", options=options or [
            discord.SelectOption(label="-", value="-")])
        super().__init__(select)

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> ChoiceSelect:
        return cls(int(match["index"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        handler: ChoiceHandler | None = getattr(interaction.client, "peerbot_on_choice", None)
        chosen = selected(interaction)
        if handler is not None and chosen is not None:
            await handler(interaction, *chosen)


def build_view(choices: tuple[Choice, ...]) -> discord.ui.View | None:
    """Buttons in rows of five, then one select per 25 options. `timeout=None`: the view never expires."""
    if not choices:
        return None
    view = discord.ui.View(timeout=None)
    buttons = [c for c in choices if c.kind == ChoiceKind.BUTTON]
    options = [c for c in choices if c.kind == ChoiceKind.OPTION]
    try:
        for index, choice in enumerate(buttons):
            view.add_item(ChoiceButton(index, choice))
        for start in range(0, len(options), MAX_SELECT_OPTIONS):
            view.add_item(ChoiceSelect(start // MAX_SELECT_OPTIONS, tuple(options[start:start + MAX_SELECT_OPTIONS])))
    except ValueError as exc:  # more components than a message can hold
        raise TranslationError(str(exc)) from None
    return view


MAX_FORM_TITLE = 45
MAX_FORM_LABEL = 45
MAX_MODAL_COMPONENTS = 5


def build_modal(form: Form) -> discord.ui.Modal:
    """A form as a Discord modal: text inputs, and selects inside labels; the custom_id carries action and value,
    so the submission is understood even after a restart."""
    modal = discord.ui.Modal(title=form.title[:MAX_FORM_TITLE],
                             custom_id=_checked(f"pbf:{form.action}:{form.value}"), timeout=15 * 60)
    if form.intro and len(form.fields) < MAX_MODAL_COMPONENTS:
        modal.add_item(discord.ui.TextDisplay(form.intro[:4000]))
    for spec in form.fields:
        label = spec.label[:MAX_FORM_LABEL]
        if spec.kind == "text":
            entry: discord.ui.TextInput[Any] = discord.ui.TextInput(
                custom_id=spec.name, required=spec.required,
                style=discord.TextStyle.paragraph if spec.multiline else discord.TextStyle.short,
                default=spec.initial[0] if spec.initial else None, placeholder=spec.placeholder[:100] or None,
                max_length=spec.max_length or None)
            modal.add_item(discord.ui.Label(text=label, component=entry))
            continue
        options = [discord.SelectOption(label=text[:100], value=value, default=value in spec.initial)
                   for value, text in spec.options[:MAX_SELECT_OPTIONS]]
        many = spec.kind == "multiselect"
        select: discord.ui.Select[Any] = discord.ui.Select(
            custom_id=spec.name, options=options, placeholder=spec.placeholder[:150] or None,
            min_values=1 if spec.required else 0, max_values=len(options) if many else 1, required=spec.required)
        modal.add_item(discord.ui.Label(text=label, component=select))
    return modal


def split_content(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Text in pieces of at most `limit` characters, cut at line breaks where possible."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest:
        pieces.append(rest)
    return pieces


@dataclass(slots=True)
class Rendered:
    """An OutboundMessage as Discord send arguments: the view and file go with the last piece."""

    pieces: list[str]
    view: discord.ui.View | None = None
    attachment: tuple[str, bytes] | None = None
    mentions: discord.AllowedMentions = field(default_factory=discord.AllowedMentions.none)

    def file(self) -> discord.File | None:
        if self.attachment is None:
            return None
        name, data = self.attachment
        return discord.File(io.BytesIO(data), filename=name)

    def kwargs(self, last: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"allowed_mentions": self.mentions}
        if last:
            if self.view is not None:
                out["view"] = self.view
            file = self.file()
            if file is not None:
                out["file"] = file
        return out


def render(message: OutboundMessage, moderator_role: int | None = None) -> Rendered:
    """No one is pinged (allowed_mentions none), except the moderator role on a re-page."""
    text = message.text
    mentions = discord.AllowedMentions.none()
    if message.ping_moderators and moderator_role:
        text = f"<@&{moderator_role}> {text}"
        mentions = discord.AllowedMentions(everyone=False, users=False, replied_user=False,
                                           roles=[discord.Object(moderator_role)])
    attachment = None
    if message.attachment is not None:
        attachment = (message.attachment_name or "peerbot.txt", message.attachment.encode("utf-8"))
    return Rendered(split_content(text or "\u200b"), build_view(message.choices), attachment, mentions)
