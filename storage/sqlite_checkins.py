"""SQLite tables of check-ins: one schedule per member (the due time indexed) and the check-ins themselves.

The tick's path is batched (one query for what is due, `executemany` for what was sent), so a tick that claims
thousands of check-ins stays fast. Methods run inside a store transaction (the caller holds the write lock).
"""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from bot.events import UserRef
from bot.store import Checkin, CheckinSchedule, DueCheckin
from storage.timefmt import opt_ts, parse_ts, ts

_SCHEDULE = ("s.member_id, s.frequency, s.days, s.local_time, s.timezone, s.quiet_start, s.quiet_end,"
             " s.paused_until, s.next_checkin_at, s.missed, s.slowed, s.share_trend, s.trend_offered_at,"
             " s.outstanding_id")
_CHECKIN = "id, member_id, due_at, sent_at, answered_at, mood, skipped, note"


def _schedule(row: aiosqlite.Row | tuple[object, ...]) -> CheckinSchedule:
    (member_id, frequency, days, local_time, timezone, quiet_start, quiet_end, paused_until, next_at, missed,
     slowed, share, offered, outstanding) = row[:14]
    return CheckinSchedule(
        member_id=int(str(member_id)), frequency=str(frequency),
        days=tuple(int(d) for d in str(days).split(",") if d), local_time=str(local_time),
        timezone=str(timezone), quiet_start=None if quiet_start is None else str(quiet_start),
        quiet_end=None if quiet_end is None else str(quiet_end), paused_until=opt_ts(paused_until),
        next_checkin_at=opt_ts(next_at), missed=int(str(missed)), slowed=bool(slowed), share_trend=bool(share),
        trend_offered_at=opt_ts(offered), outstanding_id=None if outstanding is None else int(str(outstanding)),
    )


def _schedule_params(s: CheckinSchedule) -> tuple[object, ...]:
    return (s.member_id, s.frequency, ",".join(str(d) for d in s.days), s.local_time, s.timezone, s.quiet_start,
            s.quiet_end, ts(s.paused_until) if s.paused_until else None,
            ts(s.next_checkin_at) if s.next_checkin_at else None, s.missed, int(s.slowed), int(s.share_trend),
            ts(s.trend_offered_at) if s.trend_offered_at else None, s.outstanding_id)


_UPSERT = (
    "INSERT INTO checkin_schedules (member_id, frequency, days, local_time, timezone, quiet_start, quiet_end,"
    " paused_until, next_checkin_at, missed, slowed, share_trend, trend_offered_at, outstanding_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET"
    " frequency = excluded.frequency, days = excluded.days, local_time = excluded.local_time,"
    " timezone = excluded.timezone, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,"
    " paused_until = excluded.paused_until, next_checkin_at = excluded.next_checkin_at, missed = excluded.missed,"
    " slowed = excluded.slowed, share_trend = excluded.share_trend, trend_offered_at = excluded.trend_offered_at,"
    " outstanding_id = excluded.outstanding_id"
)


def _checkin(row: aiosqlite.Row | tuple[object, ...]) -> Checkin:
    cid, member_id, due, sent, answered, mood, skipped, note = row
    return Checkin(id=int(str(cid)), member_id=int(str(member_id)), due_at=parse_ts(str(due)),
                   sent_at=parse_ts(str(sent)), answered_at=opt_ts(answered),
                   mood=None if mood is None else int(str(mood)), skipped=bool(skipped),
                   note=None if note is None else str(note))


