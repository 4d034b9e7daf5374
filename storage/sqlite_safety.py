"""SQLite tables of the safety journey: escalations, their audit trail, and moderator reach-out conversations.

Methods run inside a store transaction (the caller holds the write lock).
"""

from __future__ import annotations

import json
from datetime import datetime

import aiosqlite

from bot.events import OutboundAction, action_from_dict, action_to_dict
from bot.store import AuditEntry, Escalation, EscalationState, NewEscalation, Outreach
from storage.timefmt import opt_ts, parse_ts, ts

_COLUMNS = (
    "id, platform, workspace, subject_key, subject_label, state, severity, categories, location, excerpt,"
    " message_count, opened_at, last_message_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by,"
    " repage_count, next_repage_at, breached, alert_key, held_action"
)


def _escalation(row: aiosqlite.Row | tuple[object, ...]) -> Escalation:
    (eid, platform, workspace, subject_key, label, state, severity, categories, location, excerpt, count,
     opened, last, acked, acked_by, resolved, resolved_by, repages, next_repage, breached, alert_key, held) = row
    return Escalation(
        id=int(str(eid)), platform=str(platform), workspace=str(workspace),
        subject_key=None if subject_key is None else str(subject_key), subject_label=str(label),
        state=EscalationState(str(state)), severity=str(severity),
        categories=tuple(c for c in str(categories).split(",") if c), location=str(location),
        excerpt=None if excerpt is None else str(excerpt), message_count=int(str(count)),
        opened_at=parse_ts(str(opened)), last_message_at=parse_ts(str(last)), acknowledged_at=opt_ts(acked),
        acknowledged_by=None if acked_by is None else str(acked_by), resolved_at=opt_ts(resolved),
        resolved_by=None if resolved_by is None else str(resolved_by), repage_count=int(str(repages)),
        next_repage_at=opt_ts(next_repage), breached=bool(breached),
        alert_key=None if alert_key is None else str(alert_key),
        held=tuple((str(key), action_from_dict(action)) for key, action in json.loads(str(held))) if held else (),
    )


