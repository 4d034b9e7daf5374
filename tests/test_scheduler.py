"""Periodic ticks: under the sandbox clock moving time runs what fell due, in order; live, APScheduler fires them."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import pytest

from bot.ports import ManualClock, SystemClock
from bot.router import TickSpec
from bot.scheduler import LiveScheduler, SandboxTicker
from tests.conftest import START


def tick(name: str, seconds: float, log: list[tuple[str, datetime]]) -> TickSpec:
    async def run(now: datetime) -> None:
        log.append((name, now))

    return TickSpec(name, timedelta(seconds=seconds), run)


async def nothing() -> None:
    return None


async def test_moving_the_clock_runs_each_due_tick_at_its_own_time(clock: ManualClock) -> None:
    ran: list[tuple[str, datetime]] = []
    ticker = SandboxTicker([tick("checkins", 30, ran), tick("repage", 60, ran)], clock, 5, nothing)
    await ticker.advance_to(START + timedelta(minutes=2))
    checkins = [when for name, when in ran if name == "checkins"]
    repages = [when for name, when in ran if name == "repage"]
    assert checkins == [START + timedelta(seconds=30 * n) for n in range(1, 5)]
    assert repages == [START + timedelta(minutes=1), START + timedelta(minutes=2)]
    assert [when for _, when in ran] == sorted(when for _, when in ran)  # time order across ticks
    assert clock.now() == START + timedelta(minutes=2)


async def test_the_clock_reads_the_tick_time_while_a_tick_runs(clock: ManualClock) -> None:
    seen: list[datetime] = []

    async def run(now: datetime) -> None:
        seen.append(clock.now())

    ticker = SandboxTicker([TickSpec("t", timedelta(minutes=10), run)], clock, 5, nothing)
    await ticker.advance_to(START + timedelta(minutes=25))
    assert seen == [START + timedelta(minutes=10), START + timedelta(minutes=20)]
    assert ticker.next_at() == START + timedelta(minutes=30)


async def test_a_failing_or_hanging_tick_is_logged_and_the_others_go_on(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[tuple[str, datetime]] = []

    async def broken(now: datetime) -> None:
        raise RuntimeError("bug")

    async def hangs(now: datetime) -> None:
        await asyncio.Event().wait()

    ticks = [TickSpec("broken", timedelta(minutes=1), broken), TickSpec("hangs", timedelta(minutes=1), hangs),
             tick("fine", 60, ran)]
    with caplog.at_level(logging.ERROR, logger="bot.scheduler"):
        await SandboxTicker(ticks, clock, 0.05, nothing).advance_to(START + timedelta(minutes=2))
    assert len(ran) == 2
    messages = [(r.getMessage(), getattr(r, "tick", None)) for r in caplog.records]
    assert ("tick failed", "broken") in messages and ("tick timed out", "hangs") in messages


async def test_after_each_tick_the_outbox_hook_runs(clock: ManualClock) -> None:
    calls: list[datetime] = []

    async def after() -> None:
        calls.append(clock.now())

    await SandboxTicker([tick("t", 60, [])], clock, 5, after).advance_to(START + timedelta(minutes=3))
    assert calls == [START + timedelta(minutes=n) for n in (1, 2, 3)]


async def test_the_live_scheduler_fires_registered_ticks_on_the_wall_clock() -> None:
    fired = asyncio.Event()
    woke: list[bool] = []

    async def run(now: datetime) -> None:
        fired.set()

    scheduler = LiveScheduler([TickSpec("t", timedelta(seconds=0.05), run)], SystemClock().now, 5,
                              lambda: woke.append(True))
    scheduler.start()
    try:
        await asyncio.wait_for(fired.wait(), timeout=10)
    finally:
        scheduler.shutdown()
    await asyncio.sleep(0)
    assert fired.is_set()
