"""The console platform: peerbot in a terminal, a first-class platform like Slack and Discord.

`ConsolePlatform` implements the `ChatPlatform` port: typed lines become events (`alice> /peer help`,
`#diabetes bob> hi`, `alice> [I agree]` to press a button) and the bot's messages are printed, as text or one JSON
object per line. The sandbox harness (`bot.sandbox`) adds a movable clock and scripted sessions on top of it.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.events import (
    ActionInvoked,
    Choice,
    CommandInvoked,
    ConversationRef,
    Form,
    InboundEvent,
    MessageReceived,
    MessageRef,
    OutboundMessage,
    UserInfo,
    UserRef,
)
from bot.ports import Clock, EventSink, PermanentSendError

PLATFORM = "console"
WORKSPACE = "sandbox"
MODERATOR_CHANNEL = "moderators"
DEFAULT_CHANNELS = ("chronic-pain", "diabetes", "staff-wellbeing")

_NAME = r"[A-Za-z][\w.-]*"
_CHANNEL_LINE = re.compile(rf"^#(?P<channel>[\w-]+)\s+(?P<member>{_NAME})>\s?(?P<text>.*)$")
_MEMBER_LINE = re.compile(rf"^(?P<member>{_NAME})>\s?(?P<text>.*)$")
_PRESS = re.compile(r"^\[(?P<label>[^\[\]]+)\]$")
_CLOCK = re.compile(r"^~\s*(?P<spec>(?:\d+\s*[smhdw]\s*)+)$", re.IGNORECASE)
_CLOCK_PART = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# ---------------------------------------------------------------- the script language


@dataclass(frozen=True, slots=True)
class Blank:
    pass


@dataclass(frozen=True, slots=True)
class ClockMove:
    delta: timedelta


@dataclass(frozen=True, slots=True)
class Typed:
    """A member types text: in their DM with the bot (channel None) or in a channel under their own name."""

    member: str
    text: str
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Press:
    member: str
    label: str


ScriptLine = Blank | ClockMove | Typed | Press


class ScriptError(ValueError):
    pass


def parse_line(line: str) -> ScriptLine:
    """One line of a sandbox script (the DESIGN.md contract)."""
    stripped = line.strip()
    if not stripped:
        return Blank()
    if match := _CHANNEL_LINE.match(stripped):
        return _typed_or_press(match["member"], match["text"], match["channel"].lower())
    if stripped.startswith("#"):
        return Blank()  # a comment
    if stripped.startswith("~"):
        clock = _CLOCK.match(stripped)
        if clock is None:
            raise ScriptError(f"cannot read clock move {stripped!r}: use e.g. '~ 2h', '~ 30m', '~ 1d', '~ 1h30m'")
        delta = timedelta()
        for amount, unit in _CLOCK_PART.findall(clock["spec"]):
            delta += timedelta(**{_UNITS[unit.lower()]: int(amount)})
        return ClockMove(delta)
    if match := _MEMBER_LINE.match(stripped):
        return _typed_or_press(match["member"], match["text"], None)
    raise ScriptError(f"cannot read {stripped!r}: expected 'name> text', '#channel name> text' or '~ 2h'")


def _typed_or_press(member: str, text: str, channel: str | None) -> ScriptLine:
    member = member.lower()
    press = _PRESS.match(text.strip())
    if press and channel is None:
        return Press(member, press["label"].strip())
    return Typed(member, text, channel)


# ---------------------------------------------------------------- the platform


@dataclass(slots=True)
class Delivered:
    """A message the bot delivered in the console, as members see it."""

    ref: MessageRef
    at: datetime
    to: str  # a member name, or "#channel"
    text: str
    choices: tuple[Choice, ...]
    visible_to: str | None  # a member for DMs and ephemeral messages; None: everyone in the channel
    channel: str | None
    thread_of: str | None = None  # the message id this one replies to in a thread
    removed: bool = False

    def as_json(self) -> str:
        return json.dumps(
            {"t": self.at.isoformat(), "to": self.to, "text": self.text,
             "buttons": [choice.label for choice in self.choices]},
            ensure_ascii=False,
        )

    def as_text(self) -> str:
        who = self.to if self.to.startswith("#") else f"@{self.to}"
        if self.thread_of:
            who += f" (thread of message {self.thread_of})"
        head = f"[{self.at.strftime('%a %H:%M')}] peerbot → {who}"
        body = "\n".join("    " + line for line in self.text.splitlines()) or "    "
        buttons = "    " + " ".join(f"[{c.label}]" for c in self.choices) if self.choices else ""
        return "\n".join(part for part in (head, body, buttons) if part)


@dataclass(slots=True)
class ConsolePlatform:
    clock: Clock
    moderators: frozenset[str]
    timezone: str = "UTC"
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    on_delivery: Callable[[Delivered], None] | None = None
    platform: str = PLATFORM
    capabilities: frozenset[str] = frozenset({"ephemeral", "threads", "buttons"})
    delivered: list[Delivered] = field(default_factory=list)
    opened_forms: list[tuple[UserRef, str, Form]] = field(default_factory=list)  # (to, interaction, form)
    _keys: dict[str, MessageRef] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None
    _event_seq: int = 0
    # Event ids must be unique across restarts (the core remembers them to skip redeliveries).
    _session: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    # -- the port

    async def start(self, sink: EventSink) -> None:
        """`peerbot run` with the console: read typed lines from standard input until EOF."""
        self._reader = asyncio.create_task(self._read_stdin(sink), name="console-reader")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()

    async def wait_closed(self) -> None:
        if self._reader is not None:
            try:
                await self._reader
            except asyncio.CancelledError:
                pass

    async def open_dm(self, user: UserRef) -> ConversationRef:
        return ConversationRef(PLATFORM, WORKSPACE, f"dm:{user.user_id}", kind="dm")

    async def send(self, to: ConversationRef, message: OutboundMessage, *, idempotency_key: str,
                   ephemeral_to: UserRef | None = None) -> MessageRef:
        # The console remembers idempotency keys, as a platform with nonces would: a resend is not shown twice.
        if idempotency_key in self._keys:
            return self._keys[idempotency_key]
        if to.kind == "dm":
            member = to.channel_id.removeprefix("dm:")
            target, visible, channel = member, member, None
        else:
            if to.channel_id != MODERATOR_CHANNEL and to.channel_id not in self.channels:
                raise PermanentSendError(f"channel_not_found: #{to.channel_id}")
            channel = to.channel_id
            visible = ephemeral_to.user_id if ephemeral_to else None
            target = visible or f"#{channel}"
        ref = MessageRef(PLATFORM, WORKSPACE, to.channel_id, str(len(self.delivered) + 1))
        text = message.text
        if message.attachment is not None:
            text = f"{text}\n[{message.attachment_name or 'file'}]\n{message.attachment}"
        if message.ping_moderators:
            text = "@moderators " + text
        item = Delivered(ref, self.clock.now(), target, text, message.choices, visible, channel, to.thread_id)
        self.delivered.append(item)
        self._keys[idempotency_key] = ref
        if self.on_delivery:
            self.on_delivery(item)
        return ref

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None:
        item = self._find(ref)
        item.text, item.choices, item.at = message.text, message.choices, self.clock.now()
        if self.on_delivery:
            self.on_delivery(item)

    async def delete(self, ref: MessageRef) -> None:
        self._find(ref).removed = True

    async def open_form(self, user: UserRef, interaction: str, form: Form) -> None:
        """The console has no modals (no "forms" capability, so the core offers none); shown as text if asked."""
        self.opened_forms.append((user, interaction, form))
        lines = [form.title, *([form.intro] if form.intro else []),
                 *(f"• {f.label}" + (f": {', '.join(label for _, label in f.options)}" if f.options else "")
                   for f in form.fields)]
        await self.send(ConversationRef(PLATFORM, WORKSPACE, f"dm:{user.user_id}", kind="dm"),
                        OutboundMessage("\n".join(lines)), idempotency_key=f"form:{interaction}")

    async def get_user(self, user: UserRef) -> UserInfo:
        return UserInfo(user=user, display_name=user.user_id, timezone=self.timezone)

    async def is_moderator(self, user: UserRef) -> bool:
        return user.user_id in self.moderators

    def moderator_channel(self, workspace: str) -> ConversationRef | None:
        return ConversationRef(PLATFORM, WORKSPACE, MODERATOR_CHANNEL)

    # -- translating typed lines into events

    def user(self, member: str) -> UserRef:
        return UserRef(PLATFORM, WORKSPACE, member)

    def event_for(self, line: Typed | Press) -> InboundEvent:
        self._event_seq += 1
        user = self.user(line.member)
        now = self.clock.now()
        event_id = f"ev-{self._session}-{self._event_seq}"
        if isinstance(line, Press):
            found = self.find_choice(line.member, line.label)
            if found is None:
                raise ScriptError(f"{line.member} has no message with a button [{line.label}]")
            item, choice = found
            conversation = (ConversationRef(PLATFORM, WORKSPACE, f"dm:{line.member}", kind="dm")
                            if item.channel is None else ConversationRef(PLATFORM, WORKSPACE, item.channel))
            return ActionInvoked(user, conversation, choice.action, choice.value, now, message=item.ref,
                                 label=choice.label, event_id=event_id)
        if line.channel is None:
            conversation = ConversationRef(PLATFORM, WORKSPACE, f"dm:{line.member}", kind="dm")
        else:
            if line.channel != MODERATOR_CHANNEL and line.channel not in self.channels:
                raise ScriptError(f"there is no channel #{line.channel}")
            if line.channel == MODERATOR_CHANNEL and line.member not in self.moderators:
                raise ScriptError(f"{line.member} is not a moderator and cannot write in #{MODERATOR_CHANNEL}")
            conversation = ConversationRef(PLATFORM, WORKSPACE, line.channel)
        text = line.text.strip()
        if text.lower() == "/peer" or text.lower().startswith("/peer "):
            return CommandInvoked(user, conversation, text[len("/peer"):].strip(), now, event_id=event_id)
        return MessageReceived(user, conversation, line.text, now, event_id=event_id)

    def find_choice(self, member: str, label: str) -> tuple[Delivered, Choice] | None:
        """The newest message the member can see that has a button or option with this label."""
        wanted = label.casefold()
        for item in reversed(self.delivered):
            if item.removed or not self._visible(item, member):
                continue
            for choice in item.choices:
                if choice.label.casefold() == wanted:
                    return item, choice
        return None

    def _visible(self, item: Delivered, member: str) -> bool:
        if item.visible_to is not None:
            return item.visible_to == member
        if item.channel == MODERATOR_CHANNEL:
            return member in self.moderators
        return True

    def _find(self, ref: MessageRef) -> Delivered:
        for item in self.delivered:
            if item.ref == ref:
                return item
        raise PermanentSendError(f"message_not_found: {ref.message_id}")

    async def _read_stdin(self, sink: EventSink) -> None:
        loop = asyncio.get_running_loop()
        current = "alice"
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            line, current = with_member(line.rstrip("\n"), current)
            try:
                parsed = parse_line(line)
                if isinstance(parsed, ClockMove):
                    raise ScriptError("the clock is real here; '~' works only in `peerbot demo`")
                if isinstance(parsed, Typed | Press):
                    await sink(self.event_for(parsed))
            except ScriptError as exc:
                print(f"! {exc}", file=sys.stderr)


def with_member(line: str, current: str) -> tuple[str, str]:
    """Interactive input: a line without `name>` is from the member who spoke last. Returns (line, member)."""
    stripped = line.strip()
    if not stripped or stripped.startswith("~") or (stripped.startswith("#") and not _CHANNEL_LINE.match(stripped)):
        return line, current
    match = _CHANNEL_LINE.match(stripped) or _MEMBER_LINE.match(stripped)
    if match:
        return line, match["member"].lower()
    return f"{current}> {line}", current
