"""SQLite tables of program evaluation: survey settings and answers, anonymous suggestions, the weekly activity
record, and the read-only queries behind the report's figures (member-level facts, aggregated in `bot.evaluation`).

Methods run inside a store transaction (the caller holds the lock).
"""

from __future__ import annotations

from datetime import date, datetime

import aiosqlite

from bot.events import UserRef
from bot.store import (
    SURVEY_ITEMS,
    EscalationFacts,
    MemberFacts,
    PairingFacts,
    PostFacts,
    Survey,
    SurveyFacts,
    SurveySettings,
    SurveyState,
)
from storage.timefmt import opt_ts, parse_ts, ts

_ANSWER_COLUMNS = ("who5_1", "who5_2", "who5_3", "who5_4", "who5_5", "burnout", "satisfaction", "pair_satisfaction")
_SURVEY = "id, member_id, kind, state, items, position, offered_at, completed_at, " + ", ".join(_ANSWER_COLUMNS)


def _survey(row: aiosqlite.Row | tuple[object, ...]) -> Survey:
    sid, member_id, kind, state, items, position, offered, completed, *answers = row
    return Survey(
        id=int(str(sid)), member_id=int(str(member_id)), kind=str(kind), state=SurveyState(str(state)),
        items=tuple(i for i in str(items).split(",") if i), position=int(str(position)),
        offered_at=parse_ts(str(offered)), completed_at=opt_ts(completed),
        answers=tuple((name, int(str(value))) for name, value in zip(_ANSWER_COLUMNS, answers, strict=True)
                      if value is not None),
    )


