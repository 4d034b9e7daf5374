"""The platform-free vocabulary of peerbot.

Adapters turn SDK payloads into the inbound events below and carry out the outbound actions; the core speaks
only these types. All are frozen value objects, and outbound actions round-trip through JSON for the outbox.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ConversationKind = Literal["dm", "channel"]


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person on one platform: the member key is (platform, workspace or guild, user id)."""

    platform: str
    workspace: str
    user_id: str

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """Where a message lives: a DM with the bot or a channel (optionally a thread in it)."""

    platform: str
    workspace: str
    channel_id: str
    kind: ConversationKind = "channel"
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the platform accepted, so it can be edited, deleted or replied to in a thread."""

    platform: str
    workspace: str
    channel_id: str
    message_id: str


class ChoiceKind(enum.StrEnum):
    BUTTON = "button"
    OPTION = "option"  # an option of a select menu


@dataclass(frozen=True, slots=True)
class Choice:
    """A button or select option. `action` names the handler, `value` the record it acts on, so a press
    still works after a restart (the pair becomes the platform's custom_id / action_id)."""

    label: str
    action: str
    value: str = ""
    style: Literal["primary", "danger", "default"] = "default"
    kind: ChoiceKind = ChoiceKind.BUTTON


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    text: str
    choices: tuple[Choice, ...] = ()
    # Platform-side attention for moderators on a re-page ("here" or a configured group/role); never for peers.
    ping_moderators: bool = False
    # A file to deliver with the message (an export); platforms without files append it as text.
    attachment_name: str | None = None
    attachment: str | None = None
    # An anonymous post's pseudonym, for platforms that can show it as the sender's name (a Discord webhook).
    author_name: str | None = None


FieldKind = Literal["text", "select", "multiselect"]


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of a form: free text, or a select of (value, label) options (several for `multiselect`)."""

    name: str
    label: str
    kind: FieldKind = "text"
    options: tuple[tuple[str, str], ...] = ()
    initial: tuple[str, ...] = ()  # initial values: one string for text, option values for selects
    required: bool = False
    multiline: bool = False
    placeholder: str = ""
    max_length: int = 0  # 0: the platform's limit


@dataclass(frozen=True, slots=True)
class Form:
    """A modal the platform shows in answer to a press or command; its submission comes back as `FormSubmitted`
    with this `action` and `value`. At most 24 characters of title and 5 fields, so every platform can show it."""

    title: str
    action: str
    value: str = ""
    fields: tuple[FormField, ...] = ()
    submit_label: str = "Save"
    intro: str = ""


# ---------------------------------------------------------------- inbound events


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A plain message the bot can read: in its DM, or in a channel it is in."""

    user: UserRef
    conversation: ConversationRef
    text: str
    at: datetime
    event_id: str | None = None  # the platform's id for deduplicating redeliveries
    # An edit of an earlier message: screened like every text, but not a new message for the features (an edit
    # is not relayed again, nor answered, nor taken as a note).
    edited: bool = False


@dataclass(frozen=True, slots=True)
class CommandInvoked:
    """`/peer <text>`: the adapter passes the text after `/peer` verbatim; the router parses it once."""

    user: UserRef
    conversation: ConversationRef
    text: str
    at: datetime
    event_id: str | None = None
    # The adapter's token for answering this interaction with a form (Slack trigger_id, a Discord interaction).
    interaction: str | None = None


@dataclass(frozen=True, slots=True)
class ActionInvoked:
    """A button press or select choice on one of the bot's messages."""

    user: UserRef
    conversation: ConversationRef
    action: str
    value: str
    at: datetime
    message: MessageRef | None = None
    label: str = ""
    event_id: str | None = None
    interaction: str | None = None


@dataclass(frozen=True, slots=True)
class FormSubmitted:
    """A form was submitted: the values entered per field name (text: one string; selects: option values)."""

    user: UserRef
    conversation: ConversationRef | None
    action: str
    value: str
    fields: tuple[tuple[str, tuple[str, ...]], ...]
    at: datetime
    event_id: str | None = None

    def get(self, name: str) -> tuple[str, ...]:
        return next((values for key, values in self.fields if key == name), ())

    def first(self, name: str) -> str:
        return next(iter(self.get(name)), "").strip()


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """Someone joined the workspace, guild or a group channel."""

    user: UserRef
    conversation: ConversationRef | None
    at: datetime
    event_id: str | None = None


InboundEvent = MessageReceived | CommandInvoked | ActionInvoked | FormSubmitted | MemberJoined


def event_text(event: InboundEvent) -> str | None:
    """The free text a person wrote in this event, which the safety screen must see."""
    if isinstance(event, MessageReceived | CommandInvoked):
        return event.text
    if isinstance(event, FormSubmitted):
        return "\n".join(value for _, values in event.fields for value in values if value.strip()) or None
    return None


# ---------------------------------------------------------------- outbound actions


@dataclass(frozen=True, slots=True)
class SendDirect:
    """A DM from the bot to one person."""

    to: UserRef
    message: OutboundMessage


@dataclass(frozen=True, slots=True)
class PostToChannel:
    channel: ConversationRef
    message: OutboundMessage
    # Reply in the thread of an earlier bot message, given by its outbox key (resolved at send time).
    thread_of_key: str | None = None


@dataclass(frozen=True, slots=True)
class SendEphemeral:
    """Visible only to `to` in `channel`; platforms without ephemeral messages fall back to a DM.

    With `keep`, what the person must be able to find again (crisis resources) is also left in their DM where the
    platform's ephemeral messages vanish on reload (capability "ephemeral_vanishes": Slack, Discord)."""

    channel: ConversationRef
    to: UserRef
    message: OutboundMessage
    keep: bool = False


@dataclass(frozen=True, slots=True)
class PostToModerators:
    """To the moderator channel the adapter of `platform` is configured with for `workspace`."""

    platform: str
    workspace: str
    message: OutboundMessage


@dataclass(frozen=True, slots=True)
class EditMessage:
    """Replace an earlier bot message, given by its outbox key (the dispatcher resolves it to a MessageRef)."""

    target_key: str
    message: OutboundMessage


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    target_key: str


@dataclass(frozen=True, slots=True)
class OpenForm:
    """Show a form to `to` in answer to the interaction the adapter gave (it expires within seconds)."""

    to: UserRef
    interaction: str
    form: Form


OutboundAction = (SendDirect | PostToChannel | SendEphemeral | PostToModerators | EditMessage | DeleteMessage
                  | OpenForm)

_ACTION_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (SendDirect, PostToChannel, SendEphemeral, PostToModerators, EditMessage, DeleteMessage, OpenForm)
}
_VALUE_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (UserRef, ConversationRef, MessageRef, OutboundMessage, Choice, Form, FormField)
}


