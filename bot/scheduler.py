"""Periodic ticks (check-ins due, re-pages, follow-ups, purges) driven by APScheduler.

Ticks read due work from the store; there are no per-user jobs. In production an `AsyncIOScheduler` fires them on
the wall clock. Under the sandbox clock, `SandboxTicker.advance_to` runs every tick that falls due while time moves,
in time order, computed with the same APScheduler interval triggers.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.ports import ManualClock
from bot.router import TickSpec

log = logging.getLogger(__name__)


async def run_tick(tick: TickSpec, now: datetime, timeout_seconds: float) -> bool:
    """Run one tick with a timeout; a failure is logged (the work stays in the store for the next tick)."""
    try:
        async with asyncio.timeout(timeout_seconds):
            await tick.run(now)
    except TimeoutError:
        log.error("tick timed out", extra={"tick": tick.name, "timeout_s": timeout_seconds})
        return False
    except Exception:
        log.exception("tick failed", extra={"tick": tick.name})
        return False
    return True


def _trigger(tick: TickSpec, start: datetime) -> IntervalTrigger:
    return IntervalTrigger(seconds=tick.every.total_seconds(), start_date=start, timezone=UTC)


class LiveScheduler:
    """Wall-clock ticks for `peerbot run`."""

    def __init__(self, ticks: Sequence[TickSpec], clock_now: Callable[[], datetime], timeout_seconds: float,
                 after_tick: Callable[[], None]) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._ticks = ticks
        self._now = clock_now
        self._timeout = timeout_seconds
        self._after = after_tick

    def start(self) -> None:
        start = self._now()
        for tick in self._ticks:
            self._scheduler.add_job(
                self._fire, trigger=_trigger(tick, start), args=[tick], id=tick.name, name=tick.name,
                max_instances=1, coalesce=True, misfire_grace_time=int(tick.every.total_seconds()) or 1,
            )
        self._scheduler.start()

    async def _fire(self, tick: TickSpec) -> None:
        await run_tick(tick, self._now(), self._timeout)
        self._after()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


class SandboxTicker:
    """Ticks under a `ManualClock`: moving time forward runs what fell due, each at its own moment."""

    def __init__(self, ticks: Sequence[TickSpec], clock: ManualClock, timeout_seconds: float,
                 after_tick: Callable[[], Awaitable[None]]) -> None:
        self._clock = clock
        self._timeout = timeout_seconds
        self._after = after_tick
        start = clock.now()
        self._entries = [(tick, _trigger(tick, start)) for tick in ticks]
        # The first run is one interval after the start, as on the wall clock.
        self._next: list[datetime | None] = [trigger.get_next_fire_time(start, start)
                                             for _, trigger in self._entries]

    def next_at(self) -> datetime | None:
        pending = [when for when in self._next if when is not None]
        return min(pending) if pending else None

    async def advance_to(self, target: datetime) -> int:
        """Move the clock to `target`, running each due tick at its fire time; returns how many ran.
        A tick whose `due_hint` says it has nothing to do before some time is not run before then."""
        ran = 0
        while True:
            await self._skip_idle(target)
            due = [(when, i) for i, when in enumerate(self._next) if when is not None and when <= target]
            if not due:
                break
            when, index = min(due)
            tick, trigger = self._entries[index]
            if when > self._clock.now():
                self._clock.set(when)
            await run_tick(tick, when, self._timeout)
            await self._after()
            self._next[index] = trigger.get_next_fire_time(when, when)
            ran += 1
        if target > self._clock.now():
            self._clock.set(target)
        return ran

    async def _skip_idle(self, target: datetime) -> None:
        for index, when in enumerate(self._next):
            tick = self._entries[index][0]
            if when is None or when > target or tick.due_hint is None:
                continue
            hint = await tick.due_hint()
            if hint is None or hint > target:
                self._next[index] = _first_fire_after(when, tick.every, target, inclusive=False)
            elif hint > when:
                self._next[index] = _first_fire_after(when, tick.every, hint, inclusive=True)


def _first_fire_after(when: datetime, every: timedelta, moment: datetime, inclusive: bool) -> datetime:
    """The first of when, when + every, when + 2*every, ... at or after (or strictly after) `moment`."""
    steps = max(0, math.ceil((moment - when) / every))
    fire = when + steps * every
    if not inclusive and fire <= moment:
        fire += every
    return fire
