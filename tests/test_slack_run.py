"""`peerbot run` with `[slack] mode = "http"` as a real process: the whole journey through signed requests, with
the Web API pointed at a local fake Slack. The harness (`Bot`) makes a new journey a few lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.slack_fake import SECRET, Call, FakeSlack, SlackClient, dm_channel, dm_event

MOD, PAIN, MODS = "UMOD", "CPAIN", "CMODS"
GROUP_MOD, MOD_GROUP = "UGROUPMOD", "S0MODS"  # a moderator by membership of the configured user group

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
moderator_usergroup = "{group}"
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

    async def press(self, user: str, label: str, channel: str | None = None) -> None:
        """Press `label` once the bot's newest message with buttons to `user` (one not pressed yet) offers it,
        in `user`'s DM unless another channel is given."""
        channel = channel or dm_channel(user)

        def offered() -> bool:
            newest = self.fake.newest_with_buttons(user, channel)
            return newest is not None and newest.ts not in self.pressed and label in Call("", newest.args).labels
        await self.until(offered)
        newest = self.fake.newest_with_buttons(user, channel)
        assert newest is not None
        self.pressed.add(newest.ts)
        assert await self.slack.press(self.fake, user, label, channel) == 200

    async def onboard_by_modal(self, user: str, **answers: str | list[str]) -> None:
        """`/peer join`, consent, then the whole profile in one modal."""
        await self.command(user, "join")
        await self.press(user, "I agree")
        await self.press(user, "Fill in a form instead")
        opened = await self.fake.wait_for("views.open", trigger_id=self.slack.last_trigger)
        view = opened.args["view"]
        view = json.loads(view) if isinstance(view, str) else view
        assert await self.slack.submit(user, view, answers) == 200
        await self.until(lambda: any("all set" in c.text for c in self.fake.dms_to(user)))

    async def dm_containing(self, user: str, words: str) -> Call:
        """The first message to `user` containing `words`, once there is one."""
        await self.until(lambda: any(words in c.text for c in self.fake.dms_to(user)))
        return next(c for c in self.fake.dms_to(user) if words in c.text)

    async def post_containing(self, channel: str, words: str) -> Call:
        await self.until(lambda: any(words in c.text for c in self.fake.posts_to(channel)))
        return next(c for c in self.fake.posts_to(channel) if words in c.text)

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


async def start_peerbot(tmp_path: Path, fake: FakeSlack, token: str) -> asyncio.subprocess.Process:
    """`peerbot run` as an operator starts it: the config file, the secrets in the environment."""
    config = tmp_path / "peerbot.toml"
    config.write_text(CONFIG.format(db=tmp_path / "bot.db", api=fake.url, mods=MODS, mod=MOD, pain=PAIN,
                                    group=MOD_GROUP))
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PEERBOT_")}
    env.update(PEERBOT_SLACK__BOT_TOKEN=token, PEERBOT_SLACK__SIGNING_SECRET=SECRET, PYTHONPATH=str(ROOT))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--config", str(config), env=env, cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    async with FakeSlack(usergroups={MOD_GROUP: [GROUP_MOD]}) as fake:
        process = await start_peerbot(tmp_path, fake, "xoxb-e2e")
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
    await bot.press(MOD, "Acknowledge", MODS)
    await bot.until(lambda: bool(fake.of("chat.update", channel=MODS, ts=alert.ts)))

    # Stopping is clean, and no message text reached the logs.
    bot.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        assert await bot.process.wait() == 0
    logged = json.dumps(bot.logs)
    assert "kill myself" not in logged and "nights are the worst" not in logged


