"""SQLite tables of mentor pairing: mentor offers, requests and the waitlist, proposals, pairings, follow-up
feedback, relay drafts, anonymous program figures and the audit of state changes.

Methods run inside a store transaction (the caller holds the write lock).
"""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from bot.store import (
    MentorLoad,
    MentorOffer,
    MentorStatus,
    PairingAuditEntry,
    PairingFeedback,
    PairingState,
    PairRequest,
    Proposal,
    ProposalState,
)
from bot.store import Pairing as PairingRow
from storage.timefmt import opt_ts, parse_ts, ts

_MENTOR = ("m.member_id, m.status, m.topics, m.languages, m.timezone, m.capacity, m.availability, m.intro,"
           " m.offered_at, m.decided_at, m.decided_by, m.last_new_mentee_at, m.alert_key")
_PROPOSAL = "id, mentee_id, mentor_id, state, shared_topics, tz_hours_apart, created_at, expires_at, decided_at"
_PAIRING = ("id, mentee_id, mentor_id, state, shared_topics, started_at, ended_at, ended_by, end_reason,"
            " mentee_shares, mentor_shares, followup_at")
_FEEDBACK = "id, pairing_id, member_id, side, asked_at, answered_at, score, note"
_OPEN = ("'asked_mentor', 'mentor_accepted'")
_RECORD_COLUMNS = {"mentor": "mentor_id", "proposal": "proposal_id", "pairing": "pairing_id"}


def _split(value: object) -> tuple[str, ...]:
    return tuple(part for part in str(value).split(",") if part)


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _mentor(row: aiosqlite.Row | tuple[object, ...]) -> MentorOffer:
    (member_id, status, topics, languages, timezone, capacity, availability, intro, offered, decided, decided_by,
     last_new, alert_key) = row[:13]
    return MentorOffer(
        member_id=int(str(member_id)), status=MentorStatus(str(status)), topics=_split(topics),
        languages=_split(languages), timezone=str(timezone), capacity=int(str(capacity)),
        availability=str(availability), intro=str(intro), offered_at=parse_ts(str(offered)),
        decided_at=opt_ts(decided), decided_by=_opt(decided_by), last_new_mentee_at=opt_ts(last_new),
        alert_key=_opt(alert_key),
    )


def _proposal(row: aiosqlite.Row | tuple[object, ...]) -> Proposal:
    pid, mentee, mentor, state, topics, apart, created, expires, decided = row
    return Proposal(id=int(str(pid)), mentee_id=int(str(mentee)), mentor_id=int(str(mentor)),
                    state=ProposalState(str(state)), shared_topics=_split(topics),
                    tz_hours_apart=None if apart is None else float(str(apart)), created_at=parse_ts(str(created)),
                    expires_at=opt_ts(expires), decided_at=opt_ts(decided))


def _pairing(row: aiosqlite.Row | tuple[object, ...]) -> PairingRow:
    pid, mentee, mentor, state, topics, started, ended, ended_by, reason, mentee_shares, mentor_shares, followup = row
    return PairingRow(id=int(str(pid)), mentee_id=int(str(mentee)), mentor_id=int(str(mentor)),
                      state=PairingState(str(state)), shared_topics=_split(topics), started_at=parse_ts(str(started)),
                      ended_at=opt_ts(ended), ended_by=_opt(ended_by), end_reason=_opt(reason),
                      mentee_shares=bool(mentee_shares), mentor_shares=bool(mentor_shares),
                      followup_at=opt_ts(followup))


def _feedback(row: aiosqlite.Row | tuple[object, ...]) -> PairingFeedback:
    fid, pairing_id, member_id, side, asked, answered, score, note = row
    return PairingFeedback(id=int(str(fid)), pairing_id=int(str(pairing_id)), member_id=int(str(member_id)),
                           side=str(side), asked_at=parse_ts(str(asked)), answered_at=opt_ts(answered),
                           score=None if score is None else int(str(score)), note=_opt(note))


