"""`peerbot run` with `[slack] mode = "http"` as a real process: the whole journey through signed requests, with
the Web API pointed at a local fake Slack. The harness (`Bot`) makes a new journey a few lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.slack_fake import SECRET, Call, FakeSlack, SlackClient, dm_channel, dm_event

MOD, PAIN, MODS = "UMOD", "CPAIN", "CMODS"

CONFIG = """
[storage]
url = "sqlite:///{db}"
[console]
enabled = false
[slack]
enabled = true
mode = "http"
host = "127.0.0.1"
port = 0
api_url = "{api}"
moderator_channel = "{mods}"
moderator_users = ["{mod}"]
post_interval_seconds = 0.05
[groups.slack]
chronic-pain = "{pain}"
[safety]
oncall = ["slack:{mod}"]
"""


@dataclass
class Bot:
    """A running `peerbot run` process and a Slack that talks to it."""

    process: asyncio.subprocess.Process
    fake: FakeSlack
    slack: SlackClient
    logs: list[dict[str, object]] = field(default_factory=list)
    pressed: set[str] = field(default_factory=set)

    async def say(self, user: str, text: str) -> None:
        assert await self.slack.event(dm_event(user, text)) == 200

    async def command(self, user: str, text: str) -> None:
        assert await self.slack.command(user, text) == 200

    async def press(self, user: str, label: str) -> None:
        """Press `label` once the bot's newest message with buttons to `user` (one not pressed yet) offers it."""
        def offered() -> bool:
            newest = self.fake.newest_with_buttons(user)
            return newest is not None and newest.ts not in self.pressed and label in Call("", newest.args).labels
        await self.until(offered)
        newest = self.fake.newest_with_buttons(user)
        assert newest is not None
        self.pressed.add(newest.ts)
        assert await self.slack.press(self.fake, user, label) == 200

    async def next_dm(self, user: str, seen: int) -> str:
        """Wait until `user` has received more than `seen` messages; the newest one's text."""
        await self.until(lambda: len(self.fake.dms_to(user)) > seen)
        return self.fake.dms_to(user)[-1].text

    async def until(self, condition: object, within: float = 30.0) -> None:
        assert self.fake._changed is not None
        async with asyncio.timeout(within), self.fake._changed:
            await self.fake._changed.wait_for(condition)  # type: ignore[arg-type]


async def _read_logs(stream: asyncio.StreamReader, logs: list[dict[str, object]], port: asyncio.Future[int]) -> None:
    while line := await stream.readline():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            logs.append(entry)
            if entry.get("msg") == "slack adapter started" and not port.done():
                port.set_result(int(entry["port"]))
    if not port.done():
        port.set_exception(RuntimeError("peerbot exited before the Slack adapter started"))


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    async with FakeSlack() as fake:
        config = tmp_path / "peerbot.toml"
        config.write_text(CONFIG.format(db=tmp_path / "bot.db", api=fake.url, mods=MODS, mod=MOD, pain=PAIN))
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PEERBOT_")}
        env.update(PEERBOT_SLACK__BOT_TOKEN="xoxb-e2e", PEERBOT_SLACK__SIGNING_SECRET=SECRET,
                   PYTHONPATH=str(ROOT))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--config", str(config), env=env, cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        logs: list[dict[str, object]] = []
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        assert process.stderr is not None
        reader = asyncio.create_task(_read_logs(process.stderr, logs, port))
        slack = SlackClient("")
        try:
            async with asyncio.timeout(60):
                slack.url = f"http://127.0.0.1:{await port}/slack/events"
            yield Bot(process, fake, slack, logs)
        finally:
            await slack.close()
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                async with asyncio.timeout(30):
                    await process.wait()
            await reader


async def test_peerbot_run_serves_the_whole_journey_in_slack(bot: Bot) -> None:
    fake = bot.fake
    # Onboarding: consent first, then the profile in a modal opened in answer to the press.
    await bot.command("U1", "join")
    await bot.next_dm("U1", 0)
    assert fake.dms_to("U1")[0].labels == ["I agree", "No thanks"]
    await bot.press("U1", "I agree")
    await bot.press("U1", "Fill in a form instead")
    opened = await fake.wait_for("views.open", trigger_id=bot.slack.last_trigger)
    view = json.loads(opened.args["view"]) if isinstance(opened.args["view"], str) else opened.args["view"]
    seen = len(fake.dms_to("U1"))
    assert await bot.slack.submit("U1", view, {"topics": ["chronic-pain"], "checkins": "daily"}) == 200
    await bot.next_dm("U1", seen)  # onboarding done
    # The bot with one member and a mentor is where a pairing relay journey goes: bot.command("U2", "mentor"),
    # bot.command("U1", "pair"), bot.press(...), bot.say("U1", "...") and wait for fake.posts_to(dm_channel("U2")).

    # An anonymous post lands in the group channel, without mentions or the author's id.
    await bot.command("U1", "post chronic-pain <!channel> nights are the worst, what helps you?")
    await bot.until(lambda: bool(fake.posts_to(PAIN)))
    post = fake.posts_to(PAIN)[0].text
    assert "nights are the worst" in post and "<!channel>" not in post and "U1" not in post

    # A check-in, delivered and answered by button.
    seen = len(fake.dms_to("U1"))
    await bot.command("U1", "checkin now")
    await bot.press("U1", "3 · Okay")
    await bot.next_dm("U1", seen + 1)  # the check-in, then the answer to pressing a mood

    # A crisis DM: resources to the person, an alert with buttons to the moderators, acknowledged by button.
    assert await bot.slack.event(dm_event("U9", "i want to kill myself")) == 200
    await bot.until(lambda: bool(fake.posts_to(MODS)) and bool(fake.posts_to(dm_channel("U9"))))
    assert "988" in fake.posts_to(dm_channel("U9"))[0].text
    alert = fake.posts_to(MODS)[0]
    assert "Acknowledge" in alert.labels
    await bot.press(MOD, "Acknowledge")
    await bot.until(lambda: bool(fake.of("chat.update", channel=MODS, ts=alert.ts)))

    # Stopping is clean, and no message text reached the logs.
    bot.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        assert await bot.process.wait() == 0
    logged = json.dumps(bot.logs)
    assert "kill myself" not in logged and "nights are the worst" not in logged


async def test_peerbot_run_with_a_revoked_token_exits_2_naming_the_key(tmp_path: Path) -> None:
    async with FakeSlack() as fake:
        fake.fail_next("auth.test", error="invalid_auth")
        config = tmp_path / "peerbot.toml"
        config.write_text(CONFIG.format(db=tmp_path / "bot.db", api=fake.url, mods=MODS, mod=MOD, pain=PAIN))
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PEERBOT_")}
        env.update(PEERBOT_SLACK__BOT_TOKEN="xoxb-revoked", PEERBOT_SLACK__SIGNING_SECRET=SECRET,
                   PYTHONPATH=str(ROOT))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--config", str(config), env=env, cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(60):
            _, stderr = await process.communicate()
        assert process.returncode == 2
        assert "invalid_auth" in stderr.decode() and "slack.bot_token" in stderr.decode()
        assert "xoxb-revoked" not in stderr.decode() and "Traceback" not in stderr.decode()
