"""Persistence: implementations of the store port in `bot.store`, chosen by the `[storage] url` scheme."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from bot.store import Store, StoreError


def sqlite_path(url: str) -> str:
    """`sqlite:///peerbot.db` is relative to the working folder, `sqlite:////var/lib/peerbot.db` absolute."""
    parsed = urlparse(url)
    if parsed.netloc:
        raise StoreError(f"storage.url: SQLite URLs have no host part: {url!r} (use sqlite:///path)")
    path = unquote(parsed.path)
    if path.startswith("/"):
        path = path[1:]
    if not path:
        raise StoreError(f"storage.url: no database file in {url!r}")
    return path


async def open_store(url: str) -> Store:
    """Open (and migrate) the store the URL names."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from storage.sqlite import SQLiteStore

        return await SQLiteStore.open(sqlite_path(url))
    raise StoreError(f"storage.url: unsupported database {scheme!r}; this version supports sqlite:///PATH")