class Checkins:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def schedule(self, member_id: int) -> CheckinSchedule | None:
        async with self._db.execute(
            f"SELECT {_SCHEDULE} FROM checkin_schedules s WHERE s.member_id = ?", (member_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _schedule(row) if row else None

    async def save_schedule(self, schedule: CheckinSchedule) -> None:
        await self._db.execute(_UPSERT, _schedule_params(schedule))

    async def delete_schedule(self, member_id: int) -> None:
        await self._db.execute("DELETE FROM checkin_schedules WHERE member_id = ?", (member_id,))

    async def due(self, now: datetime, limit: int) -> list[DueCheckin]:
        async with self._db.execute(
            f"SELECT {_SCHEDULE}, i.platform, i.workspace, i.user_id FROM checkin_schedules s"
            " JOIN member_identities i ON i.rowid ="
            "   (SELECT rowid FROM member_identities WHERE member_id = s.member_id LIMIT 1)"
            " WHERE s.next_checkin_at IS NOT NULL AND s.next_checkin_at <= ?"
            " AND (s.paused_until IS NULL OR s.paused_until <= ?)"
            " ORDER BY s.next_checkin_at LIMIT ?",
            (ts(now), ts(now), limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [DueCheckin(_schedule(row), UserRef(str(row[14]), str(row[15]), str(row[16]))) for row in rows]

    async def record_sent(self, sent: list[tuple[CheckinSchedule, datetime]], now: datetime) -> list[int]:
        if not sent:
            return []
        async with self._db.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'checkins'), 0),"
            " COALESCE((SELECT MAX(id) FROM checkins), 0))"
        ) as cursor:
            row = await cursor.fetchone()
        first = (int(row[0]) if row else 0) + 1  # we hold the write lock: these ids are ours, and never reused
        ids = list(range(first, first + len(sent)))
        await self._db.executemany(
            "INSERT INTO checkins (id, member_id, due_at, sent_at) VALUES (?, ?, ?, ?)",
            [(cid, schedule.member_id, ts(due), ts(now)) for cid, (schedule, due) in zip(ids, sent, strict=True)],
        )
        # Sending changes only the follow-up fields of a schedule.
        await self._db.executemany(
            "UPDATE checkin_schedules SET missed = ?, slowed = ?, next_checkin_at = ?, outstanding_id = ?"
            " WHERE member_id = ?",
            [(schedule.missed, int(schedule.slowed), ts(schedule.next_checkin_at) if schedule.next_checkin_at else None,
              cid, schedule.member_id) for cid, (schedule, _) in zip(ids, sent, strict=True)],
        )
        return ids

    async def add(self, member_id: int, now: datetime) -> int:
        cursor = await self._db.execute(
            "INSERT INTO checkins (member_id, due_at, sent_at) VALUES (?, ?, ?)", (member_id, ts(now), ts(now))
        )
        return int(cursor.lastrowid or 0)

    async def next_due(self) -> datetime | None:
        async with self._db.execute(
            "SELECT MIN(CASE WHEN paused_until > next_checkin_at THEN paused_until ELSE next_checkin_at END)"
            " FROM checkin_schedules WHERE next_checkin_at IS NOT NULL"
        ) as cursor:
            row = await cursor.fetchone()
        return opt_ts(row[0]) if row else None

    async def get(self, checkin_id: int) -> Checkin | None:
        async with self._db.execute(f"SELECT {_CHECKIN} FROM checkins WHERE id = ?", (checkin_id,)) as cursor:
            row = await cursor.fetchone()
        return _checkin(row) if row else None

    async def answer(self, checkin_id: int, mood: int | None, skipped: bool, now: datetime) -> None:
        await self._db.execute(
            "UPDATE checkins SET answered_at = ?, mood = ?, skipped = ? WHERE id = ?",
            (ts(now), mood, int(skipped), checkin_id),
        )

    async def set_note(self, checkin_id: int, note: str) -> None:
        await self._db.execute("UPDATE checkins SET note = ? WHERE id = ?", (note, checkin_id))

    async def recent(self, member_id: int, limit: int) -> list[Checkin]:
        async with self._db.execute(
            f"SELECT {_CHECKIN} FROM checkins WHERE member_id = ? ORDER BY sent_at DESC, id DESC LIMIT ?",
            (member_id, limit),
        ) as cursor:
            return [_checkin(row) for row in await cursor.fetchall()]

