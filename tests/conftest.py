"""Shared fixtures: a real SQLite store in a temporary folder, a manual clock, and a platform that can fail."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.events import ConversationRef, Form, MessageRef, OutboundMessage, UserInfo, UserRef
from bot.ports import EventSink, ManualClock, PermanentSendError, TransientSendError
from storage.sqlite import SQLiteStore

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PEERBOT_* variable or peerbot.toml from the developer's machine leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("PEERBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(str(tmp_path / "test.db"))
    yield opened
    await opened.close()


@dataclass
class UnreliablePlatform:
    """Stands in for a remote chat platform (which cannot run here): records sends, fails on demand."""

    clock: ManualClock
    platform: str = "console"
    capabilities: frozenset[str] = frozenset()
    transient_failures: int = 0
    permanent: bool = False
    retry_after: float | None = None
    sent: list[tuple[datetime, str, str]] = field(default_factory=list)  # (when, channel, text)
    attempts: list[datetime] = field(default_factory=list)

    async def start(self, sink: EventSink) -> None: ...

    async def stop(self) -> None: ...

    async def open_dm(self, user: UserRef) -> ConversationRef:
        return ConversationRef(self.platform, user.workspace, f"dm:{user.user_id}", kind="dm")

    async def send(self, to: ConversationRef, message: OutboundMessage, *, idempotency_key: str,
                   ephemeral_to: UserRef | None = None) -> MessageRef:
        self.attempts.append(self.clock.now())
        if self.permanent:
            raise PermanentSendError("channel_not_found")
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TransientSendError("HTTP 503", retry_after=self.retry_after)
        self.sent.append((self.clock.now(), to.channel_id, message.text))
        return MessageRef(self.platform, to.workspace, to.channel_id, str(len(self.sent)))

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None: ...

    async def delete(self, ref: MessageRef) -> None: ...

    async def open_form(self, user: UserRef, interaction: str, form: Form) -> None: ...

    async def get_user(self, user: UserRef) -> UserInfo:
        return UserInfo(user=user)

    async def is_moderator(self, user: UserRef) -> bool:
        return False

    def moderator_channel(self, workspace: str) -> ConversationRef | None:
        return ConversationRef(self.platform, workspace, "moderators")


def peerbot(*args: str, stdin: str = "", env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed command line as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PEERBOT_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True, timeout=120,
        env=full_env, cwd=cwd,
    )