class Pairing:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def _rows(self, sql: str, params: tuple[object, ...]) -> list[aiosqlite.Row]:
        async with self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _row(self, sql: str, params: tuple[object, ...]) -> aiosqlite.Row | None:
        async with self._db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    # -- mentors

    async def mentor(self, member_id: int) -> MentorOffer | None:
        row = await self._row(f"SELECT {_MENTOR} FROM mentors m WHERE m.member_id = ?", (member_id,))
        return _mentor(row) if row else None

    async def save_mentor(self, offer: MentorOffer) -> None:
        await self._db.execute(
            "INSERT INTO mentors (member_id, status, topics, languages, timezone, capacity, availability, intro,"
            " offered_at, decided_at, decided_by, last_new_mentee_at, alert_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET"
            " status = excluded.status, topics = excluded.topics, languages = excluded.languages,"
            " timezone = excluded.timezone, capacity = excluded.capacity, availability = excluded.availability,"
            " intro = excluded.intro, offered_at = excluded.offered_at, decided_at = excluded.decided_at,"
            " decided_by = excluded.decided_by, last_new_mentee_at = excluded.last_new_mentee_at,"
            " alert_key = excluded.alert_key",
            (offer.member_id, offer.status.value, ",".join(offer.topics), ",".join(offer.languages), offer.timezone,
             offer.capacity, offer.availability, offer.intro, ts(offer.offered_at),
             ts(offer.decided_at) if offer.decided_at else None, offer.decided_by,
             ts(offer.last_new_mentee_at) if offer.last_new_mentee_at else None, offer.alert_key),
        )

    async def mentors_with_load(self, status: MentorStatus) -> list[MentorLoad]:
        rows = await self._rows(
            f"SELECT {_MENTOR},"
            " (SELECT COUNT(*) FROM pairings p WHERE p.mentor_id = m.member_id AND p.state = 'active')"
            f" + (SELECT COUNT(*) FROM proposals q WHERE q.mentor_id = m.member_id AND q.state IN ({_OPEN}))"
            " FROM mentors m WHERE m.status = ? ORDER BY m.member_id",
            (status.value,),
        )
        return [MentorLoad(_mentor(row), int(str(row[13]))) for row in rows]

    async def mentor_counts(self) -> dict[MentorStatus, int]:
        rows = await self._rows("SELECT status, COUNT(*) FROM mentors GROUP BY status", ())
        found = {MentorStatus(str(r[0])): int(str(r[1])) for r in rows}
        return {status: found.get(status, 0) for status in MentorStatus}

    # -- requests and the waitlist

    async def request(self, member_id: int) -> PairRequest | None:
        row = await self._row("SELECT member_id, topics, note, requested_at, waiting FROM pair_requests"
                              " WHERE member_id = ?", (member_id,))
        return None if row is None else PairRequest(int(str(row[0])), _split(row[1]), _opt(row[2]),
                                                    parse_ts(str(row[3])), bool(row[4]))

    async def save_request(self, request: PairRequest) -> None:
        await self._db.execute(
            "INSERT INTO pair_requests (member_id, topics, note, requested_at, waiting) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (member_id) DO UPDATE SET topics = excluded.topics, note = excluded.note,"
            " requested_at = excluded.requested_at, waiting = excluded.waiting",
            (request.member_id, ",".join(request.topics), request.note, ts(request.requested_at),
             int(request.waiting)),
        )

    async def delete_request(self, member_id: int) -> None:
        await self._db.execute("DELETE FROM pair_requests WHERE member_id = ?", (member_id,))

    async def waiting(self, limit: int) -> list[PairRequest]:
        rows = await self._rows("SELECT member_id, topics, note, requested_at, waiting FROM pair_requests"
                                " WHERE waiting = 1 ORDER BY requested_at, member_id LIMIT ?", (limit,))
        return [PairRequest(int(str(r[0])), _split(r[1]), _opt(r[2]), parse_ts(str(r[3])), True) for r in rows]

    # -- proposals

    async def add_proposal(self, mentee_id: int, mentor_id: int, shared_topics: tuple[str, ...],
                           tz_hours_apart: float | None, expires_at: datetime, now: datetime) -> Proposal:
        cursor = await self._db.execute(
            "INSERT INTO proposals (mentee_id, mentor_id, state, shared_topics, tz_hours_apart, created_at,"
            " expires_at) VALUES (?, ?, 'asked_mentor', ?, ?, ?, ?)",
            (mentee_id, mentor_id, ",".join(shared_topics), tz_hours_apart, ts(now), ts(expires_at)),
        )
        created = await self.proposal(int(cursor.lastrowid or 0))
        assert created is not None
        return created

    async def proposal(self, proposal_id: int) -> Proposal | None:
        row = await self._row(f"SELECT {_PROPOSAL} FROM proposals WHERE id = ?", (proposal_id,))
        return _proposal(row) if row else None

    async def set_proposal_state(self, proposal_id: int, state: ProposalState, now: datetime,
                                 expires_at: datetime | None = None) -> None:
        await self._db.execute(
            "UPDATE proposals SET state = ?, decided_at = ?, expires_at = ? WHERE id = ?",
            (state.value, ts(now), ts(expires_at) if expires_at else None, proposal_id),
        )

    async def open_proposal_of_mentee(self, mentee_id: int) -> Proposal | None:
        row = await self._row(f"SELECT {_PROPOSAL} FROM proposals WHERE mentee_id = ? AND state IN ({_OPEN})"
                              " ORDER BY id DESC LIMIT 1", (mentee_id,))
        return _proposal(row) if row else None

    async def open_proposals_of_mentor(self, mentor_id: int) -> list[Proposal]:
        rows = await self._rows(f"SELECT {_PROPOSAL} FROM proposals WHERE mentor_id = ? AND state IN ({_OPEN})"
                                " ORDER BY id", (mentor_id,))
        return [_proposal(r) for r in rows]

    async def mentors_asked_since(self, mentee_id: int, since: datetime) -> set[int]:
        rows = await self._rows("SELECT DISTINCT mentor_id FROM proposals WHERE mentee_id = ? AND created_at >= ?",
                                (mentee_id, ts(since)))
        return {int(str(r[0])) for r in rows}

    async def expired_proposals(self, now: datetime, limit: int) -> list[Proposal]:
        rows = await self._rows(f"SELECT {_PROPOSAL} FROM proposals WHERE expires_at IS NOT NULL AND expires_at <= ?"
                                " ORDER BY expires_at, id LIMIT ?", (ts(now), limit))
        return [_proposal(r) for r in rows]

    async def next_expiry(self) -> datetime | None:
        row = await self._row("SELECT MIN(expires_at) FROM proposals WHERE expires_at IS NOT NULL", ())
        return opt_ts(row[0]) if row else None

    # -- pairings

    async def add_pairing(self, mentee_id: int, mentor_id: int, shared_topics: tuple[str, ...], now: datetime,
                          followup_at: datetime) -> PairingRow:
        cursor = await self._db.execute(
            "INSERT INTO pairings (mentee_id, mentor_id, state, shared_topics, started_at, followup_at)"
            " VALUES (?, ?, 'active', ?, ?, ?)",
            (mentee_id, mentor_id, ",".join(shared_topics), ts(now), ts(followup_at)),
        )
        created = await self.pairing(int(cursor.lastrowid or 0))
        assert created is not None
        return created

    async def pairing(self, pairing_id: int) -> PairingRow | None:
        row = await self._row(f"SELECT {_PAIRING} FROM pairings WHERE id = ?", (pairing_id,))
        return _pairing(row) if row else None

    async def active_pairings_of(self, member_id: int) -> list[PairingRow]:
        rows = await self._rows(f"SELECT {_PAIRING} FROM pairings WHERE state = 'active'"
                                " AND (mentee_id = ? OR mentor_id = ?) ORDER BY id", (member_id, member_id))
        return [_pairing(r) for r in rows]

    async def pairings_of(self, member_id: int) -> list[PairingRow]:
        rows = await self._rows(f"SELECT {_PAIRING} FROM pairings WHERE mentee_id = ? OR mentor_id = ? ORDER BY id",
                                (member_id, member_id))
        return [_pairing(r) for r in rows]

    async def end_pairing(self, pairing_id: int, ended_by: str, reason: str, now: datetime) -> None:
        await self._db.execute(
            "UPDATE pairings SET state = 'ended', ended_at = ?, ended_by = ?, end_reason = ?, followup_at = NULL"
            " WHERE id = ?", (ts(now), ended_by, reason, pairing_id),
        )

    async def set_shares(self, pairing_id: int, side: str) -> None:
        column = {"mentee": "mentee_shares", "mentor": "mentor_shares"}[side]
        await self._db.execute(f"UPDATE pairings SET {column} = 1 WHERE id = ?", (pairing_id,))

    async def former_mentors(self, mentee_id: int) -> set[int]:
        rows = await self._rows("SELECT DISTINCT mentor_id FROM pairings WHERE mentee_id = ?", (mentee_id,))
        return {int(str(r[0])) for r in rows}

    async def due_followups(self, now: datetime, limit: int) -> list[PairingRow]:
        rows = await self._rows(f"SELECT {_PAIRING} FROM pairings WHERE followup_at IS NOT NULL AND followup_at <= ?"
                                " AND state = 'active' ORDER BY followup_at, id LIMIT ?", (ts(now), limit))
        return [_pairing(r) for r in rows]

    async def clear_followup(self, pairing_id: int) -> None:
        await self._db.execute("UPDATE pairings SET followup_at = NULL WHERE id = ?", (pairing_id,))

    async def next_followup(self) -> datetime | None:
        row = await self._row("SELECT MIN(followup_at) FROM pairings WHERE followup_at IS NOT NULL"
                              " AND state = 'active'", ())
        return opt_ts(row[0]) if row else None

    # -- follow-up feedback

    async def add_feedback(self, pairing_id: int, member_id: int, side: str, now: datetime) -> int:
        cursor = await self._db.execute(
            "INSERT INTO pairing_feedback (pairing_id, member_id, side, asked_at) VALUES (?, ?, ?, ?)",
            (pairing_id, member_id, side, ts(now)),
        )
        return int(cursor.lastrowid or 0)

    async def feedback(self, feedback_id: int) -> PairingFeedback | None:
        row = await self._row(f"SELECT {_FEEDBACK} FROM pairing_feedback WHERE id = ?", (feedback_id,))
        return _feedback(row) if row else None

    async def answer_feedback(self, feedback_id: int, score: int, now: datetime) -> None:
        await self._db.execute("UPDATE pairing_feedback SET score = ?, answered_at = ? WHERE id = ?",
                               (score, ts(now), feedback_id))

    async def set_feedback_note(self, feedback_id: int, note: str) -> None:
        await self._db.execute("UPDATE pairing_feedback SET note = ? WHERE id = ?", (note, feedback_id))

    async def feedback_of(self, member_id: int) -> list[PairingFeedback]:
        rows = await self._rows(f"SELECT {_FEEDBACK} FROM pairing_feedback WHERE member_id = ?"
                                " ORDER BY asked_at DESC, id DESC", (member_id,))
        return [_feedback(r) for r in rows]

    # -- relay drafts

    async def save_draft(self, member_id: int, text: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO relay_drafts (member_id, text, created_at) VALUES (?, ?, ?) ON CONFLICT (member_id)"
            " DO UPDATE SET text = excluded.text, created_at = excluded.created_at", (member_id, text, ts(now)),
        )

    async def take_draft(self, member_id: int) -> tuple[str, datetime] | None:
        row = await self._row("DELETE FROM relay_drafts WHERE member_id = ? RETURNING text, created_at",
                              (member_id,))
        return None if row is None else (str(row[0]), parse_ts(str(row[1])))

    async def purge_drafts(self, before: datetime) -> int:
        cursor = await self._db.execute("DELETE FROM relay_drafts WHERE created_at < ?", (ts(before),))
        return max(cursor.rowcount, 0)

    # -- figures and audit

    async def count(self, figure: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO pairing_figures (month, figure, count) VALUES (?, ?, 1)"
            " ON CONFLICT (month, figure) DO UPDATE SET count = count + 1", (now.strftime("%Y-%m"), figure),
        )

    async def figures(self) -> dict[str, int]:
        rows = await self._rows("SELECT figure, SUM(count) FROM pairing_figures GROUP BY figure ORDER BY figure", ())
        return {str(r[0]): int(str(r[1])) for r in rows}

    async def audit(self, record: str, from_state: str | None, to_state: str, actor: str, now: datetime) -> None:
        kind, _, raw_id = record.partition(":")
        column = _RECORD_COLUMNS[kind]
        await self._db.execute(
            f"INSERT INTO pairing_audit (at, {column}, from_state, to_state, actor) VALUES (?, ?, ?, ?, ?)",
            (ts(now), int(raw_id), from_state, to_state, actor),
        )

    async def audit_trail(self, record: str) -> list[PairingAuditEntry]:
        kind, _, raw_id = record.partition(":")
        column = _RECORD_COLUMNS[kind]
        rows = await self._rows(f"SELECT at, from_state, to_state, actor FROM pairing_audit WHERE {column} = ?"
                                " ORDER BY id", (int(raw_id),))
        return [PairingAuditEntry(parse_ts(str(r[0])), record, _opt(r[1]), str(r[2]), str(r[3])) for r in rows]
