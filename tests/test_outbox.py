"""The durable outbox: exactly-once delivery across crashes, retry with backoff, dead-letter, crisis first."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import OutboxSettings
from bot.events import ConversationRef, OutboundMessage, PostToChannel, SendDirect, SendEphemeral, UserRef
from bot.outbox import Dispatcher
from bot.ports import ManualClock
from bot.store import OutboxStatus, Priority
from storage.sqlite import SQLiteStore
from tests.conftest import UnreliablePlatform

ALICE = UserRef("console", "sandbox", "alice")
SETTINGS = OutboxSettings(max_attempts=4, backoff_base_seconds=2, backoff_max_seconds=60, lease_seconds=30)


async def enqueue(store: SQLiteStore, clock: ManualClock, key: str, text: str,
                  priority: Priority = Priority.NORMAL) -> bool:
    async with store.transaction() as tx:
        return await tx.outbox.enqueue(key, SendDirect(ALICE, OutboundMessage(text)), priority, clock.now())


async def test_a_crash_between_commit_and_send_delivers_on_restart_exactly_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = str(tmp_path / "crash.db")
    first = await SQLiteStore.open(path)
    await enqueue(first, clock, "evt-1:0", "you are not alone")
    await first.db.close()  # the process dies: committed, never sent

    second = await SQLiteStore.open(path)
    platform = UnreliablePlatform(clock)
    dispatcher = Dispatcher(second, {"console": platform}, clock, SETTINGS)
    assert await dispatcher.drain() == 1
    assert await dispatcher.drain() == 0
    # A third process starting later finds nothing left to send.
    third_platform = UnreliablePlatform(clock)
    assert await Dispatcher(second, {"console": third_platform}, clock, SETTINGS).drain() == 0
    await second.close()
    assert [text for _, _, text in platform.sent] == ["you are not alone"]
    assert third_platform.sent == []


async def test_a_worker_that_died_holding_a_claim_is_taken_over_after_its_lease(
    store: SQLiteStore, clock: ManualClock
) -> None:
    await enqueue(store, clock, "evt-2:0", "hello")
    claimed = await store.outbox.claim_due(clock.now(), 10, "dead-worker", SETTINGS.lease_seconds)
    assert len(claimed) == 1  # ...and that worker crashed before sending
    platform = UnreliablePlatform(clock)
    survivor = Dispatcher(store, {"console": platform}, clock, SETTINGS)
    assert await survivor.drain() == 0  # the lease still holds
    clock.advance(timedelta(seconds=SETTINGS.lease_seconds + 1))
    assert await survivor.drain() == 1
    assert await survivor.drain() == 0
    assert len(platform.sent) == 1


async def test_the_same_idempotency_key_is_queued_and_sent_once(store: SQLiteStore, clock: ManualClock) -> None:
    assert await enqueue(store, clock, "tick:checkin:42", "how are you today?") is True
    assert await enqueue(store, clock, "tick:checkin:42", "how are you today?") is False
    platform = UnreliablePlatform(clock)
    await Dispatcher(store, {"console": platform}, clock, SETTINGS).drain()
    assert len(platform.sent) == 1


async def test_a_failing_platform_is_retried_with_growing_backoff(store: SQLiteStore, clock: ManualClock) -> None:
    await enqueue(store, clock, "k", "hello")
    platform = UnreliablePlatform(clock, transient_failures=2)
    dispatcher = Dispatcher(store, {"console": platform}, clock, SETTINGS)
    await dispatcher.drain()
    first_retry = await store.outbox.next_due_at()
    assert first_retry is not None
    delay1 = first_retry - clock.now()
    clock.set(first_retry)
    await dispatcher.drain()
    second_retry = await store.outbox.next_due_at()
    assert second_retry is not None
    delay2 = second_retry - clock.now()
    assert timedelta(seconds=2) <= delay1 < timedelta(seconds=3)
    assert timedelta(seconds=4) <= delay2 < timedelta(seconds=5)
    clock.set(second_retry - timedelta(seconds=1))
    assert await dispatcher.drain() == 0  # not before its time
    clock.set(second_retry)
    await dispatcher.drain()
    assert [text for _, _, text in platform.sent] == ["hello"]
    assert len(platform.attempts) == 3


async def test_retry_after_from_the_platform_is_honoured(store: SQLiteStore, clock: ManualClock) -> None:
    await enqueue(store, clock, "k", "hello")
    platform = UnreliablePlatform(clock, transient_failures=1, retry_after=30)
    await Dispatcher(store, {"console": platform}, clock, SETTINGS).drain()
    assert await store.outbox.next_due_at() == clock.now() + timedelta(seconds=30)


async def test_after_max_attempts_an_item_is_dead_lettered_logged_and_visible(
    store: SQLiteStore, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await enqueue(store, clock, "k", "private words")
    platform = UnreliablePlatform(clock, transient_failures=100)
    dispatcher = Dispatcher(store, {"console": platform}, clock, SETTINGS)
    with caplog.at_level(logging.WARNING, logger="bot.outbox"):
        for _ in range(10):
            await dispatcher.drain()
            due = await store.outbox.next_due_at()
            if due is None:
                break
            clock.set(max(due, clock.now()))
    assert len(platform.attempts) == SETTINGS.max_attempts
    dead = await store.outbox.items(OutboxStatus.DEAD)
    assert len(dead) == 1 and dead[0].attempts == SETTINGS.max_attempts and "503" in (dead[0].last_error or "")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[-1].outbox_id == dead[0].id
    assert all("private words" not in r.getMessage() and "private words" not in str(vars(r)) for r in caplog.records)
    # An operator can put it back once the platform is healthy again.
    assert await store.outbox.requeue(dead[0].id, clock.now())
    platform.transient_failures = 0
    await dispatcher.drain()
    assert [text for _, _, text in platform.sent] == ["private words"]


async def test_a_permanent_error_goes_to_dead_letter_at_once(store: SQLiteStore, clock: ManualClock) -> None:
    await enqueue(store, clock, "k", "hello")
    platform = UnreliablePlatform(clock, permanent=True)
    await Dispatcher(store, {"console": platform}, clock, SETTINGS).drain()
    assert len(platform.attempts) == 1
    assert (await store.outbox.counts())[OutboxStatus.DEAD] == 1


async def test_crisis_replies_and_alerts_go_before_everything_else(store: SQLiteStore, clock: ManualClock) -> None:
    for n in range(30):
        await enqueue(store, clock, f"checkin:{n}", f"check-in {n}", Priority.BULK)
    await enqueue(store, clock, "post", "group post", Priority.NORMAL)
    await enqueue(store, clock, "alert", "moderator alert", Priority.ALERT)
    await enqueue(store, clock, "crisis", "crisis reply", Priority.CRISIS)
    platform = UnreliablePlatform(clock)
    await Dispatcher(store, {"console": platform}, clock, OutboxSettings(batch_size=10)).drain()
    texts = [text for _, _, text in platform.sent]
    assert texts[:3] == ["crisis reply", "moderator alert", "group post"]
    assert len(texts) == 33


async def test_delivered_text_is_not_kept_and_the_reference_is(store: SQLiteStore, clock: ManualClock) -> None:
    channel = ConversationRef("console", "sandbox", "diabetes")
    async with store.transaction() as tx:
        await tx.outbox.enqueue("post-1", PostToChannel(channel, OutboundMessage("anonymous words")),
                                Priority.NORMAL, clock.now())
    await Dispatcher(store, {"console": UnreliablePlatform(clock)}, clock, SETTINGS).drain()
    item = (await store.outbox.items(OutboxStatus.DELIVERED))[0]
    assert item.action is None
    async with store.transaction() as tx:
        ref = await tx.outbox.delivered_ref("post-1")
    assert ref is not None and ref.channel_id == "diabetes"


async def test_pending_messages_to_a_person_can_be_cancelled(store: SQLiteStore, clock: ManualClock) -> None:
    await enqueue(store, clock, "a", "one")
    await enqueue(store, clock, "b", "two")
    async with store.transaction() as tx:
        assert await tx.outbox.cancel_pending_to(ALICE, clock.now()) == 2
    platform = UnreliablePlatform(clock)
    await Dispatcher(store, {"console": platform}, clock, SETTINGS).drain()
    assert platform.sent == []


async def test_a_crisis_reply_queued_during_a_batch_goes_before_the_rest_of_it(
    store: SQLiteStore, clock: ManualClock
) -> None:
    for n in range(5):
        await enqueue(store, clock, f"checkin:{n}", f"check-in {n}", Priority.BULK)
    platform = UnreliablePlatform(clock)
    dispatcher = Dispatcher(store, {"console": platform}, clock, OutboxSettings(batch_size=50))
    original_send = platform.send

    async def send_and_meanwhile_a_crisis_arrives(*args: object, **kwargs: object) -> object:
        ref = await original_send(*args, **kwargs)  # type: ignore[arg-type]
        if len(platform.sent) == 1:
            await enqueue(store, clock, "crisis", "crisis reply", Priority.CRISIS)
            dispatcher.wake(urgent=True)
        return ref

    platform.send = send_and_meanwhile_a_crisis_arrives  # type: ignore[method-assign]
    await dispatcher.drain()
    texts = [text for _, _, text in platform.sent]
    assert texts[:2] == ["check-in 0", "crisis reply"] and len(texts) == 6
    assert all(i.attempts == 1 for i in await store.outbox.items(OutboxStatus.DELIVERED))


async def test_a_slow_batch_renews_its_lease_so_a_second_worker_never_sends_the_same_message(
    store: SQLiteStore, clock: ManualClock
) -> None:
    for n in range(3):
        await enqueue(store, clock, f"slow:{n}", f"message {n}")
    other_platform = UnreliablePlatform(clock)
    other = Dispatcher(store, {"console": other_platform}, clock, SETTINGS, owner="worker-b")
    other_claimed: list[int] = []

    class SlowPlatform(UnreliablePlatform):
        async def send(self, to, message, *, idempotency_key, ephemeral_to=None):  # type: ignore[no-untyped-def]
            ref = await super().send(to, message, idempotency_key=idempotency_key, ephemeral_to=ephemeral_to)
            clock.advance(timedelta(seconds=SETTINGS.lease_seconds * 0.6))  # each send is slow (rate limits)
            other_claimed.append(await other.deliver_due())  # meanwhile a second worker looks for due work
            return ref

    slow = SlowPlatform(clock)
    assert await Dispatcher(store, {"console": slow}, clock, SETTINGS, owner="worker-a").drain() == 3
    # Past the original lease the first worker still held its batch: the second one never got a message.
    assert [text for _, _, text in slow.sent] == ["message 0", "message 1", "message 2"]
    assert other_platform.sent == [] and set(other_claimed) == {0}


def test_a_send_never_outlives_the_lease_on_its_item(store: SQLiteStore, clock: ManualClock) -> None:
    short = OutboxSettings(lease_seconds=10)
    assert Dispatcher(store, {}, clock, short).send_timeout == 4.0  # renewed after 5 s, so never past 10 s
    assert Dispatcher(store, {}, clock, OutboxSettings()).send_timeout == 24.0  # default lease 60 s


# ---------------------------------------------------------------- the DM copy of an ephemeral crisis reply

GROUP = ConversationRef("console", "sandbox", "C-group", kind="channel")
VANISHING = frozenset({"ephemeral", "ephemeral_vanishes"})


async def enqueue_ephemeral(store: SQLiteStore, clock: ManualClock, key: str, text: str, keep: bool = True) -> None:
    async with store.transaction() as tx:
        await tx.outbox.enqueue(key, SendEphemeral(GROUP, ALICE, OutboundMessage(text), keep=keep), Priority.CRISIS,
                                clock.now())


async def test_an_ephemeral_crisis_reply_is_also_left_in_the_dm_where_ephemerals_vanish(
        store: SQLiteStore, clock: ManualClock) -> None:
    await enqueue_ephemeral(store, clock, "evt:0", "call 988")
    await enqueue_ephemeral(store, clock, "evt:1", "thanks for posting", keep=False)
    platform = UnreliablePlatform(clock, capabilities=VANISHING)
    await Dispatcher(store, {"console": platform}, clock, SETTINGS).drain()
    assert sorted((channel, text) for _, channel, text in platform.sent) == [
        ("C-group", "call 988"), ("C-group", "thanks for posting"), ("dm:alice", "call 988")]


async def test_no_copy_where_ephemerals_stay_or_where_the_answer_went_to_the_dm(
        store: SQLiteStore, clock: ManualClock) -> None:
    await enqueue_ephemeral(store, clock, "evt:0", "call 988")
    lasting = UnreliablePlatform(clock, capabilities=frozenset({"ephemeral"}))  # the console keeps them
    await Dispatcher(store, {"console": lasting}, clock, SETTINGS).drain()
    assert [channel for _, channel, _ in lasting.sent] == ["C-group"]
    await enqueue_ephemeral(store, clock, "evt:2", "call 988")
    no_ephemerals = UnreliablePlatform(clock, capabilities=frozenset({"ephemeral_vanishes"}))
    await Dispatcher(store, {"console": no_ephemerals}, clock, SETTINGS).drain()
    assert [channel for _, channel, _ in no_ephemerals.sent] == ["dm:alice"]  # the DM itself, once


async def test_a_crash_before_the_reply_is_settled_still_leaves_exactly_one_copy(
        store: SQLiteStore, clock: ManualClock) -> None:
    await enqueue_ephemeral(store, clock, "evt:0", "call 988")
    # A worker claims and sends the reply, then dies before settling it.
    claimed = await store.outbox.claim_due(clock.now(), 10, "dead-worker", SETTINGS.lease_seconds)
    assert len(claimed) == 1
    clock.advance(timedelta(seconds=SETTINGS.lease_seconds + 1))
    platform = UnreliablePlatform(clock, capabilities=VANISHING)
    dispatcher = Dispatcher(store, {"console": platform}, clock, SETTINGS)
    await dispatcher.drain()
    # The late settle of the dead worker (it woke up) neither overrides the delivery nor queues a second copy.
    copy = ("evt:0:kept", SendDirect(ALICE, OutboundMessage("call 988")), Priority.CRISIS)
    await store.outbox.mark_delivered(claimed[0].id, "dead-worker", None, clock.now(), then=copy)
    await dispatcher.drain()
    assert [channel for _, channel, _ in platform.sent].count("dm:alice") == 1


async def test_a_reply_cancelled_by_forget_while_it_was_sent_leaves_no_copy(
        store: SQLiteStore, clock: ManualClock) -> None:
    await enqueue_ephemeral(store, clock, "evt:0", "call 988")
    claimed = await store.outbox.claim_due(clock.now(), 10, "worker", SETTINGS.lease_seconds)
    async with store.transaction() as tx:  # the person runs /peer forget while the reply is on its way
        assert await tx.outbox.cancel_pending_to(ALICE, clock.now()) == 1
    copy = ("evt:0:kept", SendDirect(ALICE, OutboundMessage("call 988")), Priority.CRISIS)
    await store.outbox.mark_delivered(claimed[0].id, "worker", None, clock.now(), then=copy)
    assert await store.outbox.items(OutboxStatus.PENDING) == []
    assert [i.status for i in await store.outbox.items(OutboxStatus.CANCELLED)] == [OutboxStatus.CANCELLED]