class Surveys:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def settings(self, member_id: int) -> SurveySettings | None:
        async with self._db.execute(
            "SELECT declined_at, next_survey_at FROM survey_settings WHERE member_id = ?", (member_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return SurveySettings(member_id, opt_ts(row[0]), opt_ts(row[1])) if row else None

    async def save_settings(self, settings: SurveySettings) -> None:
        await self._db.execute(
            "INSERT INTO survey_settings (member_id, declined_at, next_survey_at) VALUES (?, ?, ?)"
            " ON CONFLICT (member_id) DO UPDATE SET declined_at = excluded.declined_at,"
            " next_survey_at = excluded.next_survey_at",
            (settings.member_id, ts(settings.declined_at) if settings.declined_at else None,
             ts(settings.next_survey_at) if settings.next_survey_at else None),
        )

    async def create(self, member_id: int, kind: str, items: tuple[str, ...], now: datetime) -> Survey:
        cursor = await self._db.execute(
            "INSERT INTO surveys (member_id, kind, state, items, offered_at) VALUES (?, ?, 'offered', ?, ?)",
            (member_id, kind, ",".join(items), ts(now)),
        )
        created = await self.get(int(cursor.lastrowid or 0))
        assert created is not None
        return created

    async def get(self, survey_id: int) -> Survey | None:
        async with self._db.execute(f"SELECT {_SURVEY} FROM surveys WHERE id = ?", (survey_id,)) as cursor:
            row = await cursor.fetchone()
        return _survey(row) if row else None

    async def open_for(self, member_id: int) -> Survey | None:
        async with self._db.execute(
            f"SELECT {_SURVEY} FROM surveys WHERE member_id = ? AND state IN ('offered', 'answering')"
            " ORDER BY id DESC LIMIT 1", (member_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _survey(row) if row else None

    async def record_answer(self, survey_id: int, item: str, value: int | None, position: int) -> None:
        if value is not None:
            if item not in SURVEY_ITEMS:
                raise ValueError(f"not a survey item: {item!r}")
            await self._db.execute(f"UPDATE surveys SET {item} = ?, position = ? WHERE id = ?",
                                   (value, position, survey_id))
        else:
            await self._db.execute("UPDATE surveys SET position = ? WHERE id = ?", (position, survey_id))

    async def set_state(self, survey_id: int, state: SurveyState, now: datetime) -> None:
        await self._db.execute(
            "UPDATE surveys SET state = ?, completed_at = CASE WHEN ? = 'completed' THEN ? ELSE completed_at END"
            " WHERE id = ?", (state.value, state.value, ts(now), survey_id),
        )

    async def by_member(self, member_id: int) -> list[Survey]:
        async with self._db.execute(
            f"SELECT {_SURVEY} FROM surveys WHERE member_id = ? ORDER BY id", (member_id,)
        ) as cursor:
            return [_survey(row) for row in await cursor.fetchall()]

    async def due(self, now: datetime, limit: int) -> list[tuple[int, UserRef]]:
        # Members who finished onboarding before surveys existed (or were switched on) have no settings yet.
        async with self._db.execute(
            "SELECT d.member_id, i.platform, i.workspace, i.user_id FROM ("
            "   SELECT member_id, next_survey_at AS due FROM survey_settings"
            "   WHERE next_survey_at IS NOT NULL AND next_survey_at <= ? AND declined_at IS NULL"
            "   UNION ALL SELECT m.id, m.joined_at FROM members m WHERE m.onboarding_step = 'done'"
            "   AND NOT EXISTS (SELECT 1 FROM survey_settings s WHERE s.member_id = m.id)) d"
            " JOIN member_identities i ON i.rowid ="
            "   (SELECT rowid FROM member_identities WHERE member_id = d.member_id LIMIT 1)"
            " ORDER BY d.due LIMIT ?", (ts(now), limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(int(str(r[0])), UserRef(str(r[1]), str(r[2]), str(r[3]))) for r in rows]

    async def next_due(self) -> datetime | None:
        async with self._db.execute(
            "SELECT MIN(due) FROM (SELECT MIN(next_survey_at) AS due FROM survey_settings"
            " WHERE next_survey_at IS NOT NULL AND declined_at IS NULL"
            " UNION ALL SELECT MIN(m.joined_at) FROM members m WHERE m.onboarding_step = 'done'"
            " AND NOT EXISTS (SELECT 1 FROM survey_settings s WHERE s.member_id = m.id))"
        ) as cursor:
            row = await cursor.fetchone()
        return opt_ts(row[0]) if row else None

    async def add_suggestion(self, week: date, text: str) -> None:
        # A random row id: the order of suggestions says nothing about the order their authors answered in.
        await self._db.execute(
            "INSERT INTO survey_suggestions (id, week, text) VALUES (abs(random()), ?, ?)", (week.isoformat(), text)
        )


class Activity:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def record(self, member_id: int, week: date, kind: str) -> None:
        await self._db.execute(
            "INSERT INTO activity (member_id, week, kind, count) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (member_id, week, kind) DO UPDATE SET count = count + 1",
            (member_id, week.isoformat(), kind),
        )

    async def pairing_started(self, pairing_id: int, requested_at: datetime) -> None:
        await self._db.execute("INSERT INTO pairing_waits (pairing_id, requested_at) VALUES (?, ?)"
                               " ON CONFLICT (pairing_id) DO NOTHING", (pairing_id, ts(requested_at)))


class EvaluationQueries:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        async with self._db.execute(sql, params) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def members(self, until: datetime) -> list[MemberFacts]:
        rows = await self._rows(
            "SELECT m.id, COALESCE((SELECT platform FROM member_identities WHERE member_id = m.id LIMIT 1), ''),"
            " m.topics, m.role, m.joined_at FROM members m WHERE m.joined_at < ? ORDER BY m.id", (ts(until),))
        return [MemberFacts(int(str(r[0])), str(r[1]), tuple(t for t in str(r[2]).split(",") if t),
                            None if r[3] is None else str(r[3]), parse_ts(str(r[4]))) for r in rows]

    async def activity(self, first_week: date, last_week: date) -> list[tuple[int, date, str, int]]:
        rows = await self._rows("SELECT member_id, week, kind, count FROM activity WHERE week BETWEEN ? AND ?",
                                (first_week.isoformat(), last_week.isoformat()))
        weeks: dict[str, date] = {}
        return [(int(str(r[0])), weeks.setdefault(str(r[1]), date.fromisoformat(str(r[1]))), str(r[2]),
                 int(str(r[3]))) for r in rows]

    async def checkin_counts(self, start: datetime, end: datetime) -> dict[int, tuple[int, int]]:
        rows = await self._rows(
            "SELECT member_id, COUNT(*), COUNT(answered_at) FROM checkins WHERE sent_at >= ? AND sent_at < ?"
            " GROUP BY member_id", (ts(start), ts(end)))
        return {int(str(r[0])): (int(str(r[1])), int(str(r[2]))) for r in rows}

    async def surveys(self, until: datetime) -> list[SurveyFacts]:
        rows = await self._rows(
            "SELECT member_id, kind, completed_at, " + ", ".join(_ANSWER_COLUMNS) + " FROM surveys"
            " WHERE state = 'completed' AND completed_at < ? ORDER BY completed_at, id", (ts(until),))
        found = []
        for member_id, kind, completed, w1, w2, w3, w4, w5, burnout, satisfaction, pair in rows:
            who5 = tuple(int(str(v)) for v in (w1, w2, w3, w4, w5) if v is not None)
            found.append(SurveyFacts(
                int(str(member_id)), str(kind), parse_ts(str(completed)), who5 if len(who5) == 5 else (),
                None if burnout is None else int(str(burnout)),
                None if satisfaction is None else int(str(satisfaction)), None if pair is None else int(str(pair))))
        return found

    async def posts(self, start: datetime, end: datetime) -> list[PostFacts]:
        rows = await self._rows(
            "SELECT member_id, topic, parent_id IS NOT NULL FROM group_posts WHERE created_at >= ? AND created_at < ?",
            (ts(start), ts(end)))
        return [PostFacts(None if r[0] is None else int(str(r[0])), str(r[1]), bool(r[2])) for r in rows]

    async def suggestions(self, first_week: date, last_week: date) -> list[str]:
        rows = await self._rows("SELECT text FROM survey_suggestions WHERE week BETWEEN ? AND ? ORDER BY text",
                                (first_week.isoformat(), last_week.isoformat()))
        return [str(r[0]) for r in rows]

    async def escalations(self, start: datetime, end: datetime) -> list[EscalationFacts]:
        rows = await self._rows(
            "SELECT severity, categories, opened_at, acknowledged_at, repage_count, breached, state, subject_key,"
            " id, platform FROM escalations WHERE opened_at >= ? AND opened_at < ? ORDER BY id", (ts(start), ts(end)))
        subjects: dict[str, int] = {}
        found = []
        for severity, categories, opened, acked, repages, breached, state, subject, case_id, platform in rows:
            # Cases of one person share a stand-in; a forgotten person's cases each count as someone new.
            stand_in = subjects.setdefault(str(subject), len(subjects)) if subject is not None else -int(str(case_id))
            found.append(EscalationFacts(
                str(severity), tuple(c for c in str(categories).split(",") if c), parse_ts(str(opened)),
                opt_ts(acked), int(str(repages)), bool(breached), str(state) == "resolved", stand_in, str(platform)))
        return found

    async def pairing(self, start: datetime, end: datetime) -> list[PairingFacts]:
        facts = [PairingFacts("request", int(str(r[0])), None, parse_ts(str(r[1])), None, None)
                 for r in await self._rows("SELECT member_id, requested_at FROM pair_requests")]
        for mentee, mentor, started, ended, reason, requested, score in await self._rows(
                "SELECT p.mentee_id, p.mentor_id, p.started_at, p.ended_at, p.end_reason, w.requested_at,"
                " (SELECT AVG(score) FROM pairing_feedback f WHERE f.pairing_id = p.id AND f.score IS NOT NULL)"
                " FROM pairings p LEFT JOIN pairing_waits w ON w.pairing_id = p.id"
                " WHERE p.started_at < ? AND (p.ended_at IS NULL OR p.ended_at >= ?)"
                "    OR p.started_at >= ? AND p.started_at < ?", (ts(end), ts(start), ts(start), ts(end))):
            started_at = parse_ts(str(started))
            if requested is not None:
                facts.append(PairingFacts("request", int(str(mentee)), int(str(mentor)), parse_ts(str(requested)),
                                          started_at, None))
            facts.append(PairingFacts("pairing", int(str(mentee)), int(str(mentor)), started_at, opt_ts(ended),
                                      None if reason is None else str(reason),
                                      score=None if score is None else round(float(str(score)))))
        facts += [PairingFacts("mentor", int(str(r[0])), int(str(r[0])), opt_ts(r[2]), None, None,
                               capacity=int(str(r[1])))
                  for r in await self._rows("SELECT member_id, capacity, decided_at FROM mentors"
                                            " WHERE status = 'approved'")]
        return facts
