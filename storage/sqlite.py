"""The SQLite implementation of the store (aiosqlite): WAL mode, foreign keys on, numbered migrations at open.

One connection serves the process; write transactions are `BEGIN IMMEDIATE` under an asyncio lock, so a second
process on the same file waits its turn (busy timeout) instead of failing. Claims use a lease column, never
process-local state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources

import aiosqlite

from bot.events import MessageRef, OutboundAction, UserRef, action_from_dict, action_recipient, action_to_dict
from bot.store import OutboxItem, OutboxStatus, Priority, SchemaTooNewError, StoreError
from storage.sqlite_checkins import Checkins
from storage.sqlite_evaluation import Activity, EvaluationQueries, Surveys
from storage.sqlite_members import GroupPosts, Members, ModerationLog, RetentionPurge
from storage.sqlite_pairing import Pairing
from storage.sqlite_safety import Escalations, OutreachTable
from storage.timefmt import parse_ts, ts

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def known_migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every numbered migration shipped with this code, in order."""
    folder = resources.files("storage") / "migrations" / "sqlite"
    found: list[tuple[int, str, str]] = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise StoreError(f"migration numbering has a gap or duplicate at {version:04d}_{name}")
    return found


def _payload(action: OutboundAction) -> str:
    return json.dumps(action_to_dict(action), ensure_ascii=False, separators=(",", ":"))


