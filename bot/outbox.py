"""The dispatcher: delivers the durable outbox to the platforms, most urgent first, with retry and dead-letter.

Every outbound action was committed to the store with the state change that caused it; this loop claims due items
under a lease (so several workers can share a database), sends them, and settles each: delivered, retried with
exponential backoff (or the platform's Retry-After), or dead-lettered after `max_attempts` with an ERROR log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import timedelta

from bot.config import OutboxSettings
from bot.events import (
    DeleteMessage,
    EditMessage,
    MessageRef,
    OpenForm,
    OutboundAction,
    PostToChannel,
    PostToModerators,
    SendDirect,
    SendEphemeral,
    action_platform,
)
from bot.ports import ChatPlatform, Clock, PermanentSendError, SendError, TransientSendError
from bot.store import OutboxItem, Priority, Store

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 30.0


class _NotYet(TransientSendError):
    """A dependency (the message to edit or reply under) has not been delivered yet."""


def backoff_delay(attempts: int, item_id: int, settings: OutboxSettings) -> float:
    """Exponential backoff with a small per-item spread, so a recovered platform is not hit all at once."""
    base = settings.backoff_base_seconds * (2 ** max(0, attempts - 1))
    spread = 1.0 + ((item_id * 2654435761) % 1000) / 10000.0  # up to +10%, deterministic per item
    return min(settings.backoff_max_seconds, base * spread)


KEPT_SUFFIX = ":kept"


def kept_copy_key(key: str) -> str:
    """The outbox key of the DM copy of an ephemeral answer (see Dispatcher._kept_copy)."""
    return key + KEPT_SUFFIX


def is_kept_copy(key: str) -> bool:
    return key.endswith(KEPT_SUFFIX)


class Dispatcher:
    def __init__(
        self, store: Store, platforms: Mapping[str, ChatPlatform], clock: Clock, settings: OutboxSettings,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.platforms = platforms
        self.clock = clock
        self.settings = settings
        self.owner = owner or f"worker-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._urgent = False
        # Called after an item is dead-lettered, e.g. to get an undeliverable moderator alert to people another way.
        self.on_dead_letter: Callable[[OutboxItem], Awaitable[None]] | None = None

    @property
    def send_timeout(self) -> float:
        """At most 40 % of the lease: the lease is renewed once half of it has passed, so a send never outlives
        it and another worker never takes over an item that is still being sent."""
        return min(SEND_TIMEOUT_SECONDS, self.settings.lease_seconds * 0.4)

    def wake(self, urgent: bool = False) -> None:
        """Something was queued; `urgent` (a crisis reply or an alert) makes the batch in hand stop after its
        current send, so the urgent message goes next instead of waiting behind the rest of the batch."""
        if urgent:
            self._urgent = True
        self._wake.set()

    def stop(self) -> None:
        """Ask `run` to return after the batch in hand (never in the middle of a send)."""
        self._stopping = True
        self._wake.set()

    async def deliver_due(self) -> int:
        """Claim one batch of due items and settle each; returns how many were claimed."""
        now = self.clock.now()
        lease = self.settings.lease_seconds
        items = await self.store.outbox.claim_due(now, self.settings.batch_size, self.owner, lease)
        self._urgent = False
        renewed_at = now
        for index, item in enumerate(items):
            if self._urgent and item.priority > Priority.INTERACTIVE:
                await self.store.outbox.release([i.id for i in items[index:]], self.owner)
                return index
            if (self.clock.now() - renewed_at).total_seconds() >= lease / 2:
                # A slow batch (rate limits, a slow platform) must not outlive its lease: another worker would
                # claim the rest and both would send it. Renew what is left; skip what is no longer ours.
                renewed_at = self.clock.now()
                ours = await self.store.outbox.renew([i.id for i in items[index:]], self.owner, renewed_at, lease)
                items[index:] = [i for i in items[index:] if i.id in ours]
                if index >= len(items):
                    break
                item = items[index]
            await self._deliver(item)
        return len(items)

    async def drain(self) -> int:
        """Deliver until nothing is due at the current time (the sandbox and tests use this)."""
        total = 0
        while (count := await self.deliver_due()) > 0:
            total += count
        return total

    async def run(self, idle_poll_seconds: float = 1.0) -> None:
        """Deliver forever; woken early when something is enqueued."""
        log.info("outbox dispatcher started", extra={"owner": self.owner})
        while not self._stopping:
            try:
                claimed = await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox dispatcher pass failed; retrying")
                claimed = 0
            if claimed or self._stopping:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle_poll_seconds)

    async def _deliver(self, item: OutboxItem) -> None:
        ids = {"outbox_id": item.id, "kind": item.kind, "attempt": item.attempts, "priority": item.priority.name}
        if item.action is None:
            await self.store.outbox.mark_dead(item.id, self.owner, "payload missing", self.clock.now())
            log.error("outbox item has no payload; dead-lettered", extra=ids)
            return
        try:
            async with asyncio.timeout(self.send_timeout):
                ref = await self._perform(item.action, item.key)
        except PermanentSendError as exc:
            await self.store.outbox.mark_dead(item.id, self.owner, f"permanent: {exc}", self.clock.now())
            log.error("outbox send failed permanently; dead-lettered", extra={**ids, "error": str(exc)})
            await self._dead_lettered(item)
            return
        except Exception as exc:  # transient, a timeout, or an adapter bug: all worth another try
            reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SendError) else str(exc)
            if isinstance(exc, TimeoutError):
                reason = f"timed out after {self.send_timeout:.0f}s"
            if item.attempts >= self.settings.max_attempts:
                await self.store.outbox.mark_dead(item.id, self.owner, reason, self.clock.now())
                log.error("outbox send failed %d times; dead-lettered", item.attempts,
                          extra={**ids, "error": reason})
                await self._dead_lettered(item)
                return
            delay = backoff_delay(item.attempts, item.id, self.settings)
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                delay = max(delay if isinstance(exc, _NotYet) else 0.0, float(retry_after))
            await self.store.outbox.mark_retry(
                item.id, self.owner, reason, self.clock.now() + timedelta(seconds=delay)
            )
            log.warning("outbox send failed; will retry", extra={**ids, "error": reason, "retry_in_s": delay})
            return
        copy = self._kept_copy(item, ref)
        await self.store.outbox.mark_delivered(item.id, self.owner, ref, self.clock.now(), then=copy)
        if copy is not None:
            self.wake(urgent=True)
        log.debug("outbox item delivered", extra=ids)

    def _kept_copy(self, item: OutboxItem, ref: MessageRef | None) -> tuple[str, OutboundAction, Priority] | None:
        """An ephemeral answer that must stay findable (crisis resources) and landed in the channel of a platform
        whose ephemeral messages vanish on reload: a copy for the person's DM, queued as its own outbox item in
        the transaction that settles the answer (so it is never lost, and its key makes it once only). An answer
        the adapter already put in the DM needs no copy."""
        action = item.action
        if not isinstance(action, SendEphemeral) or not action.keep or ref is None:
            return None
        platform = self.platforms.get(action.to.platform)
        if platform is None or "ephemeral_vanishes" not in platform.capabilities:
            return None
        if ref.channel_id != action.channel.channel_id:
            return None
        return kept_copy_key(item.key), SendDirect(to=action.to, message=action.message), item.priority

    async def _dead_lettered(self, item: OutboxItem) -> None:
        if self.on_dead_letter is None:
            return
        try:
            await self.on_dead_letter(item)
        except Exception:
            log.exception("dead-letter handler failed", extra={"outbox_id": item.id})

    def _platform(self, name: str | None) -> ChatPlatform:
        platform = self.platforms.get(name or "")
        if platform is None:
            raise TransientSendError(f"platform {name!r} is not running in this process")
        return platform

    async def _resolve(self, key: str) -> MessageRef:
        async with self.store.transaction() as tx:
            ref = await tx.outbox.delivered_ref(key)
        if ref is None:
            raise _NotYet(f"message {key!r} not delivered yet", retry_after=1.0)
        return ref

    async def _perform(self, action: OutboundAction, key: str) -> MessageRef | None:
        match action:
            case SendDirect(to=to, message=message):
                platform = self._platform(to.platform)
                conversation = await platform.open_dm(to)
                return await platform.send(conversation, message, idempotency_key=key)
            case SendEphemeral(channel=channel, to=to, message=message):
                platform = self._platform(to.platform)
                if "ephemeral" in platform.capabilities:
                    return await platform.send(channel, message, idempotency_key=key, ephemeral_to=to)
                return await platform.send(await platform.open_dm(to), message, idempotency_key=key)
            case PostToChannel(channel=channel, message=message, thread_of_key=parent_key):
                platform = self._platform(channel.platform)
                if parent_key is not None:
                    parent = await self._resolve(parent_key)
                    channel = replace(channel, thread_id=parent.message_id)
                return await platform.send(channel, message, idempotency_key=key)
            case PostToModerators(platform=name, workspace=workspace, message=message):
                platform = self._platform(name)
                channel = platform.moderator_channel(workspace)
                if channel is None:
                    raise PermanentSendError(f"no moderator channel configured for {name}")
                return await platform.send(channel, message, idempotency_key=key)
            case EditMessage(target_key=target, message=message):
                ref = await self._resolve(target)
                await self._platform(ref.platform).edit(ref, message)
                return ref
            case DeleteMessage(target_key=target):
                ref = await self._resolve(target)
                await self._platform(ref.platform).delete(ref)
                return None
            case OpenForm(to=to, interaction=interaction, form=form):
                await self._platform(to.platform).open_form(to, interaction, form)
                return None
        raise PermanentSendError(f"unknown action {type(action).__name__} for {action_platform(action)}")


def describe_item(item: OutboxItem) -> dict[str, object]:
    """An operator's view of an outbox item: ids, state and error, never the message text."""
    return {
        "id": item.id, "key": item.key, "kind": item.kind, "priority": item.priority.name.lower(),
        "status": item.status.value, "attempts": item.attempts, "last_error": item.last_error,
        "created_at": item.created_at.isoformat(), "next_attempt_at": item.next_attempt_at.isoformat(),
    }

