"""SQLite tables of check-ins: one schedule per member (the due time indexed) and the check-ins themselves.

The tick's path is batched: the due members are read once, in member order, and each batch is re-checked and
recorded in a handful of statements (`executemany` with plain tuples), with the check-in DMs written to the outbox
in the same transaction from a payload encoded once per batch. Methods run inside a store transaction (the caller
holds the write lock).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

import aiosqlite

from bot.events import OutboundMessage, SendDirect, UserRef, action_to_dict
from bot.store import Checkin, CheckinSchedule, DueCheckin, Priority, SentCheckin
from storage.timefmt import opt_ts, parse_ts, ts

log = logging.getLogger(__name__)

_SCHEDULE = ("s.member_id, s.frequency, s.days, s.local_time, s.timezone, s.quiet_start, s.quiet_end,"
             " s.paused_until, s.next_checkin_at, s.missed, s.slowed, s.share_trend, s.trend_offered_at,"
             " s.outstanding_id")
_CHECKIN = "id, member_id, due_at, sent_at, answered_at, mood, skipped, note"


@functools.lru_cache(maxsize=256)
def _days(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.split(",") if d)


def _schedule(row: Sequence[Any]) -> CheckinSchedule:
    # SQLite hands back int and str already; this runs once per due member in a tick, so no conversions.
    (member_id, frequency, days, local_time, timezone, quiet_start, quiet_end, paused_until, next_at, missed,
     slowed, share, offered, outstanding) = row[:14]
    return CheckinSchedule(
        member_id=member_id, frequency=frequency, days=_days(days) if days else (), local_time=local_time,
        timezone=timezone, quiet_start=quiet_start, quiet_end=quiet_end,
        paused_until=None if paused_until is None else parse_ts(paused_until),
        next_checkin_at=None if next_at is None else parse_ts(next_at), missed=missed, slowed=bool(slowed),
        share_trend=bool(share), trend_offered_at=None if offered is None else parse_ts(offered),
        outstanding_id=outstanding,
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

_DUE = (
    f"SELECT {_SCHEDULE}, i.platform, i.workspace, i.user_id FROM checkin_schedules s"
    " JOIN member_identities i ON i.rowid ="
    "   (SELECT rowid FROM member_identities WHERE member_id = s.member_id LIMIT 1)"
    " WHERE s.member_id IN (SELECT value FROM json_each(?))"
    " AND s.next_checkin_at IS NOT NULL AND s.next_checkin_at <= ?"
    " AND (s.paused_until IS NULL OR s.paused_until <= ?)"
    " ORDER BY s.member_id"
)

# The row `_Outbox.enqueue_many` (storage/sqlite.py) writes for a SendDirect, with the payload given.
_ENQUEUE_DM = (
    "INSERT INTO outbox (idem_key, priority, kind, payload, recipient, next_attempt_at, created_at)"
    " VALUES (?, ?, 'SendDirect', ?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING"
)


def _payload(action: SendDirect) -> str:
    """The generic outbox encoding of an action (as `storage.sqlite._payload`)."""
    return json.dumps(action_to_dict(action), ensure_ascii=False, separators=(",", ":"))


_SAMPLE_ID = 7_391_046_285_113_904  # a check-in id whose digits appear nowhere else in a payload
_SLOTS = ("\x00platform\x00", "\x00workspace\x00", "\x00user\x00")


class DirectMessagePayloads:
    """The outbox payloads of `SendDirect(user, message(id))` for many users and ids, from one encoding.

    The check-in message is the same for everyone except its id, so encoding it field by field through the generic
    encoder for every member is wasted work: this encodes a sample once, with markers where the user's fields and
    the id go, and fills them in per item. It checks itself against the generic encoding at construction and falls
    back to it when the message does not fit the pattern (an id used other than as `str(id)`).
    """

    def __init__(self, message: Callable[[int], OutboundMessage]) -> None:
        self._message = message
        self._pieces: tuple[str, str, str, tuple[str, ...]] | None = None
        self._heads: dict[tuple[str, str], str] = {}
        sample = _payload(SendDirect(UserRef(*_SLOTS), message(_SAMPLE_ID)))
        marks = [encode_basestring(slot) for slot in _SLOTS]
        where = [sample.find(mark) for mark in marks]
        if all(sample.count(mark) == 1 for mark in marks) and where == sorted(where) and str(_SAMPLE_ID) not in (
                sample[:where[2]]):
            first, second = sample.split(marks[0])
            middle, rest = second.split(marks[1])
            before_user, tail = rest.split(marks[2])
            self._pieces = (first, middle, before_user, tuple(tail.split(str(_SAMPLE_ID))))
            checks = ((UserRef("slack", "T0\"x", "U\\1 ü"), 12), (UserRef("disc\\ord\"", "9", "\u2028"), 98_765))
            if any(self(user, cid) != _payload(SendDirect(user, message(cid))) for user, cid in checks):
                self._pieces = None
        if self._pieces is None:
            log.warning("check-in payload template does not match the generic encoding; encoding per item")

    @property
    def templated(self) -> bool:
        """True when payloads are filled into one encoding (False: each is encoded on its own, correct but slow)."""
        return self._pieces is not None

    def __call__(self, user: UserRef, checkin_id: int) -> str:
        if self._pieces is None:
            return _payload(SendDirect(user, self._message(checkin_id)))
        first, middle, before_user, tail = self._pieces
        head = self._heads.get((user.platform, user.workspace))
        if head is None:
            head = self._heads[(user.platform, user.workspace)] = (
                first + encode_basestring(user.platform) + middle + encode_basestring(user.workspace) + before_user)
        return head + encode_basestring(user.user_id) + str(checkin_id).join(tail)


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

    async def due_members(self, now: datetime) -> list[int]:
        # Read from the due index alone (it holds the member id); pauses are checked again in `due`.
        rows = await self._db.execute_fetchall(
            "SELECT member_id FROM checkin_schedules WHERE next_checkin_at IS NOT NULL AND next_checkin_at <= ?"
            " ORDER BY member_id", (ts(now),),
        )
        return [row[0] for row in rows]

    async def due(self, now: datetime, member_ids: Sequence[int]) -> list[DueCheckin]:
        if not member_ids:
            return []
        at = ts(now)
        rows = await self._db.execute_fetchall(_DUE, (json.dumps(list(member_ids)), at, at))
        return [DueCheckin(_schedule(row), UserRef(row[14], row[15], row[16])) for row in rows]

    async def record_sent(self, sent: list[SentCheckin], now: datetime, message: Callable[[int], OutboundMessage],
                          key_prefix: str, priority: Priority) -> list[int]:
        if not sent:
            return []
        rows = await self._db.execute_fetchall(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'checkins'), 0),"
            " COALESCE((SELECT MAX(id) FROM checkins), 0))"
        )
        first = int(next(iter(rows))[0]) + 1  # we hold the write lock: these ids are ours, and never reused
        ids = range(first, first + len(sent))
        at = ts(now)
        times: dict[datetime, str] = {}  # a batch shares a few hundred distinct times: format each once

        def text(when: datetime | None) -> str | None:
            if when is None:
                return None
            found = times.get(when)
            if found is None:
                found = times[when] = ts(when)
            return found

        payload = DirectMessagePayloads(message)
        level = int(priority)
        checkins, schedules, dms = [], [], []
        for cid, item in zip(ids, sent, strict=True):
            user = item.user
            checkins.append((cid, item.member_id, text(item.due_at), at))
            # Sending changes only the follow-up fields of a schedule.
            schedules.append((item.missed, text(item.next_checkin_at), cid, item.member_id))
            dms.append((key_prefix + str(cid), level, payload(user, cid), user.key, at, at))
        await self._db.executemany("INSERT INTO checkins (id, member_id, due_at, sent_at) VALUES (?, ?, ?, ?)",
                                   checkins)
        await self._db.executemany(
            "UPDATE checkin_schedules SET missed = ?, next_checkin_at = ?, outstanding_id = ? WHERE member_id = ?",
            schedules,
        )
        await self._db.executemany(_ENQUEUE_DM, dms)
        return list(ids)

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