class _Outbox:
    """Both sides of the outbox: enqueue inside a transaction, claim and settle from the dispatcher."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    @property
    def _db(self) -> aiosqlite.Connection:
        return self._store.db

    # -- inside a transaction (the caller holds the lock)

    async def enqueue(self, key: str, action: OutboundAction, priority: Priority, now: datetime) -> bool:
        return await self.enqueue_many([(key, action, priority)], now) == 1

    async def enqueue_many(self, items: list[tuple[str, OutboundAction, Priority]], now: datetime) -> int:
        rows = []
        created = ts(now)
        for key, action, priority in items:
            recipient = action_recipient(action)
            rows.append((key, int(priority), type(action).__name__, _payload(action),
                         recipient.key if recipient else None, created, created))
        before = self._db.total_changes
        await self._db.executemany(
            "INSERT INTO outbox (idem_key, priority, kind, payload, recipient, next_attempt_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING",
            rows,
        )
        return self._db.total_changes - before

    async def delivered_ref(self, key: str) -> MessageRef | None:
        async with self._db.execute(
            "SELECT ref FROM outbox WHERE idem_key = ? AND status = 'delivered'", (key,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] is None:
            return None
        return MessageRef(**json.loads(row[0]))

    async def cancel_pending_to(self, user: UserRef, now: datetime) -> int:
        key = user.key
        cursor = await self._db.execute(
            "UPDATE outbox SET status = 'cancelled', payload = NULL, finished_at = ?"
            " WHERE recipient = ? AND status = 'pending'",
            (ts(now), key),
        )
        return cursor.rowcount

    # -- the dispatcher's side (each call is its own short transaction)

    async def claim_due(self, now: datetime, limit: int, owner: str, lease_seconds: float) -> list[OutboxItem]:
        lease_until = ts(now + timedelta(seconds=lease_seconds))
        async with self._store.write() as db:
            cursor = await db.execute(
                "UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
                " WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                "   AND (lease_until IS NULL OR lease_until <= ?) ORDER BY priority, id LIMIT ?)"
                " RETURNING id, idem_key, priority, kind, payload, status, attempts, next_attempt_at,"
                "   created_at, last_error",
                (owner, lease_until, ts(now), ts(now), limit),
            )
            rows = await cursor.fetchall()
        items = [self._item(row) for row in rows]
        items.sort(key=lambda item: (item.priority, item.id))
        return items

    async def _settle(self, sql: str, params: tuple[object, ...]) -> None:
        async with self._store.write() as db:
            await db.execute(sql, params)

    async def mark_delivered(self, item_id: int, owner: str, ref: MessageRef | None, now: datetime,
                             then: tuple[str, OutboundAction, Priority] | None = None) -> None:
        ref_json = json.dumps({k: getattr(ref, k) for k in ref.__slots__}) if ref else None
        async with self._store.write() as db:
            cursor = await db.execute(
                "UPDATE outbox SET status = 'delivered', payload = NULL, finished_at = ?, last_error = NULL,"
                # A message to one person keeps nothing that points at them once it is delivered.
                " ref = CASE WHEN recipient IS NULL THEN ? END, recipient = NULL,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? AND status = 'pending'",
                (ts(now), ref_json, item_id, owner),
            )
            if then is not None and cursor.rowcount == 1:  # not after a `forget` cancelled the item meanwhile
                await self.enqueue_many([then], now)

    async def mark_retry(self, item_id: int, owner: str, error: str, next_attempt_at: datetime) -> None:
        await self._settle(
            "UPDATE outbox SET next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL"
            " WHERE id = ? AND lease_owner = ?",
            (ts(next_attempt_at), error[:500], item_id, owner),
        )

    async def mark_dead(self, item_id: int, owner: str, error: str, now: datetime) -> None:
        await self._settle(
            "UPDATE outbox SET status = 'dead', last_error = ?, finished_at = ?, lease_owner = NULL,"
            " lease_until = NULL WHERE id = ? AND lease_owner = ?",
            (error[:500], ts(now), item_id, owner),
        )

    async def release(self, item_ids: list[int], owner: str) -> None:
        if not item_ids:
            return
        async with self._store.write() as db:
            await db.executemany(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1"
                " WHERE id = ? AND lease_owner = ?", [(item_id, owner) for item_id in item_ids],
            )

    async def renew(self, item_ids: list[int], owner: str, now: datetime, lease_seconds: float) -> set[int]:
        if not item_ids:
            return set()
        marks = ", ".join("?" * len(item_ids))
        async with self._store.write() as db:
            cursor = await db.execute(
                f"UPDATE outbox SET lease_until = ? WHERE id IN ({marks}) AND lease_owner = ? AND lease_until > ?"
                " AND status = 'pending' RETURNING id",
                (ts(now + timedelta(seconds=lease_seconds)), *item_ids, owner, ts(now)),
            )
            rows = await cursor.fetchall()
        return {row[0] for row in rows}

    async def next_due_at(self) -> datetime | None:
        async with self._store.read() as db, db.execute(
            "SELECT MIN(CASE WHEN lease_until > next_attempt_at THEN lease_until ELSE next_attempt_at END)"
            " FROM outbox WHERE status = 'pending'"
        ) as cursor:
            row = await cursor.fetchone()
        return parse_ts(row[0]) if row and row[0] else None

    async def items(self, status: OutboxStatus | None = None, limit: int = 100) -> list[OutboxItem]:
        sql = (
            "SELECT id, idem_key, priority, kind, payload, status, attempts, next_attempt_at, created_at,"
            " last_error FROM outbox"
        )
        params: tuple[object, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status.value,)
        sql += " ORDER BY id LIMIT ?"
        async with self._store.read() as db, db.execute(sql, (*params, limit)) as cursor:
            rows = await cursor.fetchall()
        return [self._item(row) for row in rows]

    async def counts(self) -> dict[OutboxStatus, int]:
        async with self._store.read() as db, db.execute(
            "SELECT status, COUNT(*) FROM outbox GROUP BY status"
        ) as cursor:
            rows = await cursor.fetchall()
        found = {OutboxStatus(status): count for status, count in rows}
        return {status: found.get(status, 0) for status in OutboxStatus}

    async def requeue(self, item_id: int, now: datetime) -> bool:
        async with self._store.write() as db:
            cursor = await db.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, finished_at = NULL"
                " WHERE id = ? AND status = 'dead'",
                (ts(now), item_id),
            )
            return cursor.rowcount == 1

    @staticmethod
    def _item(row: aiosqlite.Row | tuple[object, ...]) -> OutboxItem:
        item_id, key, priority, kind, payload, status, attempts, next_at, created, error = row
        action = action_from_dict(json.loads(str(payload))) if payload else None
        return OutboxItem(
            id=int(str(item_id)), key=str(key), priority=Priority(int(str(priority))), action=action,
            status=OutboxStatus(str(status)), attempts=int(str(attempts)), next_attempt_at=parse_ts(str(next_at)),
            created_at=parse_ts(str(created)), last_error=None if error is None else str(error), kind=str(kind),
        )


class _InboundLog:
    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    async def first_sighting(self, event_key: str, now: datetime) -> bool:
        cursor = await self._store.db.execute(
            "INSERT INTO inbound_events (event_key, seen_at) VALUES (?, ?) ON CONFLICT (event_key) DO NOTHING",
            (event_key, ts(now)),
        )
        return cursor.rowcount == 1


class _Transaction:
    def __init__(self, store: SQLiteStore) -> None:
        self.outbox = store.outbox
        self.inbound = _InboundLog(store)
        self.escalations = Escalations(store.db)
        self.outreach = OutreachTable(store.db)
        self.members = Members(store.db)
        self.posts = GroupPosts(store.db)
        self.moderation = ModerationLog(store.db)
        self.retention = RetentionPurge(store.db)
        self.checkins = Checkins(store.db)
        self.surveys = Surveys(store.db)
        self.activity = Activity(store.db)
        self.evaluation = EvaluationQueries(store.db)
        self.pairing = Pairing(store.db)


class SQLiteStore:
    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self.db = db
        self.path = path
        self._lock = _ReentrancyGuardedLock()
        self.outbox = _Outbox(self)

    @classmethod
    async def open(cls, path: str) -> SQLiteStore:
        if path != ":memory:":
            await asyncio.to_thread(_check_folder, path)
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except Exception as exc:  # aiosqlite wraps sqlite3 errors
            raise StoreError(f"cannot open SQLite database {path}: {exc}") from exc
        store = cls(db, path)
        try:
            await db.execute("PRAGMA busy_timeout = 5000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def _migrate(self) -> None:
        migrations = known_migrations()
        newest_known = migrations[-1][0] if migrations else 0
        await self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = await self.schema_version()
        if current > newest_known:
            raise SchemaTooNewError(
                f"database {self.path} has schema version {current}, but this peerbot only knows up to "
                f"{newest_known}: it was written by a newer peerbot. Upgrade peerbot, or point [storage] url "
                "at another database."
            )
        for version, name, sql in migrations:
            if version <= current:
                continue
            applied_at = ts(datetime.now(UTC))
            async with self.write() as db:
                for statement in _split_sql(sql):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, applied_at),
                )
            log.info("applied migration", extra={"version": version, "migration": name})

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            yield self.db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Transaction]:
        async with self.write():
            yield _Transaction(self)

    async def close(self) -> None:
        await self.db.close()


class _ReentrancyGuardedLock:
    """An asyncio lock that fails loudly, instead of deadlocking, when a task re-enters a transaction."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: object | None = None

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is not None and self._holder is task:
            raise RuntimeError("nested store transaction in the same task")
        await self._lock.acquire()
        self._holder = task

    async def __aexit__(self, *exc: object) -> None:
        self._holder = None
        self._lock.release()


def _check_folder(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(os.path.expanduser(path)))
    if not os.path.isdir(parent):
        raise StoreError(f"cannot open SQLite database {path}: folder {parent} does not exist")


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file: `;` at a line end ends a statement; `--` comments are dropped."""
    lines = [line.split("--", 1)[0].rstrip() for line in script.splitlines()]
    statements, current = [], []
    for line in lines:
        if not line.strip():
            continue
        current.append(line)
        if line.endswith(";"):
            statements.append("\n".join(current).rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements
