"""peerbot in a Slack workspace: signed requests over real HTTP into the real app (HTTP mode on a free port), the
real core, store and outbox, against a local fake Slack Web API that records what the bot asked Slack to do."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import SlackPlatform, SlackStartupError
from adapters.slack.blocks import HOME_PREFIX, decode_action, render, unescape
from adapters.slack.inbound import message_event
from bot.app import App
from bot.config import Settings
from bot.events import Choice, ChoiceKind, ConversationRef, InboundEvent, OutboundMessage, UserRef
from bot.ports import ManualClock, PermanentSendError, TransientSendError
from bot.scheduler import SandboxTicker
from bot.store import OutboxStatus
from bot.wiring import build_app
from storage.sqlite import SQLiteStore
from tests.conftest import ROOT
from tests.slack_fake import (
    BOT_USER,
    TEAM,
    FakeSlack,
    SlackClient,
    channel_event,
    command_form,
    dm_channel,
    dm_event,
    edit_event,
    event_body,
    press_payload,
    sign,
)

MOD = "UMOD"
GROUP_MOD = "UGROUPMOD"
PAIN = "CPAIN"
GONE = "CGONE"  # a group channel that was deleted in Slack
MODS = "CMODS"


def slack_settings(api_url: str, **slack: Any) -> Settings:
    return Settings(
        console={"enabled": False},
        slack={"enabled": True, "mode": "http", "bot_token": "xoxb-test", "signing_secret": "test-signing-secret",
               "port": 0, "api_url": api_url, "moderator_channel": MODS, "moderator_users": [MOD],
               "moderator_usergroup": "S0MODS", "post_interval_seconds": 0, **slack},
        groups={"slack": {"chronic-pain": PAIN, "diabetes": GONE}},
        safety={"oncall": []},
    )


@dataclass
class Workspace:
    """One Slack workspace with peerbot installed: people act through signed requests, `settle` runs what follows."""

    fake: FakeSlack
    slack: SlackClient
    platform: SlackPlatform
    app: App
    store: SQLiteStore
    clock: ManualClock
    ticker: SandboxTicker

    async def settle(self) -> None:
        await self.platform.idle()
        await self.app.dispatcher.drain()

    async def say(self, user: str, text: str) -> None:
        assert await self.slack.event(dm_event(user, text)) == 200
        await self.settle()

    async def command(self, user: str, text: str, channel: str | None = None) -> None:
        assert await self.slack.command(user, text, channel) == 200
        await self.settle()

    async def press(self, user: str, label: str) -> None:
        assert await self.slack.press(self.fake, user, label) == 200
        await self.settle()

    async def later(self, delta: timedelta) -> None:
        await self.ticker.advance_to(self.clock.now() + delta)
        await self.settle()

    async def join(self, user: str, *steps: str) -> None:
        await self.command(user, "join")
        await self.press(user, "I agree")
        for label in steps:
            await self.press(user, label)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(usergroups={"S0MODS": [GROUP_MOD]}) as running:
        yield running


@pytest.fixture
async def workspace(fake: FakeSlack, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Workspace]:
    settings = slack_settings(fake.url)
    store = await SQLiteStore.open(str(tmp_path / "slack.db"))
    platform = SlackPlatform(settings.slack, clock)
    app = build_app(settings, store, clock, {"slack": platform})
    platform.crisis_footer = app.texts.crisis_footer
    await platform.start(app.handle)
    client = SlackClient(f"http://127.0.0.1:{platform.http_port}/slack/events")
    ticker = SandboxTicker(app.router.ticks, clock, 60, app.dispatcher.drain)
    try:
        yield Workspace(fake, client, platform, app, store, clock, ticker)
    finally:
        await client.close()
        await platform.stop()
        await store.close()


# ---------------------------------------------------------------- journeys


async def test_onboarding_asks_consent_first_then_the_steps(workspace: Workspace) -> None:
    fake = workspace.fake
    await workspace.command("U1", "join")
    consent = fake.dms_to("U1")[-1]
    assert consent.labels == ["I agree", "No thanks"]
    assert fake.of("conversations.open", users="U1")  # the DM was opened through the Web API
    await workspace.press("U1", "I agree")
    await workspace.press("U1", "Looking for support")
    topics = fake.dms_to("U1")[-1]
    select = [e for b in topics.blocks if b["type"] == "actions" for e in b["elements"]
              if e["type"] == "static_select"]
    assert select and "Chronic pain" in [o["text"]["text"] for o in select[0]["options"]]  # topics as a select
    await workspace.press("U1", "Chronic pain")
    await workspace.press("U1", "Done")
    await workspace.press("U1", "English")
    # Slack told us U1's timezone (users.info); onboarding offers it.
    assert "Use Europe/London" in fake.dms_to("U1")[-1].labels
    await workspace.press("U1", "Use Europe/London")
    await workspace.press("U1", "Weekly")
    await workspace.command("U1", "profile")
    profile = fake.dms_to("U1")[-1].text
    assert "Chronic pain" in profile and "Europe/London" in profile


def opened_view(fake: FakeSlack) -> dict[str, Any]:
    raw = fake.of("views.open")[-1].args["view"]
    return json.loads(raw) if isinstance(raw, str) else raw


async def test_onboarding_through_a_modal(workspace: Workspace) -> None:
    fake = workspace.fake
    await workspace.command("U1", "join")
    await workspace.press("U1", "I agree")  # consent is never a form: it comes first, on its own
    await workspace.press("U1", "Fill in a form instead")
    opened = fake.of("views.open")[-1]
    assert opened.args["trigger_id"] == workspace.slack.last_trigger  # in answer to that very press
    view = opened_view(fake)
    assert view["type"] == "modal" and len(view["title"]["text"]) <= 24
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "role", "topics", "language", "timezone", "checkins"]
    status = await workspace.slack.submit("U1", view, {
        "role": "peer", "topics": ["chronic-pain", "diabetes"], "language": "Español",
        "timezone": "America/Chicago", "checkins": "weekly"})
    assert status == 200
    await workspace.settle()
    await workspace.command("U1", "profile")
    profile = fake.dms_to("U1")[-1].text
    for shown in ("Chronic pain", "Diabetes", "Español", "America/Chicago"):
        assert shown in profile
    assert "Edit profile" in fake.dms_to("U1")[-1].labels


async def test_checkin_schedule_changed_in_a_modal(workspace: Workspace) -> None:
    await workspace.join("U1", "Skip", "Skip", "Skip", "Use Europe/London", "Daily")
    await workspace.command("U1", "checkin")
    await workspace.press("U1", "Change schedule")
    view = opened_view(workspace.fake)
    assert await workspace.slack.submit("U1", view, {"frequency": "weekdays", "time": "07:45"}) == 200
    await workspace.settle()
    await workspace.command("U1", "checkin")
    assert "07:45" in workspace.fake.dms_to("U1")[-1].text


async def test_a_form_with_crisis_language_is_screened(workspace: Workspace) -> None:
    await workspace.join("U1", "Skip", "Skip", "Skip", "Skip", "Skip")
    await workspace.command("U1", "profile")
    await workspace.press("U1", "Edit profile")
    view = opened_view(workspace.fake)
    assert await workspace.slack.submit("U1", view, {"timezone": "i want to kill myself"}) == 200
    await workspace.settle()
    assert workspace.fake.posts_to(MODS)


async def test_an_expired_trigger_is_not_retried(workspace: Workspace) -> None:
    await workspace.join("U1", "Skip", "Skip", "Skip", "Skip", "Skip")
    await workspace.command("U1", "profile")
    workspace.fake.fail_next("views.open", error="expired_trigger_id")
    await workspace.press("U1", "Edit profile")
    dead = await workspace.store.outbox.items(OutboxStatus.DEAD)
    assert len(dead) == 1 and "expired_trigger_id" in (dead[0].last_error or "")


async def test_anonymous_post_lands_in_the_group_channel_without_mentions(workspace: Workspace) -> None:
    await workspace.join("U1", "Skip", "Skip", "Skip", "Skip", "Skip")
    await workspace.command("U1", "post chronic-pain <!here> <!channel> <@U2> <!subteam^S1|@nurses> @everyone "
                                  "does anyone else get flares in the cold?")
    post = workspace.fake.posts_to(PAIN)[-1]
    text = post.text + str(post.args.get("text"))
    assert "flares in the cold" in text
    for mention in ("<!here>", "<!channel>", "<@U2>", "<!subteam^", "<!everyone>", "U1"):
        assert mention not in text
    assert post.args.get("link_names") in (False, "0", "false", None)
    # A moderator can see who posted only through an audited reveal; the channel shows the pseudonym only.
    assert "Reply" in post.labels


async def test_crisis_dm_reaches_moderators_with_buttons_and_the_person_gets_resources(workspace: Workspace) -> None:
    fake = workspace.fake
    await workspace.say("U9", "i cant do this anymore. i want to kill myself")
    reply = fake.dms_to("U9")[-1]
    assert "988" in reply.text  # US crisis line by default
    alert = fake.posts_to(MODS)[-1]
    assert {"Acknowledge", "Resolve", "Reach out"} <= set(alert.labels)
    assert "U9" not in alert.text
    # A member of the moderator user group acknowledges with the button: the alert itself is updated.
    await workspace.press(GROUP_MOD, "Acknowledge")
    update = fake.of("chat.update", channel=MODS, ts=alert.ts)[-1]
    assert "Acknowledge" not in update.labels and "acknowledged" in update.text.lower()
    assert fake.of("usergroups.users.list", usergroup="S0MODS")  # checked against Slack, server-side


async def test_someone_outside_the_moderators_cannot_acknowledge(workspace: Workspace) -> None:
    fake = workspace.fake
    await workspace.say("U9", "i want to kill myself")
    alert = fake.posts_to(MODS)[-1]
    await workspace.press("U5", "Acknowledge")
    assert fake.of("chat.update", channel=MODS, ts=alert.ts) == []
    await workspace.press(MOD, "Acknowledge")  # a configured moderator id
    assert fake.of("chat.update", channel=MODS, ts=alert.ts)


async def test_unacknowledged_alert_is_repaged_with_here(workspace: Workspace) -> None:
    await workspace.say("U9", "i took all my pills an hour ago")
    first = len(workspace.fake.posts_to(MODS))
    await workspace.later(timedelta(minutes=6))
    repage = workspace.fake.posts_to(MODS)[first:]
    assert repage and repage[0].text.startswith("<!here>")
    assert "<!here>" not in workspace.fake.posts_to(MODS)[0].text  # the first alert does not ping


async def test_forged_signature_is_refused_and_causes_nothing(workspace: Workspace) -> None:
    slack = workspace.slack
    assert await slack.event(dm_event("U1", "i want to kill myself"), secret="not-the-secret") == 401
    form = urllib.parse.urlencode(command_form("U1", "join"))
    assert await slack.post(form, "application/x-www-form-urlencoded", secret="not-the-secret") == 401
    # A correctly signed request replayed ten minutes later is refused too.
    body = json.dumps(dm_event("U1", "hello"))
    old = sign(body, timestamp=int(time.time()) - 600)
    async with slack.session.post(slack.url, data=body.encode(),
                                  headers={"Content-Type": "application/json", **old}) as response:
        assert response.status == 401
    await workspace.settle()
    assert [c.method for c in workspace.fake.calls if c.method != "auth.test"] == []
    assert await workspace.store.outbox.items() == []


async def test_a_retried_event_is_processed_once(workspace: Workspace) -> None:
    body = dm_event("U1", "hello there", event_id="Ev0RETRY")
    assert await workspace.slack.event(body) == 200
    assert await workspace.slack.event(body, retry_num=1) == 200
    assert await workspace.slack.event(body, retry_num=2) == 200
    await workspace.settle()
    assert len(workspace.fake.dms_to("U1")) == 1


async def test_rate_limited_send_waits_for_retry_after_and_is_not_lost(workspace: Workspace) -> None:
    fake = workspace.fake
    fake.fail_next("chat.postMessage", status=429, retry_after=30)
    await workspace.command("U1", "help")
    assert fake.dms_to("U1") == [] and [c.ok for c in fake.calls if c.method == "chat.postMessage"] == [False]
    await workspace.later(timedelta(seconds=29))
    assert fake.dms_to("U1") == []  # not before Slack's Retry-After
    await workspace.later(timedelta(seconds=1))
    assert len(fake.dms_to("U1")) == 1 and "/peer" in fake.dms_to("U1")[0].text


async def test_permanent_error_is_dead_lettered_with_a_clear_log_line(workspace: Workspace,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    workspace.fake.missing_channels.add(GONE)
    await workspace.join("U1", "Skip", "Skip", "Skip", "Skip", "Skip")
    with caplog.at_level(logging.ERROR):
        await workspace.command("U1", "post diabetes anyone on a pump?")
    dead = await workspace.store.outbox.items(OutboxStatus.DEAD)
    assert len(dead) == 1 and "channel_not_found" in (dead[0].last_error or "")
    assert any("dead-lettered" in r.getMessage() and "channel_not_found" in str(getattr(r, "error", ""))
               for r in caplog.records)
    assert len([c for c in workspace.fake.calls if c.method == "chat.postMessage" and not c.ok]) == 1  # not retried


async def test_transient_slack_error_is_retried(workspace: Workspace) -> None:
    workspace.fake.fail_next("chat.postMessage", status=503, error="service_unavailable")
    await workspace.command("U1", "help")
    assert workspace.fake.dms_to("U1") == []
    await workspace.later(timedelta(minutes=1))
    assert len(workspace.fake.dms_to("U1")) == 1


async def test_checkin_is_delivered_and_answered_by_button(workspace: Workspace) -> None:
    await workspace.join("U1", "Skip", "Skip", "Skip", "Use Europe/London", "Daily")
    before = len(workspace.fake.dms_to("U1"))
    await workspace.later(timedelta(days=1))
    checkin = workspace.fake.dms_to("U1")[before]
    assert any("Skip today" == label for label in checkin.labels) and len(checkin.labels) >= 3
    await workspace.press("U1", checkin.labels[0])
    answer = workspace.fake.dms_to("U1")[-1]
    assert answer is not checkin and "Skip today" not in answer.labels


async def test_channel_message_in_a_group_is_read_and_screened(workspace: Workspace) -> None:
    assert await workspace.slack.event(channel_event("U3", PAIN, "honestly i want to die")) == 200
    await workspace.settle()
    assert workspace.fake.posts_to(MODS), "a crisis message in a group channel reaches the moderators"
    private = workspace.fake.of("chat.postEphemeral", user="U3", channel=PAIN)
    assert private and "988" in private[-1].text  # resources privately, in the channel
    # Slack drops ephemeral messages on reload or on another device: the resources stay findable in the DM.
    kept = [c for c in workspace.fake.posts_to(dm_channel("U3")) if "988" in c.text]
    assert len(kept) == 1 and kept[0].text == private[-1].text


async def test_a_group_message_edited_into_crisis_words_alerts_the_moderators_once(workspace: Workspace) -> None:
    fake, slack = workspace.fake, workspace.slack
    assert await slack.event(channel_event("U3", PAIN, "rough day")) == 200
    await workspace.settle()
    assert fake.posts_to(MODS) == [] and fake.of("chat.postEphemeral") == []
    edit = edit_event("U3", PAIN, "rough day", "rough day. honestly i want to die")
    assert await slack.event(edit) == 200
    assert await slack.event(edit, retry_num=1) == 200  # Slack delivers the same edit again
    await workspace.settle()
    assert len(fake.posts_to(MODS)) == 1, "the edited text reaches the moderators, once"
    private = fake.of("chat.postEphemeral", user="U3", channel=PAIN)
    assert len(private) == 1 and "988" in private[0].text  # resources privately, in the channel
    # Edited again, later: a new edit, screened again (it joins the open case rather than opening another).
    again = edit_event("U3", PAIN, "rough day. honestly i want to die", "i want to kill myself tonight",
                       edited_ts="1700000300.000000")
    assert await slack.event(again) == 200
    await workspace.settle()
    assert len(fake.of("chat.postEphemeral", user="U3", channel=PAIN)) == 2


async def test_an_edit_in_a_thread_is_answered_in_the_thread(workspace: Workspace) -> None:
    edit = edit_event("U3", PAIN, "same here", "same here, i want to end my life", ts="1700000100.000200",
                      thread_ts="1700000050.000100")
    assert await workspace.slack.event(edit) == 200
    await workspace.settle()
    assert workspace.fake.posts_to(MODS)
    private = workspace.fake.of("chat.postEphemeral", user="U3", channel=PAIN)
    assert private and private[-1].args.get("thread_ts") == "1700000050.000100" and "988" in private[-1].text


async def test_a_me_message_is_read_like_any_other(workspace: Workspace) -> None:
    body = channel_event("U3", PAIN, "wants to kill myself")
    body["event"]["subtype"] = "me_message"
    assert await workspace.slack.event(body) == 200
    await workspace.settle()
    assert workspace.fake.posts_to(MODS)
    assert workspace.fake.of("chat.postEphemeral", user="U3", channel=PAIN)


async def test_an_unfurled_link_or_a_thread_reply_count_is_not_a_new_message(workspace: Workspace) -> None:
    # In the DM every message gets an answer, so a change read as a new message would show as a second one.
    text = "look at <https://example.org/guide|this guide>"
    await workspace.say("U1", text)
    assert len(workspace.fake.dms_to("U1")) == 1
    unfurled = edit_event("U1", dm_channel("U1"), text, text, edited_ts=None,
                          attachments=[{"from_url": "https://example.org/guide", "title": "A guide"}])
    counted = edit_event("U1", dm_channel("U1"), text, text, edited_ts=None, reply_count=1, thread_ts="1.0")
    for body in (unfurled, counted):
        assert await workspace.slack.event(body) == 200
    await workspace.settle()
    assert len(workspace.fake.dms_to("U1")) == 1
    assert workspace.fake.posts_to(MODS) == []


async def test_edits_by_bots_and_of_deleted_thread_parents_are_ignored(workspace: Workspace) -> None:
    slack = workspace.slack
    by_bot = edit_event("U2", PAIN, "status", "i want to kill myself", bot_id="B0OTHER")
    ours = edit_event(BOT_USER, PAIN, "status", "i want to kill myself")  # our own chat.update
    profile = edit_event("U4", PAIN, "status", "i want to kill myself", bot_profile={"id": "B0INT"})
    tombstone = edit_event("USLACKBOT", PAIN, "i want to kill myself", "This message was deleted.",
                           subtype="tombstone", edited_ts=None)
    for body in (by_bot, ours, profile, tombstone):
        assert await slack.event(body) == 200
    await workspace.settle()
    assert [c.method for c in workspace.fake.calls if c.method.startswith("chat.")] == []


async def test_bot_messages_deletions_and_malformed_events_are_skipped(workspace: Workspace,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    slack = workspace.slack
    own = dm_event(BOT_USER, "i want to kill myself")
    deleted = event_body({"type": "message", "subtype": "message_deleted", "hidden": True, "channel": PAIN,
                          "channel_type": "channel", "ts": "1700000200.000000", "deleted_ts": "1700000100.000100",
                          "previous_message": {"type": "message", "user": "U1", "text": "i want to kill myself",
                                               "ts": "1700000100.000100"}})
    from_bot = dm_event("U2", "i want to kill myself")
    from_bot["event"]["bot_id"] = "B0OTHER"
    broken = event_body({"type": "message", "channel_type": "im", "text": "no user or channel"})
    with caplog.at_level(logging.WARNING):
        for body in (own, deleted, from_bot, broken):
            assert await slack.event(body) == 200
        await workspace.settle()
    assert [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()] == [
        "malformed slack payload skipped"]
    assert "kill myself" not in caplog.text and "no user or channel" not in caplog.text
    assert [c.method for c in workspace.fake.calls if c.method.startswith("chat.")] == []
    await workspace.say("U1", "hello")  # still serving
    assert workspace.fake.dms_to("U1")


async def test_app_home_shows_a_join_button_that_starts_onboarding(workspace: Workspace) -> None:
    fake = workspace.fake
    assert await workspace.slack.event(event_body({"type": "app_home_opened", "user": "U7", "channel": "DU7",
                                                   "tab": "home"})) == 200
    await workspace.settle()
    raw = fake.of("views.publish", user_id="U7")[0].args["view"]
    view = json.loads(raw) if isinstance(raw, str) else raw
    join = next(e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"] if e["value"] == "join")
    assert join["action_id"].startswith(HOME_PREFIX) and "988" in json.dumps(view)
    payload = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U7", "team_id": TEAM},
               "trigger_id": "77.1.home", "container": {"type": "view", "view_id": "V1"},
               "view": {"id": "V1", "type": "home"},
               "actions": [{"action_id": join["action_id"], "type": "button", "value": "join",
                            "text": join["text"]}]}
    assert await workspace.slack.interact(payload) == 200
    await workspace.settle()
    assert fake.posts_to(dm_channel("U7"))[-1].labels == ["I agree", "No thanks"]


async def test_member_joining_a_group_channel_reaches_the_core_as_member_joined(
        fake: FakeSlack, clock: ManualClock) -> None:
    platform = SlackPlatform(slack_settings(fake.url).slack, clock)
    seen: list[InboundEvent] = []

    async def core(event: InboundEvent) -> None:
        seen.append(event)

    await platform.start(core)
    client = SlackClient(f"http://127.0.0.1:{platform.http_port}/slack/events")
    try:
        joined = event_body({"type": "member_joined_channel", "user": "U4", "channel": PAIN, "channel_type": "C",
                             "team": TEAM}, event_id="Ev0JOIN")
        team = event_body({"type": "team_join", "user": {"id": "U5", "is_bot": False}}, event_id="Ev0TEAM")
        assert await client.event(joined) == 200 and await client.event(team) == 200
        await platform.idle()
    finally:
        await client.close()
        await platform.stop()
    assert [(type(e).__name__, e.user.user_id, e.conversation and e.conversation.channel_id, e.event_id)
            for e in seen] == [("MemberJoined", "U4", PAIN, "Ev0JOIN"), ("MemberJoined", "U5", None, "Ev0TEAM")]


async def test_export_arrives_as_a_file(workspace: Workspace) -> None:
    await workspace.join("U1", "Skip", "Skip", "Skip", "Skip", "Skip")
    await workspace.command("U1", "export")
    upload = workspace.fake.of("upload")
    assert upload and json.loads(upload[-1].args["content"])  # the member's data as JSON
    complete = workspace.fake.of("files.completeUploadExternal")[-1]
    assert complete.args.get("channel_id") == dm_channel("U1")


# ---------------------------------------------------------------- translation details


def test_action_ids_are_unique_within_a_message_and_options_become_one_select() -> None:
    message = OutboundMessage("pick", (Choice("A", "x.a", "1"), Choice("B", "x.a", "2"),
                                       Choice("Topic 1", "t.pick", "one", kind=ChoiceKind.OPTION),
                                       Choice("Topic 2", "t.pick", "two", kind=ChoiceKind.OPTION),
                                       Choice("Done", "t.done")))
    _, blocks = render(message)
    elements = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    ids = [e["action_id"] for e in elements]
    assert len(ids) == len(set(ids)) == 4
    assert [e["type"] for e in elements] == ["button", "button", "static_select", "button"]
    assert [o["value"] for o in elements[2]["options"]] == ["t.pick:one", "t.pick:two"]


@pytest.mark.parametrize(("sent", "typed"), [
    ("see <https://example.org/guide|this guide>", "see this guide (https://example.org/guide)"),
    ("<http://example.org|example.org> or <https://example.org/x>", "example.org or https://example.org/x"),
    ("mail <mailto:help@example.org|help@example.org>", "mail help@example.org"),
    ("<https://example.org/?a=1&amp;b=2|example.org/?a=1&amp;b=2> &lt;3", "example.org/?a=1&b=2 <3"),
    ("<https://example.org|https://example.org>", "https://example.org"),
    # Mention markup is exactly what it was: a link never becomes one, and one never loses its sigil here.
    ("<@U1> <!here> <#C1|general> <!subteam^S1|@nurses> <!date^1700000000^{date}|Nov 14>",
     "<@U1> <!here> <#C1|general> <!subteam^S1|@nurses> <!date^1700000000^{date}|Nov 14>"),
    ("<https://example.org|&lt;!here&gt;> &lt;@U2&gt;", "<!here> (https://example.org) <@U2>"),
])
def test_slack_link_markup_arrives_as_plain_text(sent: str, typed: str) -> None:
    event = message_event(channel_event("U1", PAIN, sent), datetime(2026, 1, 1, tzinfo=UTC), BOT_USER)
    assert event is not None and event.text == typed
    mentions = re.compile(r"<[@!#][^<>]*>")
    assert mentions.findall(event.text) == mentions.findall(unescape(sent))  # no mention gained or lost


def test_relayed_text_cannot_ping_anyone() -> None:
    text, blocks = render(OutboundMessage("hi <!here> & <@U1> <!subteam^S1>"))
    assert text == "hi &lt;!here&gt; &amp; &lt;@U1&gt; &lt;!subteam^S1&gt;"
    assert blocks[0]["text"]["text"] == text


# ---------------------------------------------------------------- Socket Mode


async def test_socket_mode_serves_the_same_handlers_over_a_websocket(fake: FakeSlack, tmp_path: Path,
                                                                     clock: ManualClock) -> None:
    """Socket Mode through bolt's own socket-mode client and handler: the fake's apps.connections.open hands out a
    local websocket; envelopes are acknowledged by envelope_id and handled like HTTP requests."""
    settings = slack_settings(fake.url, mode="socket", app_token="xapp-test", signing_secret="")
    store = await SQLiteStore.open(str(tmp_path / "socket.db"))
    platform = SlackPlatform(settings.slack, clock)
    app = build_app(settings, store, clock, {"slack": platform})
    try:
        await platform.start(app.handle)
        assert fake.of("apps.connections.open")
        await fake.push("slash_commands", command_form("U1", "join"), "env-1")
        await platform.idle()
        await app.dispatcher.drain()
        assert fake.dms_to("U1")[-1].labels == ["I agree", "No thanks"]
        message, element, option = fake.find_button("U1", "I agree")
        await fake.push("interactive", press_payload("U1", message, element, option), "env-2")
        await fake.push("events_api", dm_event("U9", "i want to kill myself"), "env-3")
        await platform.idle()
        await app.dispatcher.drain()
        assert fake.dms_to("U1")[-1].labels != ["I agree", "No thanks"]  # consent recorded, next step asked
        assert fake.posts_to(MODS) and "988" in fake.dms_to("U9")[-1].text
        assert fake.socket_acks == ["env-1", "env-2", "env-3"]
    finally:
        await platform.stop()
        await store.close()


def test_markdown_bold_becomes_slack_bold() -> None:
    text, _ = render(OutboundMessage("**Quiet Heron 42** · post AB12\nhello"))
    assert text.startswith("*Quiet Heron 42* · post AB12")


async def test_anonymous_reply_goes_in_the_thread_of_the_post(workspace: Workspace) -> None:
    await workspace.join("U1", "Skip", "Skip", "Skip", "Skip", "Skip")
    await workspace.join("U2", "Skip", "Skip", "Skip", "Skip", "Skip")
    await workspace.command("U1", "post chronic-pain what helps you sleep?")
    post = workspace.fake.posts_to(PAIN)[-1]
    await workspace.press("U2", "Reply")
    hint = workspace.fake.dms_to("U2")[-1].text
    post_id = hint.split("`/peer reply ")[1].split()[0]
    await workspace.command("U2", f"reply {post_id} a warm bath and no screens")
    reply = workspace.fake.posts_to(PAIN)[-1]
    assert reply.args.get("thread_ts") == post.ts and "warm bath" in reply.text and "U2" not in reply.text


async def test_a_command_in_a_channel_is_answered_privately(workspace: Workspace) -> None:
    await workspace.command("U1", "help", channel=PAIN)
    assert workspace.fake.posts_to(PAIN) == []
    private = workspace.fake.of("chat.postEphemeral", channel=PAIN, user="U1")
    assert private and "/peer" in private[0].text


async def test_slack_url_verification_is_answered(workspace: Workspace) -> None:
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"})
    async with workspace.slack.session.post(workspace.slack.url, data=body.encode(), headers={
            "Content-Type": "application/json", **sign(body)}) as response:
        assert response.status == 200 and "c-123" in await response.text()


async def test_posts_to_one_channel_are_spaced(fake: FakeSlack, clock: ManualClock) -> None:
    settings = slack_settings(fake.url, post_interval_seconds=0.2)
    platform = SlackPlatform(settings.slack, clock)
    channel = ConversationRef("slack", TEAM, PAIN)
    for n in range(3):
        await platform.send(channel, OutboundMessage(f"post {n}"), idempotency_key=f"k{n}")
    await platform.send(ConversationRef("slack", TEAM, MODS), OutboundMessage("alert"), idempotency_key="k9")
    times = [c.at for c in fake.calls if c.method == "chat.postMessage"]
    assert times[1] - times[0] >= 0.19 and times[2] - times[1] >= 0.19
    assert times[3] - times[2] < 0.19  # another channel does not wait


async def test_a_private_file_in_a_channel_arrives_in_the_dm(fake: FakeSlack, clock: ManualClock) -> None:
    # Slack has no ephemeral files: a private answer with a file (an export, a report) must not lose the file.
    platform = SlackPlatform(slack_settings(fake.url).slack, clock)
    await platform.send(ConversationRef("slack", TEAM, PAIN), OutboundMessage(
        "your data", attachment_name="peerbot-export.json", attachment='{"mine": true}'),
        idempotency_key="k1", ephemeral_to=UserRef("slack", TEAM, "U1"))
    assert json.loads(fake.of("upload")[-1].args["content"]) == {"mine": True}
    assert fake.of("files.completeUploadExternal")[-1].args.get("channel_id") == dm_channel("U1")
    assert not fake.of("chat.postEphemeral") and not fake.posts_to(PAIN)


@pytest.mark.parametrize(("status", "error", "transient"), [
    (200, "channel_not_found", False), (200, "not_in_channel", False), (200, "is_archived", False),
    (200, "invalid_auth", False), (200, "msg_too_long", False), (500, "internal_error", True),
    (503, "service_unavailable", True), (200, "ratelimited", True),
])
async def test_slack_errors_map_to_retry_or_dead_letter(fake: FakeSlack, clock: ManualClock, status: int,
                                                        error: str, transient: bool) -> None:
    platform = SlackPlatform(slack_settings(fake.url).slack, clock)
    fake.fail_next("chat.postMessage", status=status, error=error)
    with pytest.raises(TransientSendError if transient else PermanentSendError) as caught:
        await platform.send(ConversationRef("slack", TEAM, PAIN), OutboundMessage("x"), idempotency_key="k")
    assert error in str(caught.value) or "rate limited" in str(caught.value)
    assert isinstance(caught.value, TransientSendError) == transient


async def test_an_unreachable_slack_is_a_transient_error(clock: ManualClock) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    platform = SlackPlatform(slack_settings(f"http://127.0.0.1:{port}/api/").slack, clock)
    with pytest.raises(TransientSendError):
        await platform.send(ConversationRef("slack", TEAM, PAIN), OutboundMessage("x"), idempotency_key="k")


async def test_events_are_acknowledged_before_the_work_and_a_retry_during_it_is_processed_once(
        fake: FakeSlack, tmp_path: Path, clock: ManualClock) -> None:
    settings = slack_settings(fake.url)
    store = await SQLiteStore.open(str(tmp_path / "ack.db"))
    platform = SlackPlatform(settings.slack, clock)
    app = build_app(settings, store, clock, {"slack": platform})
    gate = asyncio.Event()
    handed: list[str | None] = []

    async def slow_core(event: InboundEvent) -> None:
        handed.append(event.event_id)
        await gate.wait()  # the core is busy (a slow database, say) for as long as the test wants
        await app.handle(event)

    await platform.start(slow_core)
    client = SlackClient(f"http://127.0.0.1:{platform.http_port}/slack/events")
    try:
        body = dm_event("U1", "i want to kill myself", event_id="Ev0SLOW")
        assert await client.event(body) == 200  # answered while the work has not even started
        assert await client.event(body, retry_num=1) == 200  # Slack retries meanwhile
        assert not gate.is_set() and fake.of("chat.postMessage") == []
        gate.set()
        await platform.idle()
        await app.dispatcher.drain()
        assert handed == ["Ev0SLOW", "Ev0SLOW"]  # the same id both times...
        assert len(fake.posts_to(MODS)) == 1 and len(fake.dms_to("U1")) == 1  # ...so it is handled once
    finally:
        await client.close()
        await platform.stop()
        await store.close()


async def test_a_command_in_a_channel_without_the_bot_is_answered_in_the_dm(workspace: Workspace) -> None:
    workspace.fake.fail_next("chat.postEphemeral", error="channel_not_found")
    await workspace.command("U1", "i want to kill myself", channel="CRANDOM")
    assert "988" in workspace.fake.posts_to(dm_channel("U1"))[-1].text  # the resources still reach the person
    # ...once: an answer that already landed in the DM needs no copy there
    assert len([c for c in workspace.fake.posts_to(dm_channel("U1")) if "988" in c.text]) == 1
    assert await workspace.store.outbox.items(OutboxStatus.DEAD) == []


async def test_a_bad_app_token_stops_socket_mode_start_with_the_key_named(fake: FakeSlack,
                                                                          clock: ManualClock) -> None:
    fake.fail_next("apps.connections.open", error="invalid_auth")
    platform = SlackPlatform(slack_settings(fake.url, mode="socket", app_token="xapp-bad").slack, clock)
    with pytest.raises(SlackStartupError, match=r"slack\.app_token"):
        await platform.start(lambda event: asyncio.sleep(0))
    await platform.stop()


def test_the_manifest_subscribes_to_what_the_adapter_handles() -> None:
    manifest = (ROOT / "adapters" / "slack" / "manifest.yml").read_text(encoding="utf-8")
    for needed in ("message.im", "message.channels", "message.groups", "member_joined_channel", "app_home_opened",
                   "command: /peer", "home_tab_enabled: true", "socket_mode_enabled: true", "usergroups:read",
                   "chat:write", "im:write", "files:write", "users:read", "commands", "/slack/events"):
        assert needed in manifest, needed
    interactivity = manifest.split("interactivity:")[1]
    assert "is_enabled: true" in interactivity.splitlines()[1]


async def test_pairing_relay_through_slack_carries_no_identity_or_mentions(workspace: Workspace) -> None:
    profile = ("Diabetes", "Done", "English", "Use Europe/London", "No check-ins")
    await workspace.join("UMAYA", "Mentor", *profile)
    await workspace.command("UMAYA", "mentor intro Type 1 for 15 years, happy to talk.")
    await workspace.press(MOD, "Approve")
    await workspace.join("UALICE", "Looking for support", *profile)
    await workspace.command("UALICE", "pair Newly diagnosed and a bit lost")
    await workspace.press("UMAYA", "Accept")
    await workspace.press("UALICE", "Start")
    await workspace.say("UALICE", "Hi! <!channel> <@U123> thanks for taking me on")
    relayed = workspace.fake.posts_to(dm_channel("UMAYA"))[-1].text
    assert "thanks for taking me on" in relayed
    assert "<!channel>" not in relayed and "<@U123>" not in relayed and "UALICE" not in relayed
    # A link she pastes arrives in Slack's link markup; her mentor reads it as plain text, the address visible.
    await workspace.say("UALICE", "this helped: <https://example.org/t?a=1&amp;b=2|a guide>, "
                                  "also <http://example.org|example.org>")
    relayed = workspace.fake.posts_to(dm_channel("UMAYA"))[-1].text
    assert "this helped: a guide (https://example.org/t?a=1&amp;b=2), also example.org" in relayed
    assert "&lt;" not in relayed and "|" not in relayed


def test_a_button_without_a_value_round_trips_as_empty() -> None:
    _, blocks = render(OutboundMessage("topics?", (Choice("Done", "onb.topics_done", ""),)))
    button = blocks[-1]["elements"][0]
    assert "value" not in button  # Slack refuses an empty value
    assert decode_action({"action_id": button["action_id"], "text": button["text"]}) == ("onb.topics_done", "",
                                                                                       "Done")


# Every verb the core registers, typed as `/peer <verb>` in Slack, and what its own answer starts to say.
VERB_ANSWERS = {
    "help": "Here is what I can do", "join": "Your profile", "profile": "Your profile",
    "post": "Usage: `/peer post", "reply": "There is no post with that id", "delete": "You have no post with that id",
    "pair": "waitlist", "say": "not in a mentor pairing", "mentor": "Mentors are people",
    "checkin": "mood check-in", "pause": "no check-ins to pause", "resume": "Nothing is paused",
    "mood": "No check-in answers yet", "survey": "Question 1 of", "export": "", "forget": "deletes everything",
}
MOD_ANSWERS = {
    "ack": "There is no safety alert", "resolve": "There is no safety alert", "say": "There is no safety alert",
    "publish": "There is no safety alert", "discard": "There is no safety alert", "report": "Open safety alerts",
    "remove": "There is no published post", "mute": "No member has that pseudonym",
    "unmute": "No member has that pseudonym", "reveal": "No member has that pseudonym",
    "approve": "No member has that pseudonym", "decline": "No member has that pseudonym",
    "waitlist": "Waiting for a mentor",
}


async def test_every_peer_verb_the_core_registers_answers_through_the_slash_command(workspace: Workspace) -> None:
    await workspace.join("U1", "Looking for support", "Diabetes", "Done", "English", "Use Europe/London",
                         "No check-ins")
    registered = set(workspace.app.router.commands) | {"help"}
    assert registered == set(VERB_ANSWERS), "a verb was added or removed: say here what it answers"
    for verb, answer in VERB_ANSWERS.items():
        before, uploads = len(workspace.fake.dms_to("U1")), len(workspace.fake.of("upload"))
        await workspace.command("U1", verb)
        if verb == "export":  # the answer is a file
            assert len(workspace.fake.of("upload")) == uploads + 1
            continue
        texts = [call.text for call in workspace.fake.dms_to("U1")[before:]]
        assert any(answer in text for text in texts), (verb, texts)
        assert not any("I don't know" in text or "not available" in text for text in texts), (verb, texts)
    # The text after the verb reaches the core as typed: Slack escapes `&`, `<`, `>` in it and the adapter undoes
    # that once (the post is escaped again on the way out, once).
    await workspace.command("U1", "post chronic-pain I’m “fine” &amp; &lt;3 really")
    post = workspace.fake.posts_to(PAIN)[-1].text
    assert "I’m \"fine\" &amp; &lt;3 really" in post and "&amp;amp;" not in post  # (phone quotes made plain)
    # ... and a typo is told apart from them.
    await workspace.command("U1", "pari")
    assert "Did you mean `/peer pair`?" in workspace.fake.dms_to("U1")[-1].text


async def test_every_moderator_command_answers_a_moderator_through_the_slash_command(workspace: Workspace) -> None:
    assert set(workspace.app.router.moderator_commands) == set(MOD_ANSWERS)
    for moderator in (MOD, GROUP_MOD):  # by the configured list, and by the user group
        for sub, answer in MOD_ANSWERS.items():
            await workspace.command(moderator, f"mod {sub}")
            assert answer in workspace.fake.dms_to(moderator)[-1].text, (moderator, sub)
    await workspace.command("U1", "mod report")
    assert workspace.fake.dms_to("U1")[-1].text == "Only moderators can use `/peer mod`."