async def test_peerbot_run_serves_mentor_pairing_surveys_and_the_report_in_slack(bot: Bot) -> None:
    fake, mentor, mentee = bot.fake, "UMAYA", "UALICE"
    profile: dict[str, str | list[str]] = {"topics": ["chronic-pain"], "language": "English",
                                           "timezone": "Europe/London", "checkins": "none"}
    # A mentor offers at onboarding; the offer reaches the moderator channel with Approve and Decline.
    await bot.onboard_by_modal(mentor, role="mentor", **profile)
    offer = await bot.post_containing(MODS, "Mentor offer")
    assert {"Approve", "Decline"} <= set(offer.labels)
    # Someone outside the moderators presses Approve: refused, privately, and nothing is approved.
    assert await bot.slack.press(fake, "UNOBODY", "Approve", MODS) == 200
    refusal = await bot.dm_containing("UNOBODY", "Only moderators")
    assert refusal.method == "chat.postEphemeral" and refusal.args["channel"] == MODS
    # A member of the moderator user group approves by button: the offer is marked, the mentor told.
    await bot.press(GROUP_MOD, "Approve", MODS)
    await bot.until(lambda: any("Approved" in c.text for c in fake.of("chat.update", channel=MODS, ts=offer.ts)))
    await bot.dm_containing(mentor, "approved you as a mentor")
    assert not any("approved you" in c.text for c in fake.dms_to("UNOBODY"))

    # A mentee joins and answers the baseline survey by buttons: WHO-5, satisfaction, the optional suggestion.
    await bot.onboard_by_modal(mentee, role="peer", **profile)
    await bot.press(mentee, "Start")
    for answer in ("Most of the time", "More than half of the time", "Some of the time", "Most of the time",
                   "All of the time", "4 · Satisfied", "Skip"):
        await bot.press(mentee, answer)
    await bot.dm_containing(mentee, "that's everything")
    await bot.command(mentee, "export")  # the answers are hers to see: the buttons pressed were recorded
    await bot.until(lambda: bool(fake.of("upload")))
    baseline = json.loads(fake.of("upload")[0].args["content"])["surveys"]["surveys"][0]
    assert baseline["state"] == "completed" and baseline["answers"]["who5_1"] == 4
    assert baseline["answers"]["satisfaction"] == 4
    pseudonym = re.search(r"pseudonym is \*([^*]+)\*", (await bot.dm_containing(mentee, "pseudonym is")).text)
    assert pseudonym is not None

    # Pairing by double opt-in: the mentee asks, the mentor accepts, the mentee starts.
    await bot.command(mentee, "pair Newly diagnosed and a bit lost")
    await bot.press(mentor, "Accept")
    await bot.press(mentee, "Start")
    # A DM from each side reaches the other under the pseudonym, with no Slack mention or user id.
    await bot.say(mentee, "Hi! <!everyone> <@U123> <!subteam^S1> thanks for taking me on")
    relayed = (await bot.dm_containing(mentor, "thanks for taking me on")).text
    assert pseudonym.group(1) in relayed
    for leak in ("<!everyone>", "<@U123>", "<!subteam", mentee, mentor):
        assert leak not in relayed
    await bot.say(mentor, "Glad to. How have the first weeks been?")
    relayed = (await bot.dm_containing(mentee, "How have the first weeks been?")).text
    assert mentor not in relayed and mentee not in relayed and "<@" not in relayed
    # A crisis inside the pair reaches the moderators and is not passed on.
    await bot.say(mentee, "honestly i want to kill myself")
    await bot.until(lambda: any("Acknowledge" in c.labels for c in fake.posts_to(MODS)))
    await bot.dm_containing(mentee, "haven't passed that message on")
    assert any("988" in c.text for c in fake.dms_to(mentee))  # and the crisis lines
    await bot.say(mentee, "sorry, are you still there?")  # one person's messages are handled in order
    await bot.dm_containing(mentor, "are you still there?")
    assert not any("kill myself" in c.text for c in fake.dms_to(mentor))
    # Ending the pairing tells the other side.
    await bot.command(mentee, "pair end it helped a lot, thank you")
    await bot.dm_containing(mentor, "has ended your pairing")

    # A moderator asks for the report: the headline numbers, and the whole report as an HTML file.
    await bot.command(MOD, "mod report")
    headline = (await bot.dm_containing(MOD, "Program figures")).text
    assert "Members:" in headline and "Safety alerts:" in headline
    await bot.until(lambda: bool(fake.of("files.completeUploadExternal", channel_id=dm_channel(MOD))))
    assert any("<html" in str(c.args["content"]).lower() for c in fake.of("upload"))
    assert "kill myself" not in json.dumps(bot.logs) and "first weeks" not in json.dumps(bot.logs)


async def test_peerbot_run_with_a_revoked_token_exits_2_naming_the_key(tmp_path: Path) -> None:
    async with FakeSlack() as fake:
        fake.fail_next("auth.test", error="invalid_auth")
        process = await start_peerbot(tmp_path, fake, "xoxb-revoked")
        async with asyncio.timeout(60):
            _, stderr = await process.communicate()
        assert process.returncode == 2
        assert "invalid_auth" in stderr.decode() and "slack.bot_token" in stderr.decode()
        assert "xoxb-revoked" not in stderr.decode() and "Traceback" not in stderr.decode()