def action_platform(action: OutboundAction) -> str | None:
    """The platform that must carry out an action (None: resolved from its target at send time)."""
    match action:
        case SendDirect(to=to) | SendEphemeral(to=to) | OpenForm(to=to):
            return to.platform
        case PostToChannel(channel=channel):
            return channel.platform
        case PostToModerators(platform=platform):
            return platform
    return None


def action_recipient(action: OutboundAction) -> UserRef | None:
    """The one person an action is addressed to, if any (used to cancel pending messages on `forget`)."""
    match action:
        case SendDirect(to=to) | SendEphemeral(to=to) | OpenForm(to=to):
            return to
    return None


_PLAIN = (str, int, float, bool, type(None))
_PLAIN_TYPES = frozenset(_PLAIN)  # exact types: a StrEnum is a str but must be encoded by value
_NO_DEFAULT = object()
_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _fields_and_defaults(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, default) per field of a dataclass, cached; empty for anything else."""
    found = _FIELDS.get(cls)
    if found is None:
        found = (tuple((f.name, f.default if f.default is not dataclasses.MISSING else _NO_DEFAULT)
                       for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ())
        _FIELDS[cls] = found
    return found


def _encode(value: Any) -> Any:
    # On the hot path of every enqueue (a tick may queue thousands): field layouts are cached per class.
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _PLAIN):
        return value
    fields = _fields_and_defaults(type(value))
    if fields:
        out: dict[str, Any] = {"_t": type(value).__name__}
        for name, default in fields:
            field_value = getattr(value, name)
            plain = type(field_value) in _PLAIN_TYPES
            if field_value is default or (plain and field_value == default):
                continue  # defaults are left out (and restored on decoding): smaller, faster outbox rows
            out[name] = field_value if plain else _encode(field_value)
        return out
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "_t" in value:
        name = value["_t"]
        cls = _ACTION_TYPES.get(name) or _VALUE_TYPES.get(name)
        if cls is None:
            raise ValueError(f"unknown type in outbox payload: {name}")
        kwargs = {k: _decode(v) for k, v in value.items() if k != "_t"}
        if cls is OutboundMessage:
            kwargs["choices"] = tuple(kwargs.get("choices", ()))
        if cls is Choice and "kind" in kwargs:
            kwargs["kind"] = ChoiceKind(kwargs["kind"])
        if cls is Form:
            kwargs["fields"] = tuple(kwargs.get("fields", ()))
        if cls is FormField:
            kwargs["options"] = tuple(tuple(option) for option in kwargs.get("options", ()))
            kwargs["initial"] = tuple(kwargs.get("initial", ()))
        return cls(**kwargs)
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def action_to_dict(action: OutboundAction) -> dict[str, Any]:
    return _encode(action)


def action_from_dict(data: dict[str, Any]) -> OutboundAction:
    action = _decode(data)
    if type(action).__name__ not in _ACTION_TYPES:
        raise ValueError("outbox payload is not an outbound action")
    return action


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What a platform tells about a person, used only transiently (e.g. a timezone offered at onboarding)."""

    user: UserRef
    display_name: str = ""
    timezone: str | None = None
    is_bot: bool = False
    extra: dict[str, str] = field(default_factory=dict)
