"""The ports the core needs from the outside world: a chat platform and a clock.

Adapters implement `ChatPlatform`; production wires `SystemClock`, tests and the sandbox a `ManualClock`.
The store's port lives in `bot.store`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from bot.events import ConversationRef, Form, InboundEvent, MessageRef, OutboundMessage, UserInfo, UserRef

EventSink = Callable[[InboundEvent], Awaitable[None]]


class SendError(Exception):
    """A platform refused or failed a send. Adapters raise the two subclasses below; the text says why,
    without the message text."""


class TransientSendError(SendError):
    """Worth retrying later (network trouble, 5xx, rate limit). `retry_after` in seconds when the platform says."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Retrying cannot help (channel not found, bot not in channel, DMs closed): goes to dead-letter at once."""


@runtime_checkable
class ChatPlatform(Protocol):
    """One chat platform. `capabilities` names optional features, e.g. {"ephemeral", "threads", "buttons", "forms"};
    "ephemeral_vanishes" says its ephemeral messages are gone after a reload or on another device.

    Events passed to the sink carry an `event_id` unique for all time on that platform and workspace (the
    platform's own id, or one that stays unique across restarts): the core skips ids it has seen before."""

    platform: str
    capabilities: frozenset[str]

    async def start(self, sink: EventSink) -> None: ...

    async def stop(self) -> None: ...

    async def open_dm(self, user: UserRef) -> ConversationRef: ...

    async def send(
        self, to: ConversationRef, message: OutboundMessage, *, idempotency_key: str,
        ephemeral_to: UserRef | None = None,
    ) -> MessageRef: ...

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None: ...

    async def delete(self, ref: MessageRef) -> None: ...

    async def open_form(self, user: UserRef, interaction: str, form: Form) -> None:
        """Show a form (a modal) in answer to an interaction; only platforms with "forms" in `capabilities` are
        asked. Raises PermanentSendError once the interaction has expired."""
        ...

    async def get_user(self, user: UserRef) -> UserInfo: ...

    async def is_moderator(self, user: UserRef) -> bool:
        """Checked server-side on every moderator command, from the platform's role, group or configured list."""
        ...

    def moderator_channel(self, workspace: str) -> ConversationRef | None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """Business time that only moves when told to: the sandbox and the tests move it forward instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError("the sandbox clock only moves forward")
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)