class Escalations:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def _one(self, sql: str, params: tuple[object, ...]) -> Escalation | None:
        async with self._db.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return _escalation(row) if row else None

    async def _many(self, sql: str, params: tuple[object, ...]) -> list[Escalation]:
        async with self._db.execute(sql, params) as cursor:
            return [_escalation(row) for row in await cursor.fetchall()]

    async def create(self, new: NewEscalation, now: datetime) -> Escalation:
        cursor = await self._db.execute(
            "INSERT INTO escalations (platform, workspace, subject_key, subject_label, state, severity, categories,"
            " location, excerpt, opened_at, last_message_at, next_repage_at)"
            " VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)",
            (new.platform, new.workspace, new.subject_key, new.subject_label, new.severity,
             ",".join(new.categories), new.location, new.excerpt, ts(now), ts(now), ts(new.next_repage_at)),
        )
        created = await self.get(int(cursor.lastrowid or 0))
        assert created is not None
        return created

    async def get(self, escalation_id: int) -> Escalation | None:
        return await self._one(f"SELECT {_COLUMNS} FROM escalations WHERE id = ?", (escalation_id,))

    async def active_for(self, subject_key: str, since: datetime) -> Escalation | None:
        return await self._one(
            f"SELECT {_COLUMNS} FROM escalations WHERE subject_key = ? AND state != 'resolved'"
            " AND last_message_at >= ? ORDER BY id DESC LIMIT 1",
            (subject_key, ts(since)),
        )

    async def join(self, escalation_id: int, severity: str, categories: tuple[str, ...], excerpt: str | None,
                   now: datetime) -> None:
        await self._db.execute(
            "UPDATE escalations SET message_count = message_count + 1, last_message_at = ?, severity = ?,"
            " categories = ?, excerpt = COALESCE(?, excerpt) WHERE id = ?",
            (ts(now), severity, ",".join(categories), excerpt, escalation_id),
        )

    async def set_alert_key(self, escalation_id: int, key: str) -> None:
        await self._db.execute("UPDATE escalations SET alert_key = ? WHERE id = ?", (key, escalation_id))

    async def set_state(self, escalation_id: int, state: EscalationState, actor: str, now: datetime) -> None:
        if state is EscalationState.ACKNOWLEDGED:
            sql = ("UPDATE escalations SET state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?,"
                   " next_repage_at = NULL WHERE id = ?")
        elif state is EscalationState.RESOLVED:
            sql = ("UPDATE escalations SET state = 'resolved', resolved_at = ?, resolved_by = ?,"
                   " next_repage_at = NULL WHERE id = ?")
        else:
            raise ValueError("a case cannot be set back to open")
        await self._db.execute(sql, (ts(now), actor, escalation_id))

    async def due_for_repage(self, now: datetime, limit: int) -> list[Escalation]:
        return await self._many(
            f"SELECT {_COLUMNS} FROM escalations WHERE next_repage_at IS NOT NULL AND next_repage_at <= ?"
            " AND state = 'open' ORDER BY next_repage_at LIMIT ?",
            (ts(now), limit),
        )

    async def record_repage(self, escalation_id: int, repage_count: int, next_repage_at: datetime | None,
                            breached: bool) -> None:
        await self._db.execute(
            "UPDATE escalations SET repage_count = ?, next_repage_at = ?, breached = ? WHERE id = ?",
            (repage_count, ts(next_repage_at) if next_repage_at else None, int(breached), escalation_id),
        )

    async def next_repage_due(self) -> datetime | None:
        async with self._db.execute(
            "SELECT MIN(next_repage_at) FROM escalations WHERE state = 'open' AND next_repage_at IS NOT NULL"
        ) as cursor:
            row = await cursor.fetchone()
        return opt_ts(row[0]) if row else None

    async def hold(self, escalation_id: int, key: str, action: OutboundAction) -> None:
        case = await self.get(escalation_id)
        held = [[k, action_to_dict(a)] for k, a in (case.held if case else ())] + [[key, action_to_dict(action)]]
        await self._db.execute("UPDATE escalations SET held_action = ? WHERE id = ?", (json.dumps(held), escalation_id))

    async def clear_held(self, escalation_id: int) -> None:
        await self._db.execute("UPDATE escalations SET held_action = NULL WHERE id = ?", (escalation_id,))

    async def audit(self, escalation_id: int, action: str, actor: str, now: datetime,
                    detail: str | None = None) -> None:
        await self._db.execute(
            "INSERT INTO escalation_audit (escalation_id, at, action, actor, detail) VALUES (?, ?, ?, ?, ?)",
            (escalation_id, ts(now), action, actor, detail),
        )

    async def audit_trail(self, escalation_id: int) -> list[AuditEntry]:
        async with self._db.execute(
            "SELECT escalation_id, at, action, actor, detail FROM escalation_audit WHERE escalation_id = ?"
            " ORDER BY id", (escalation_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [AuditEntry(int(r[0]), parse_ts(r[1]), r[2], r[3], r[4]) for r in rows]

    async def unresolved(self) -> list[Escalation]:
        return await self._many(
            f"SELECT {_COLUMNS} FROM escalations WHERE state != 'resolved' ORDER BY id", ()
        )

    async def opened_since(self, since: datetime) -> list[Escalation]:
        return await self._many(
            f"SELECT {_COLUMNS} FROM escalations WHERE opened_at >= ? ORDER BY id", (ts(since),)
        )


class OutreachTable:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def open(self, escalation_id: int, moderator_key: str, subject_key: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO outreach (escalation_id, moderator_key, subject_key, opened_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (escalation_id) DO UPDATE SET moderator_key = excluded.moderator_key",
            (escalation_id, moderator_key, subject_key, ts(now)),
        )

    async def _one(self, where: str, param: object) -> Outreach | None:
        async with self._db.execute(
            f"SELECT escalation_id, moderator_key, subject_key FROM outreach WHERE {where}"
            " ORDER BY opened_at DESC LIMIT 1", (param,),
        ) as cursor:
            row = await cursor.fetchone()
        return Outreach(int(row[0]), str(row[1]), str(row[2])) if row else None

    async def for_escalation(self, escalation_id: int) -> Outreach | None:
        return await self._one("escalation_id = ?", escalation_id)

    async def for_subject(self, subject_key: str) -> Outreach | None:
        return await self._one("subject_key = ?", subject_key)

    async def close(self, escalation_id: int) -> None:
        await self._db.execute("DELETE FROM outreach WHERE escalation_id = ?", (escalation_id,))
