"""Storage: migrations on an empty and an existing database, WAL and foreign keys, a newer schema refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.events import OutboundMessage, SendDirect, UserRef
from bot.store import OutboxStatus, Priority, SchemaTooNewError
from storage import open_store, sqlite_path
from storage.sqlite import SQLiteStore, known_migrations
from tests.conftest import START, peerbot

ALICE = UserRef("console", "sandbox", "alice")


async def test_migrations_create_the_schema_on_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    store = await SQLiteStore.open(str(path))
    try:
        assert await store.schema_version() == len(known_migrations()) >= 1
        async with store.read() as db:
            async with db.execute("PRAGMA journal_mode") as cur:
                assert (await cur.fetchone())[0] == "wal"
            async with db.execute("PRAGMA foreign_keys") as cur:
                assert (await cur.fetchone())[0] == 1
    finally:
        await store.close()
    tables = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"outbox", "inbound_events", "schema_migrations"} <= tables


async def test_reopening_an_existing_database_keeps_its_data_and_applies_nothing_twice(tmp_path: Path) -> None:
    path = str(tmp_path / "kept.db")
    store = await SQLiteStore.open(path)
    async with store.transaction() as tx:
        await tx.outbox.enqueue("k1", SendDirect(ALICE, OutboundMessage("hello")), Priority.NORMAL, START)
    await store.close()

    again = await SQLiteStore.open(path)
    try:
        assert await again.schema_version() == len(known_migrations())
        counts = await again.outbox.counts()
        assert counts[OutboxStatus.PENDING] == 1
    finally:
        await again.close()
    rows = sqlite3.connect(path).execute("SELECT version FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(known_migrations()) + 1))


async def test_an_older_database_is_brought_up_to_date(tmp_path: Path) -> None:
    """A database at version 0 (made before migrations were tracked) gets every migration."""
    path = tmp_path / "old.db"
    sqlite3.connect(path).execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    ).connection.commit()
    store = await SQLiteStore.open(str(path))
    try:
        assert await store.schema_version() == len(known_migrations())
    finally:
        await store.close()


async def test_a_database_from_a_newer_peerbot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    await (await SQLiteStore.open(str(path))).close()  # create it
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', '2030-01-01T00:00:00.000000Z')")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNewError, match="newer peerbot"):
        await SQLiteStore.open(str(path))


async def test_the_cli_refuses_a_newer_schema_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    store = await SQLiteStore.open(str(path))
    await store.close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'x', '2030-01-01T00:00:00.000000Z')")
    conn.commit()
    conn.close()
    result = peerbot("outbox", env={"PEERBOT_STORAGE__URL": f"sqlite:///{path}"})
    assert result.returncode == 2
    assert "schema version 999" in result.stderr and "Traceback" not in result.stderr


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///peerbot.db") == "peerbot.db"
    assert sqlite_path("sqlite:////var/lib/peerbot.db") == "/var/lib/peerbot.db"


async def test_an_unopenable_location_is_a_clear_error(tmp_path: Path) -> None:
    from bot.store import StoreError

    with pytest.raises(StoreError, match="does not exist"):
        await open_store(f"sqlite:///{tmp_path}/missing/folder/x.db")


async def test_a_failed_transaction_leaves_nothing_behind(store: SQLiteStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.outbox.enqueue("k", SendDirect(ALICE, OutboundMessage("x")), Priority.NORMAL, START)
            raise RuntimeError("feature crashed")
    assert (await store.outbox.counts())[OutboxStatus.PENDING] == 0
