"""Scheduled check-ins: next times across DST, quiet hours, pause/resume, misses, trends, catch-up, racing ticks."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.events import OutboundMessage, SendDirect, UserRef, action_from_dict, action_to_dict
from bot.features.checkins import NextTimes, checkin_message, falling_trend, next_checkin_at, parse_duration, sparkline
from bot.store import Checkin, CheckinSchedule
from bot.wiring import Sandbox
from storage.sqlite_checkins import DirectMessagePayloads
from tests.test_escalation import Box

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday
ZONES = ["America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney", "Pacific/Auckland",
         "America/Santiago", "Asia/Kolkata", "America/Los_Angeles", "UTC"]


def schedule(**changes: object) -> CheckinSchedule:
    base = dict(member_id=1, frequency="daily", days=(), local_time="09:00", timezone="UTC")
    base.update(changes)
    return CheckinSchedule(**base)  # type: ignore[arg-type]


@settings(max_examples=120, deadline=None)
@given(zone=st.sampled_from(ZONES), hour=st.integers(0, 23), minute=st.sampled_from([0, 15, 30, 45]),
       start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)))
def test_daily_checkins_come_once_every_local_day_across_dst(zone: str, hour: int, minute: int,
                                                             start: datetime) -> None:
    s = schedule(timezone=zone, local_time=f"{hour:02d}:{minute:02d}")
    tz = ZoneInfo(zone)
    when = start.replace(tzinfo=UTC)
    days: list[date] = []
    for _ in range(400):  # more than a year: every DST change in both directions
        nxt = next_checkin_at(s, when)
        assert nxt > when
        local = nxt.astimezone(tz)
        days.append(local.date())
        # On the scheduled wall time, except in a spring-forward gap, where it comes just after the gap.
        wall = datetime.combine(local.date(), time(hour, minute))
        assert timedelta(0) <= local.replace(tzinfo=None) - wall <= timedelta(hours=1)
        when = nxt
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(days))  # never skipped or doubled


@given(zone=st.sampled_from(ZONES), start=st.datetimes(min_value=datetime(2026, 1, 1),
                                                     max_value=datetime(2026, 12, 31)))
def test_weekday_and_weekly_schedules(zone: str, start: datetime) -> None:
    tz = ZoneInfo(zone)
    when = start.replace(tzinfo=UTC)
    weekdays = [next_checkin_at(schedule(frequency="weekdays", timezone=zone), when)]
    for _ in range(9):
        weekdays.append(next_checkin_at(schedule(frequency="weekdays", timezone=zone), weekdays[-1]))
    assert all(w.astimezone(tz).weekday() < 5 for w in weekdays)
    weekly = next_checkin_at(schedule(frequency="weekly", days=(4,), timezone=zone), when)
    again = next_checkin_at(schedule(frequency="weekly", days=(4,), timezone=zone), weekly)
    assert weekly.astimezone(tz).weekday() == again.astimezone(tz).weekday() == 4
    assert timedelta(days=6) < again - weekly < timedelta(days=8)


def test_quiet_hours_move_a_checkin_to_their_end() -> None:
    s = schedule(local_time="23:00", quiet_start="22:00", quiet_end="07:00", timezone="Europe/London")
    nxt = next_checkin_at(s, datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    assert nxt.astimezone(ZoneInfo("Europe/London")) == datetime(2026, 6, 2, 7, 0, tzinfo=ZoneInfo("Europe/London"))


def test_a_slowed_schedule_comes_weekly() -> None:
    s = schedule(slowed=True)
    first = next_checkin_at(s, START)
    assert next_checkin_at(s, first) - first == timedelta(days=7)


CHOICES: dict[str, list[object]] = {
    "frequency": ["daily", "weekdays", "weekly", "days"], "days": [(0,), (2,), (0, 2), (4, 5, 6)],
    "local_time": ["09:00", "02:30", "23:30", "06:45"], "timezone": ["Europe/London", "America/New_York", "Asia/Tokyo"],
    "quiet_start": [None, "22:00", "01:00"], "quiet_end": [None, "07:00", "08:00"], "slowed": [False, True],
}


@settings(max_examples=80, deadline=None)
@given(base=st.fixed_dictionaries({name: st.sampled_from(values) for name, values in CHOICES.items()}),
       after=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)))
def test_a_ticks_shared_next_times_are_each_members_own(base: dict[str, object], after: datetime) -> None:
    # A tick computes each rule's next time once; members whose schedules differ in any one field still get
    # exactly their own next time.
    when = after.replace(tzinfo=UTC)
    first = schedule(**base)
    variants = [first] + [replace(first, **{name: value}) for name, values in CHOICES.items() for value in values]
    shared = NextTimes(when)
    for s in variants + variants[::-1]:
        assert shared(s) == next_checkin_at(s, when)


def generic_payload(action: SendDirect) -> str:
    return json.dumps(action_to_dict(action), ensure_ascii=False, separators=(",", ":"))


@given(platform=st.sampled_from(["slack", "discord"]) | st.text(max_size=8), workspace=st.text(max_size=12),
       user_id=st.text(max_size=20), checkin_id=st.integers(1, 10**12))
def test_checkin_dms_queued_from_the_batch_template_decode_to_the_checkin_message(
        platform: str, workspace: str, user_id: str, checkin_id: int) -> None:
    user = UserRef(platform, workspace, user_id)
    payloads = DirectMessagePayloads(checkin_message)
    assert payloads.templated  # the check-in message fits the one-encoding-per-batch pattern (the tick's speed)
    payload = payloads(user, checkin_id)
    assert payload == generic_payload(SendDirect(user, checkin_message(checkin_id)))
    assert action_from_dict(json.loads(payload)) == SendDirect(user, checkin_message(checkin_id))


def test_a_message_that_uses_its_id_otherwise_is_encoded_item_by_item() -> None:
    def numbered(checkin_id: int) -> OutboundMessage:
        return OutboundMessage(f"Check-in no. {checkin_id:06d}, {checkin_id % 7} days to go")

    payloads = DirectMessagePayloads(numbered)
    assert not payloads.templated
    for checkin_id in (12, 98_765, 7):
        user = UserRef("slack", "T1", "U\"2")
        assert payloads(user, checkin_id) == generic_payload(SendDirect(user, numbered(checkin_id)))


def checkin(n: int, mood: int | None, days_ago: float, skipped: bool = False) -> Checkin:
    at = START - timedelta(days=days_ago)
    return Checkin(n, 1, at, at, at if mood or skipped else None, mood, skipped, None)


def test_falling_trends() -> None:
    # newest first, as the store returns them
    assert falling_trend([checkin(3, 2, 0), checkin(2, 1, 1), checkin(1, 2, 2)], START) == [2, 1, 2]
    assert falling_trend([checkin(3, 2, 0), checkin(2, 4, 1), checkin(1, 2, 2)], START) == [2, 4, 2]  # a drop
    assert falling_trend([checkin(3, 3, 0), checkin(2, 5, 2)], START) == [5, 3]
    assert falling_trend([checkin(3, 3, 0), checkin(2, 5, 9)], START) is None  # not within a week
    assert falling_trend([checkin(3, 4, 0), checkin(2, 4, 1), checkin(1, 3, 2)], START) is None
    assert sparkline([checkin(3, 5, 0), checkin(2, None, 1, skipped=True), checkin(1, 1, 2)]) == "▁·█"


def test_pause_durations() -> None:
    assert parse_duration("3d") == timedelta(days=3)
    assert parse_duration("1w 2d") == timedelta(days=9)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("soon") is None


def times(box: Box, who: str, pattern: str) -> list[datetime]:
    return [d.at for d in box.to(who) if re.search(pattern, d.text)]


ONBOARD_DAILY = ["alice> /peer join", "alice> [I agree]", "alice> [Skip]", "alice> [Skip]", "alice> [Skip]",
                 "alice> [Use UTC]", "alice> [Daily]"]


async def test_a_daily_checkin_arrives_at_the_members_local_time_and_is_answered_with_a_button() -> None:
    async with Box() as box:
        await box.play(*ONBOARD_DAILY, "alice> [No, keep it to me]",
                       "alice> /peer profile timezone America/New_York", "~ 1d")
        (sent,) = times(box, "alice", "quick check-in")
        assert sent.astimezone(ZoneInfo("America/New_York")).hour == 10
        labels = [c.label for c in box.to("alice")[-1].choices] if "check-in" in box.texts("alice")[-1] else []
        assert labels == ["1 · Very low", "2 · Low", "3 · Okay", "4 · Good", "5 · Very good", "Skip today"]
        await box.play("alice> [4 · Good]", "alice> slept better, pain is a 3 today", "alice> /peer mood")
        texts = box.texts("alice")
        assert texts[-3].startswith("Thanks for checking in") and texts[-2] == "Thank you for sharing that."
        assert "▆" in texts[-1]


async def test_pause_silences_and_resume_brings_checkins_back() -> None:
    async with Box() as box:
        await box.play(*ONBOARD_DAILY, "alice> [No, keep it to me]", "alice> /peer pause", "~ 3d")
        assert times(box, "alice", "quick check-in") == []
        await box.play("alice> /peer resume", "~ 1d")
        assert len(times(box, "alice", "quick check-in")) == 1
        await box.play("alice> [3 · Okay]", "alice> /peer pause 2d", "~ 4d")
        sent = times(box, "alice", "quick check-in")[1:]
        # Paused Friday 09:00 to Sunday 09:00: nothing Friday or Saturday, then daily again.
        assert [d.strftime("%a %H:%M") for d in sent] == ["Sun 10:00", "Mon 10:00"]


async def test_three_missed_checkins_bring_one_gentle_message_then_weekly() -> None:
    async with Box() as box:
        await box.play(*ONBOARD_DAILY, "alice> [No, keep it to me]", "~ 4d")
        assert len(times(box, "alice", "quick check-in")) == 3
        assert len(times(box, "alice", "haven't heard from you")) == 1
        await box.play("~ 13d")
        assert len(times(box, "alice", "haven't heard from you")) == 1  # no nagging
        weekly = times(box, "alice", "quick check-in")[3:]
        assert len(weekly) == 2 and weekly[1] - weekly[0] == timedelta(days=7)
        await box.play("alice> [3 · Okay]", "~ 3d")
        assert len(times(box, "alice", "quick check-in")) == 5 + 3  # back to daily after answering


async def test_a_falling_trend_offers_support_and_tells_moderators_only_with_consent() -> None:
    for consent, told in (("[Yes, tell them]", True), ("[No, keep it to me]", False)):
        async with Box() as box:
            await box.play(*ONBOARD_DAILY, f"alice> {consent}")
            for _ in range(3):
                await box.play("~ 1d", "alice> [2 · Low]")
            assert any("You don't have to carry this alone" in t for t in box.texts("alice"))
            assert any("Check-in trend" in t for t in box.texts("#moderators")) is told
            assert all("alice" not in t for t in box.texts("#moderators"))


async def test_a_note_in_crisis_is_escalated_like_any_message() -> None:
    async with Box() as box:
        await box.play(*ONBOARD_DAILY, "alice> [No, keep it to me]", "~ 1d", "alice> [1 · Very low]",
                       "alice> i don't want to be alive anymore")
        assert any("Safety alert #1" in t for t in box.texts("#moderators"))
        assert "Thank you for sharing that." not in box.texts("alice")


async def test_a_bot_that_was_down_sends_one_catch_up_checkin_not_a_burst(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    async with Box(db=db) as first:
        await first.play(*ONBOARD_DAILY, "alice> [No, keep it to me]")
    async with Box(db=db, start=START + timedelta(days=3, hours=5)) as second:
        await second.play("~ 1m")
        assert len(times(second, "alice", "quick check-in")) == 1


@pytest.mark.parametrize("batch_size", [500, 7])
async def test_two_ticks_racing_on_one_database_never_send_twice(tmp_path: Path, batch_size: int) -> None:
    db = tmp_path / "race.db"
    seen: list[object] = []
    config = Settings(checkins={"batch_size": batch_size})  # 7: many batches each, interleaving the two ticks
    async with Sandbox(config, START, seen.append, db) as setup:
        for n in range(60):
            for line in (f"m{n}> /peer join", f"m{n}> [I agree]", f"m{n}> /peer checkin daily 10:00"):
                await setup.play(line)
    later = START + timedelta(days=1, hours=2)
    async with Sandbox(config, later, seen.append, db) as one, Sandbox(config, later, seen.append, db) as two:
        tick_one, tick_two = (next(t for t in box.app.router.ticks if t.name == "checkins.due") for box in (one, two))
        counts = await asyncio.gather(tick_one.run(later), tick_two.run(later), tick_one.run(later))
        assert sum(c for c in counts if c) == 60
        items = await one.store.outbox.items(None, limit=10_000)
        sent = [i for i in items if i.key.startswith("checkin:") and i.created_at == later]
        assert len({i.key for i in sent}) == len(sent) == 60
        assert len({i.action.to.user_id for i in sent if isinstance(i.action, SendDirect)}) == 60  # one each
