"""Check-ins at scale: 100,000 members with schedules spread over timezones, on a real SQLite file.

Prints: the time for the tick to claim and enqueue due check-ins (per 1,000 due), start-up time and resident
memory with 100k schedules, and where a crisis alert lands when 10,000 check-ins are already queued.
Run: .venv/bin/python bench/bench_checkins.py [--members 100000] [--db PATH] [--scattered-ids]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Settings
from bot.events import ConversationRef, MessageRef, OutboundMessage, PostToModerators, UserInfo, UserRef
from bot.features.checkins import next_checkin_at
from bot.ports import EventSink, ManualClock
from bot.store import CheckinSchedule, OutboxStatus, Priority
from bot.wiring import build_app
from storage import open_store

ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "Europe/London",
         "Europe/Berlin", "Europe/Madrid", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
         "America/Sao_Paulo", "Africa/Lagos", "UTC"]
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


@dataclass
class Recorder:
    """A platform that only records what it was asked to send (the bench measures our side)."""

    clock: ManualClock
    platform: str = "console"
    capabilities: frozenset[str] = frozenset()
    sent: list[str] = field(default_factory=list)

    async def start(self, sink: EventSink) -> None: ...

    async def stop(self) -> None: ...

    async def open_dm(self, user: UserRef) -> ConversationRef:
        return ConversationRef(self.platform, user.workspace, f"dm:{user.user_id}", kind="dm")

    async def send(self, to: ConversationRef, message: OutboundMessage, *, idempotency_key: str,
                   ephemeral_to: UserRef | None = None) -> MessageRef:
        self.sent.append(idempotency_key)
        return MessageRef(self.platform, to.workspace, to.channel_id, str(len(self.sent)))

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None: ...

    async def delete(self, ref: MessageRef) -> None: ...

    async def get_user(self, user: UserRef) -> UserInfo:
        return UserInfo(user=user)

    async def is_moderator(self, user: UserRef) -> bool:
        return False

    def moderator_channel(self, workspace: str) -> ConversationRef | None:
        return ConversationRef(self.platform, workspace, "moderators")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def user_id(n: int, scattered: bool) -> str:
    """The platform's id of the n-th member to join: `u<n>`, or (scattered) an id unrelated to the join order, as
    real platform ids are (the outbox's recipient index is then written at random places)."""
    return f"U{(n * 2654435761) % 2**32:08X}" if scattered else f"u{n}"


async def populate(url: str, members: int, scattered: bool = False) -> None:
    store = await open_store(url)
    rng = random.Random(7)
    async with store.transaction() as tx:
        for n in range(members):
            member = await tx.members.create(UserRef("console", "bench", user_id(n, scattered)), f"Bench Member {n}",
                                             1, START)
            schedule = CheckinSchedule(member_id=member.id, frequency=rng.choice(["daily", "daily", "weekdays"]),
                                       days=(), local_time=f"{rng.randint(7, 21):02d}:{rng.choice([0, 30]):02d}",
                                       timezone=rng.choice(ZONES))
            await tx.checkins.save_schedule(replace(schedule, next_checkin_at=next_checkin_at(schedule, START)))
    await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--scattered-ids", action="store_true",
                        help="platform user ids unrelated to the members' join order (like real Slack/Discord ids)")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory(prefix="peerbot-bench-")
    path = args.db or Path(folder.name) / "bench.db"
    url = f"sqlite:///{path}"

    began = time.perf_counter()
    await populate(url, args.members, args.scattered_ids)
    print(f"setup: {args.members:,} members with schedules in {time.perf_counter() - began:.1f} s")

    # Start-up: open the store and build the bot (with its lexicon) over the full database.
    began = time.perf_counter()
    settings = Settings()
    clock = ManualClock(START)
    store = await open_store(url)
    platform = Recorder(clock)
    app = build_app(settings, store, clock, {"console": platform})
    startup = time.perf_counter() - began
    print(f"start-up with {args.members:,} schedules: {startup * 1000:.0f} ms (target <= 2000 ms); "
          f"resident memory {rss_mb():.0f} MB (target <= 150 MB)")

    tick = next(t for t in app.router.ticks if t.name == "checkins.due")
    # Move to a moment when a slice of members is due (all whose local check-in fell in the past hours).
    moment = START + timedelta(hours=15)
    began, cpu_began = time.perf_counter(), time.process_time()
    sent = await tick.run(moment)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    per_thousand = elapsed / max(1, sent) * 1000 * 1000
    print(f"tick: claimed and enqueued {sent:,} due check-ins in {elapsed * 1000:.0f} ms = "
          f"{per_thousand:.1f} ms per 1,000 (target <= 50 ms); CPU of all threads "
          f"{cpu / max(1, sent) * 1000 * 1000:.1f} ms per 1,000 (steadier than the wall clock on a busy machine)")
    print(f"resident memory after the tick: {rss_mb():.0f} MB")

    # Crisis first: with the check-ins queued (at least 10,000), a moderator alert still goes out first.
    queued = (await store.outbox.counts())[OutboxStatus.PENDING]
    async with app.work("bench:alert", now=moment) as ctx:
        ctx.emit(PostToModerators("console", "bench", OutboundMessage("crisis alert")), Priority.ALERT,
                 key="bench:crisis")
    clock.set(moment)
    began = time.perf_counter()
    await app.dispatcher.deliver_due()
    first_batch = time.perf_counter() - began
    position = platform.sent.index("bench:crisis") + 1 if "bench:crisis" in platform.sent else None
    print(f"dispatcher: {queued:,} messages queued; the crisis alert was delivered "
          f"#{position} of the first batch, {first_batch * 1000:.0f} ms after the dispatcher started")
    await store.close()
    folder.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
