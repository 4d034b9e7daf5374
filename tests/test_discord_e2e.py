"""`peerbot run` with a Discord config, end to end against the fake Discord on 127.0.0.1: a real process, real
discord.py issuing the REST calls and holding the gateway, the real core and a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord_bot.slash import MOD_VERBS, PEER_VERBS
from bot.commands import VERB_NAMES
from bot.config import Settings
from bot.ports import SystemClock
from bot.wiring import build_app
from storage.sqlite import SQLiteStore
from tests.conftest import ROOT, peerbot
from tests.fake_discord import (
    ALICE,
    APP_ID,
    CLOSED,
    GROUP_CHANNEL,
    GUILD_ID,
    MAYA,
    MOD_CHANNEL,
    MOD_ROLE,
    MODERATOR,
    FakeDiscord,
    Request,
    custom_id_of,
)

TOKEN = "fake-token-for-tests"
EPHEMERAL = 64


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    yield server
    await server.close()


def write_config(tmp_path: Path, fake: FakeDiscord) -> Path:
    path = tmp_path / "peerbot.toml"
    path.write_text(f"""
[storage]
url = "sqlite:///{tmp_path / 'bot.db'}"
[console]
enabled = false
[discord]
enabled = true
api_base = "{fake.api_base}"
moderator_channel = "{MOD_CHANNEL}"
moderator_role = "{MOD_ROLE}"
guild_ids = ["{GUILD_ID}"]
[safety]
oncall = ["discord:{MODERATOR}"]
[groups.discord]
chronic-pain = "{GROUP_CHANNEL}"
""", encoding="utf-8")
    return path


class Bot:
    """`peerbot run --config PATH` as a child process."""

    def __init__(self, config: Path, fake: FakeDiscord) -> None:
        self.config = config
        self.fake = fake
        self.proc: asyncio.subprocess.Process | None = None
        self.log = config.parent / "bot.log"

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PEERBOT_")}
        env["PEERBOT_DISCORD__TOKEN"] = TOKEN
        connected = len(self.fake.identifies)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", "--config", str(self.config), cwd=str(ROOT), env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            await self.fake.wait_for(lambda: len(self.fake.identifies) > connected, within=60)
            # Ready once the commands are registered (the bot syncs them when the gateway is ready).
            await self.fake.wait_request("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands",
                                         count=len(self.fake.identifies))
        except TimeoutError:
            raise AssertionError("bot did not connect:\n" + self.log.read_text(errors="replace")) from None

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout=30)


@pytest.fixture
async def bot(tmp_path: Path, fake: FakeDiscord) -> AsyncIterator[Bot]:
    running = Bot(write_config(tmp_path, fake), fake)
    await running.start()
    yield running
    print(_debug_dump(fake, running))  # shown by pytest only when the test failed
    if running.proc is not None and running.proc.returncode is None:
        await running.stop()


async def callback_of(fake: FakeDiscord, interaction: dict[str, Any]) -> Request:
    found = await fake.wait_request("POST", f"/interactions/{interaction['id']}/")
    return found[0]


def content_of(request: Request) -> str:
    body = request.body or {}
    return str((body.get("data") or body).get("content") or "")


async def answer_to(fake: FakeDiscord, interaction: dict[str, Any], contains: str) -> dict[str, Any]:
    """The message the person saw in answer to an interaction (its response or a follow-up)."""
    token = interaction["token"]

    def found() -> dict[str, Any] | None:
        for r in fake.requests:
            if (f"/interactions/{interaction['id']}/" in r.path or f"/webhooks/{APP_ID}/{token}" in r.path) \
                    and contains in content_of(r):
                return r.body.get("data") or r.body
        return None
    return await fake.wait_for(found)


def stored(fake: FakeDiscord, content: str) -> dict[str, Any]:
    return next(m for m in reversed(list(fake.messages.values())) if content in m.get("content", ""))


# ---------------------------------------------------------------- a member's view of their DM with the bot


def dm_channel_of(fake: FakeDiscord, who: str) -> str:
    """The member's DM channel with the bot (opened by them, or by the bot earlier)."""
    found = next((c for c, u in fake.dm_channels.items() if u == who), None)
    if found is None:
        found = fake.new_id()
        fake.dm_channels[found] = who
    return found


def labels_of(message: dict[str, Any]) -> list[str]:
    return [str(c.get("label") or o.get("label")) for row in message.get("components") or []
            for c in row.get("components", []) for o in (c.get("options") or [c])]


def texts_in(fake: FakeDiscord, channel_id: str) -> list[str]:
    return [m.get("content", "") for m in fake.messages.values() if m["channel_id"] == channel_id]


async def newest(fake: FakeDiscord, channel_id: str, label: str, text: str = "") -> dict[str, Any]:
    """The newest bot message in a channel with a button (or select option) `label` and `text` in it."""
    def found() -> dict[str, Any] | None:
        return next((m for m in sorted(fake.messages.values(), key=lambda m: -int(m["id"]))
                     if m["channel_id"] == channel_id and label in labels_of(m) and text in m.get("content", "")),
                    None)
    try:
        return await fake.wait_for(found)
    except TimeoutError:
        raise AssertionError(f"no message with {label!r} in {channel_id}: {texts_in(fake, channel_id)}") from None


async def choose(fake: FakeDiscord, who: str, channel_id: str, label: str, text: str = "") -> dict[str, Any]:
    """`who` presses the button `label` (or picks the select option) on the newest message that has it."""
    message = await newest(fake, channel_id, label, text)
    dm = channel_id in fake.dm_channels
    for row in message["components"]:
        for component in row["components"]:
            option = next((o for o in component.get("options") or [] if o["label"] == label), None)
            if option is not None:
                press = fake.press(who, message, component["custom_id"], dm=dm, values=[option["value"]])
                break
            if component.get("label") == label:
                press = fake.press(who, message, component["custom_id"], dm=dm)
                break
        else:
            continue
        break
    await fake.dispatch("INTERACTION_CREATE", press)
    await callback_of(fake, press)
    return press


async def join_in_dm(fake: FakeDiscord, who: str, role: str, topic: str) -> str:
    """Onboarding by buttons in the member's DM; returns the pseudonym they were given."""
    dm = dm_channel_of(fake, who)
    await fake.dispatch("INTERACTION_CREATE", fake.slash(who, dm, "join", dm=True))
    await choose(fake, who, dm, "I agree")
    await choose(fake, who, dm, role, "What brings you here")
    await choose(fake, who, dm, topic, "Which topics")
    await choose(fake, who, dm, "Done", "Which topics")
    await choose(fake, who, dm, "English")
    await choose(fake, who, dm, "Skip", "Which timezone")  # Discord does not tell a timezone
    await choose(fake, who, dm, "No check-ins")
    welcome = next(t for t in texts_in(fake, dm) if "Your pseudonym is" in t)
    match = re.search(r"Your pseudonym is \*\*(.+?)\*\*", welcome)
    assert match is not None
    return match.group(1)


async def agree_in_channel(fake: FakeDiscord, who: str) -> dict[str, Any]:
    """`/peer join` in a group channel and *I agree* on the consent card; returns the card as the person saw it."""
    join = fake.slash(who, GROUP_CHANNEL, "join")
    await fake.dispatch("INTERACTION_CREATE", join)
    card = await answer_to(fake, join, "Before anything")
    consent = stored(fake, card["content"])
    await fake.dispatch("INTERACTION_CREATE", fake.press(who, consent, custom_id_of(consent, "I agree")))
    return card


def has_no_mention_syntax(text: str) -> bool:
    return not re.search(r"<@!?&?\d+>|<#\d+>|@everyone|@here", text)


# ---------------------------------------------------------------- journeys


async def test_every_verb_is_registered_in_the_guild_with_typed_options_and_answers(
        bot: Bot, fake: FakeDiscord, store: SQLiteStore) -> None:
    sync = fake.find("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")[0]
    (peer,) = sync.body
    subcommands = {o["name"]: o for o in peer["options"]}
    contract = set(VERB_NAMES) | {"mood", "reply", "delete"}
    assert contract <= set(subcommands)
    post = {o["name"]: o for o in subcommands["post"]["options"]}
    assert post["group"]["required"] and post["group"]["choices"] == [{"name": "chronic-pain",
                                                                       "value": "chronic-pain"}]
    assert post["text"]["type"] == 3 and post["text"]["required"]
    mod = {o["name"]: o for o in subcommands["mod"]["options"]}
    assert subcommands["mod"]["type"] == 2  # a subcommand group
    assert {"ack", "resolve", "reveal", "approve", "mute", "report"} <= set(mod)
    assert [(o["name"], o["type"]) for o in mod["ack"]["options"]] == [("escalation", 4)]
    assert [o["name"] for o in mod["reveal"]["options"]] == ["pseudonym", "reason"]
    assert set(PEER_VERBS) | {"mod"} <= set(subcommands) and set(MOD_VERBS) <= set(mod)
    # The verbs added with pairing and surveys have typed options, not one free-text field.
    assert [(o["name"], o["required"]) for o in subcommands["say"]["options"]] == [("text", True), ("to", False)]
    assert [o["name"] for o in subcommands["survey"]["options"]] == ["answer"]
    pair = {o["name"]: o for o in subcommands["pair"]["options"]}
    assert {"end", "feedback"} <= {c["value"] for c in pair["action"]["choices"]} and not pair["action"]["required"]
    assert not pair["text"]["required"]
    assert [o["name"] for o in mod["decline"]["options"]] == ["member", "reason"]

    # Every verb the core registers is in the synced tree, and each subcommand, used as Discord sends it, reaches
    # the verb's own handler: no "unknown verb", no "not available".
    core = build_app(Settings(), store, SystemClock(), {}).router
    assert set(core.commands) <= set(subcommands) and set(core.moderator_commands) <= set(mod)

    def filled(command: dict[str, Any]) -> dict[str, Any]:
        return {o["name"]: (o["choices"][0]["value"] if o.get("choices") else 1 if o["type"] == 4 else "Quiet Heron")
                for o in command.get("options", []) if o.get("required")}

    used = [(ALICE, GROUP_CHANNEL, (name,), filled(c)) for name, c in subcommands.items() if name != "mod"]
    used += [(MODERATOR, MOD_CHANNEL, ("mod", name), filled(c)) for name, c in mod.items()]
    for who, channel, path, options in used:
        interaction = fake.slash(who, channel, *path, **options)
        await fake.dispatch("INTERACTION_CREATE", interaction)
        answer = await answer_to(fake, interaction, " ")  # a sentence, not only an acknowledgement
        assert "I don't know `/peer" not in answer["content"], path
        assert "is not available" not in answer["content"] and "Moderator commands:" not in answer["content"], path


async def test_help_in_a_guild_channel_is_answered_ephemerally_at_once(bot: Bot, fake: FakeDiscord) -> None:
    interaction = fake.slash(ALICE, GROUP_CHANNEL, "help")
    await fake.dispatch("INTERACTION_CREATE", interaction)
    callback = await callback_of(fake, interaction)
    assert callback.query == {"with_response": "1"}
    assert callback.body["type"] == 4  # the answer itself, not a deferral
    assert callback.body["data"]["flags"] & EPHEMERAL
    assert "Here is what I can do" in callback.body["data"]["content"]
    assert callback.body["data"]["allowed_mentions"] == {"parse": []}


async def test_a_command_in_the_dm_is_answered_in_the_dm_through_the_interaction(bot: Bot, fake: FakeDiscord) -> None:
    dm_channel = fake.new_id()
    fake.dm_channels[dm_channel] = ALICE
    interaction = fake.slash(ALICE, dm_channel, "help", dm=True)
    await fake.dispatch("INTERACTION_CREATE", interaction)
    callback = await callback_of(fake, interaction)
    assert callback.body["type"] == 4 and "Here is what I can do" in callback.body["data"]["content"]
    assert not callback.body["data"].get("flags", 0) & EPHEMERAL  # a DM is private already
    assert not fake.find("POST", f"/channels/{dm_channel}/messages")  # answered once, not also as a message


async def test_member_joins_and_posts_anonymously_without_pinging_anyone(bot: Bot, fake: FakeDiscord) -> None:
    card = await agree_in_channel(fake, ALICE)
    assert card["flags"] & EPHEMERAL
    await fake.wait_for(lambda: any("Your pseudonym is" in m.get("content", "") for m in fake.messages.values()))

    post = fake.slash(ALICE, GROUP_CHANNEL, "post", group="chronic-pain", text="rough night @everyone <@123> <@&9>")
    await fake.dispatch("INTERACTION_CREATE", post)
    (published,) = await fake.wait_request("POST", f"/channels/{GROUP_CHANNEL}/messages")
    body = published.body
    assert body["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in body["content"] and "<@123>" not in body["content"] and "<@&9>" not in body["content"]
    assert "rough night" in body["content"] and "alice" not in body["content"].lower()
    assert [c["label"] for row in body["components"] for c in row["components"]] == ["Reply"]
    confirmation = await answer_to(fake, post, "published")
    assert confirmation["flags"] & EPHEMERAL  # only the author learns the post id and the Delete button

    post_id = custom_id_of(body, "Reply").rsplit(":", 1)[1]
    reply = fake.slash(ALICE, GROUP_CHANNEL, "reply", post=post_id, text="thank you all")
    await fake.dispatch("INTERACTION_CREATE", reply)
    message_id = next(m["id"] for m in fake.messages.values() if m.get("content") == body["content"])
    await fake.wait_request("POST", f"/channels/{GROUP_CHANNEL}/messages/{message_id}/threads")
    (in_thread,) = await fake.wait_request("POST", f"/channels/{message_id}/messages", where=lambda r: r.status == 200)
    assert "thank you all" in in_thread.body["content"] and in_thread.body["allowed_mentions"] == {"parse": []}

    reply_id = (await answer_to(fake, reply, "published"))["content"].split()[1]
    delete = fake.slash(ALICE, GROUP_CHANNEL, "delete", post=reply_id)
    await fake.dispatch("INTERACTION_CREATE", delete)
    reply_message = next(m for m in fake.messages.values() if "thank you all" in m.get("content", ""))
    (deleted,) = await fake.wait_request("DELETE", f"/channels/{message_id}/messages/{reply_message['id']}")
    assert deleted.status == 204  # deleted where it lives: in the post's thread


async def test_a_press_that_opens_a_form_is_answered_with_the_modal_and_the_submission_is_saved(
        bot: Bot, fake: FakeDiscord) -> None:
    await agree_in_channel(fake, ALICE)
    with_form = await fake.wait_for(lambda: next((m for m in fake.messages.values() if any(
        c.get("label") == "Fill in a form instead" for row in m.get("components", []) for c in row["components"])),
        None))
    press = fake.press(ALICE, with_form, custom_id_of(with_form, "Fill in a form instead"))
    await fake.dispatch("INTERACTION_CREATE", press)
    callback = await callback_of(fake, press)
    assert callback.body["type"] == 9  # the modal is the response itself, within Discord's 3 seconds
    modal = callback.body["data"]
    assert modal["custom_id"] == "pbf:onb.form:" and len(modal["components"]) <= 5

    submit = fake.submit(ALICE, GROUP_CHANNEL, modal, {"role": ["peer"], "timezone": "Europe/Paris",
                                                       "topics": ["chronic-pain", "diabetes"]}, message=with_form)
    await fake.dispatch("INTERACTION_CREATE", submit)
    await callback_of(fake, submit)
    profile = fake.slash(ALICE, GROUP_CHANNEL, "profile")
    await fake.dispatch("INTERACTION_CREATE", profile)
    shown = await answer_to(fake, profile, "Europe/Paris")
    assert shown["flags"] & EPHEMERAL


async def test_a_checkin_sent_by_dm_is_pointed_to_and_its_mood_button_works_after_a_restart(
        bot: Bot, fake: FakeDiscord) -> None:
    await agree_in_channel(fake, ALICE)
    await fake.wait_for(lambda: any("Your pseudonym is" in m.get("content", "") for m in fake.messages.values()))

    now = fake.slash(ALICE, GROUP_CHANNEL, "checkin", setting="now")
    await fake.dispatch("INTERACTION_CREATE", now)
    await fake.wait_request("POST", "/users/@me/channels")
    dm_channel = next(c for c, u in fake.dm_channels.items() if u == ALICE)
    (checkin,) = await fake.wait_request("POST", f"/channels/{dm_channel}/messages")
    pointer = await answer_to(fake, now, "direct message")
    assert pointer["flags"] & EPHEMERAL  # told, where they asked, that the check-in is in their DMs

    assert await bot.stop() == 0
    await bot.start()
    message = stored(fake, checkin.body["content"])
    press = fake.press(ALICE, message, custom_id_of(message, "3 · Okay"), dm=True)
    await fake.dispatch("INTERACTION_CREATE", press)
    answer = await callback_of(fake, press)
    assert answer.body["type"] == 4 and not answer.body["data"].get("flags", 0) & EPHEMERAL
    mood = fake.slash(ALICE, dm_channel, "mood", dm=True)
    await fake.dispatch("INTERACTION_CREATE", mood)
    assert "▄" in (await answer_to(fake, mood, "check-ins"))["content"]  # the answer was recorded


async def test_crisis_dm_alerts_moderators_and_a_button_pressed_after_restart_still_works(
        bot: Bot, fake: FakeDiscord) -> None:
    dm_channel = fake.new_id()
    fake.dm_channels[dm_channel] = ALICE
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload(ALICE, dm_channel, "I want to kill myself tonight",
                                                               dm=True))
    (alert,) = await fake.wait_request("POST", f"/channels/{MOD_CHANNEL}/messages")
    assert alert.body["allowed_mentions"] == {"parse": []}
    labels = [c["label"] for row in alert.body["components"] for c in row["components"]]
    assert "Acknowledge" in labels and "Resolve" in labels
    (reply,) = await fake.wait_request("POST", f"/channels/{dm_channel}/messages")
    assert "988" in reply.body["content"]  # crisis resources, privately, at once

    assert await bot.stop() == 0
    await bot.start()
    alert_message = stored(fake, alert.body["content"])
    press = fake.press(MODERATOR, alert_message, custom_id_of(alert_message, "Acknowledge"))
    await fake.dispatch("INTERACTION_CREATE", press)
    (edited,) = await fake.wait_request("PATCH", f"/channels/{MOD_CHANNEL}/messages/{alert_message['id']}")
    assert "Acknowledge" not in [c["label"] for row in edited.body["components"] for c in row["components"]]
    assert edited.body["allowed_mentions"] == {"parse": []}
    await callback_of(fake, press)


async def test_a_group_message_edited_into_crisis_text_alerts_the_moderators(bot: Bot, fake: FakeDiscord) -> None:
    original = fake.message_payload(ALICE, GROUP_CHANNEL, "rough day")
    await fake.dispatch("MESSAGE_CREATE", original)
    await fake.dispatch("MESSAGE_UPDATE", fake.edit_payload(original, "I want to kill myself tonight"))
    (alert,) = await fake.wait_request("POST", f"/channels/{MOD_CHANNEL}/messages")
    assert alert.body["allowed_mentions"] == {"parse": []}
    labels = [c["label"] for row in alert.body["components"] for c in row["components"]]
    assert "Acknowledge" in labels
    dm = await fake.wait_request("POST", "/users/@me/channels", where=lambda r: str(r.body["recipient_id"]) == ALICE)
    channel = next(c for c, u in fake.dm_channels.items() if u == ALICE)
    replies = await fake.wait_request("POST", f"/channels/{channel}/messages")
    assert dm and any("988" in r.body["content"] for r in replies)  # crisis resources, privately
    assert await bot.stop() == 0
    # no live interaction to answer: the resources went to the DM itself, and only once (no "kept" copy)
    assert len([r for r in fake.find("POST", f"/channels/{channel}/messages") if "988" in r.body["content"]]) == 1


async def test_crisis_resources_answered_ephemerally_in_a_channel_are_also_left_in_the_dm(
        bot: Bot, fake: FakeDiscord) -> None:
    post = fake.slash(ALICE, GROUP_CHANNEL, "post", group="chronic-pain", text="i want to kill myself tonight")
    await fake.dispatch("INTERACTION_CREATE", post)
    answer = await answer_to(fake, post, "988")
    assert answer["flags"] & EPHEMERAL  # at once, where they wrote, seen by nobody else
    # Discord drops ephemeral answers on reload: the same resources wait in the DM, once.
    await fake.wait_for(lambda: any(u == ALICE for u in fake.dm_channels.values()))
    channel = next(c for c, u in fake.dm_channels.items() if u == ALICE)
    (kept,) = await fake.wait_request("POST", f"/channels/{channel}/messages")
    assert kept.body["content"] == answer["content"]
    assert not fake.find("POST", f"/channels/{GROUP_CHANNEL}/messages")  # the post is held, nothing public
    assert await bot.stop() == 0
    assert len([r for r in fake.find("POST", f"/channels/{channel}/messages") if "988" in r.body["content"]]) == 1


async def test_non_moderator_cannot_press_moderator_buttons_or_use_mod_commands(bot: Bot, fake: FakeDiscord) -> None:
    report = fake.slash(ALICE, GROUP_CHANNEL, "mod", "report")
    await fake.dispatch("INTERACTION_CREATE", report)
    refused = await answer_to(fake, report, "Only moderators")
    assert refused["flags"] & EPHEMERAL
    allowed = fake.slash(MODERATOR, MOD_CHANNEL, "mod", "report")
    await fake.dispatch("INTERACTION_CREATE", allowed)
    answer = await answer_to(fake, allowed, "")
    assert "Only moderators" not in answer["content"]


async def test_crisis_reply_to_a_member_with_closed_dms_is_a_permanent_failure(
        bot: Bot, fake: FakeDiscord, tmp_path: Path) -> None:
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload(CLOSED, GROUP_CHANNEL, "I want to kill myself"))
    await fake.wait_request("POST", f"/channels/{MOD_CHANNEL}/messages")  # moderators are told regardless
    dm = await fake.wait_request("POST", "/users/@me/channels", where=lambda r: str(r.body["recipient_id"]) == CLOSED)
    assert dm
    assert await bot.stop() == 0
    result = await asyncio.to_thread(peerbot, "outbox", "--config", str(bot.config), "--status", "dead",
                                     env={"PEERBOT_DISCORD__TOKEN": TOKEN})
    dead = [json.loads(line) for line in result.stdout.splitlines()[1:]]
    assert len(dead) == 1 and "dms_closed" in dead[0]["last_error"] and dead[0]["attempts"] == 1


async def test_mentor_pairing_survey_and_report_journey_through_discord(bot: Bot, fake: FakeDiscord) -> None:
    # Maya offers to mentor by choosing the mentor role at onboarding: the offer reaches the moderator channel.
    maya = await join_in_dm(fake, MAYA, "Mentor", "Diabetes")
    offer = await newest(fake, MOD_CHANNEL, "Approve", maya)
    assert "Decline" in labels_of(offer) and offer["flags"] == 0
    (posted,) = fake.find("POST", f"/channels/{MOD_CHANNEL}/messages")
    assert posted.body["allowed_mentions"] == {"parse": []}

    # A member without the moderator role is refused, whatever the button shows: the offer stays undecided.
    refused = fake.press(ALICE, offer, custom_id_of(offer, "Approve"))
    await fake.dispatch("INTERACTION_CREATE", refused)
    assert (await answer_to(fake, refused, "Only moderators"))["flags"] & EPHEMERAL
    assert not fake.find("PATCH", f"/channels/{MOD_CHANNEL}/messages/{offer['id']}")
    approve = fake.press(MODERATOR, offer, custom_id_of(offer, "Approve"))
    await fake.dispatch("INTERACTION_CREATE", approve)
    (decided,) = await fake.wait_request("PATCH", f"/channels/{MOD_CHANNEL}/messages/{offer['id']}")
    assert "Approved" in decided.body["content"] and not decided.body["components"]
    maya_dm = dm_channel_of(fake, MAYA)
    await fake.wait_for(lambda: any("approved you as a mentor" in t for t in texts_in(fake, maya_dm)))
    intro = fake.slash(MAYA, GROUP_CHANNEL, "mentor", setting="intro Type 1 for 15 years, happy to talk")
    await fake.dispatch("INTERACTION_CREATE", intro)
    assert (await answer_to(fake, intro, "Saved"))["flags"] & EPHEMERAL

    # Alice joins and answers the baseline survey with the buttons, in her DM.
    alice = await join_in_dm(fake, ALICE, "Looking for support", "Diabetes")
    alice_dm = dm_channel_of(fake, ALICE)
    await choose(fake, ALICE, alice_dm, "Start", "anonymous survey")
    for number, answer in enumerate(["Most of the time", "Some of the time", "More than half of the time",
                                     "At no time", "Most of the time"], start=1):
        await choose(fake, ALICE, alice_dm, answer, f"Question {number} of 7")
    await choose(fake, ALICE, alice_dm, "4 · Satisfied", "Question 6 of 7")
    await choose(fake, ALICE, alice_dm, "Skip", "Question 7 of 7")
    await fake.wait_for(lambda: any("that's everything" in t for t in texts_in(fake, alice_dm)))

    # Alice asks for a mentor in a group channel; Maya accepts by button, Alice starts.
    ask = fake.slash(ALICE, GROUP_CHANNEL, "pair", text="Newly diagnosed @everyone and a bit lost")
    await fake.dispatch("INTERACTION_CREATE", ask)
    assert (await answer_to(fake, ask, "found a mentor"))["flags"] & EPHEMERAL
    proposal = await newest(fake, maya_dm, "Accept", alice)
    assert "a bit lost" in proposal["content"] and has_no_mention_syntax(proposal["content"])
    await choose(fake, MAYA, maya_dm, "Accept", alice)
    assert "Type 1 for 15 years" in (await newest(fake, alice_dm, "Start", maya))["content"]
    await choose(fake, ALICE, alice_dm, "Start", maya)
    await fake.wait_for(lambda: any("said yes" in t for t in texts_in(fake, maya_dm)))

    # A DM from each side reaches the other under the pseudonym, pinging nobody and linking to nobody.
    before = len(fake.find("POST", f"/channels/{maya_dm}/messages"))
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload(
        ALICE, alice_dm, "Hi! @everyone @here <@123> <@&9> <#5> thanks for taking me on", dm=True))
    relayed = (await fake.wait_request("POST", f"/channels/{maya_dm}/messages", count=before + 1))[-1].body
    assert "thanks for taking me on" in relayed["content"] and alice in relayed["content"]
    assert relayed["allowed_mentions"] == {"parse": []} and has_no_mention_syntax(relayed["content"])
    assert ALICE not in relayed["content"] and "alice" not in relayed["content"].lower()
    before = len(fake.find("POST", f"/channels/{alice_dm}/messages"))
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload(MAYA, maya_dm, f"Glad to <@{ALICE}>!", dm=True))
    back = (await fake.wait_request("POST", f"/channels/{alice_dm}/messages", count=before + 1))[-1].body
    assert "Glad to" in back["content"] and maya in back["content"] and has_no_mention_syntax(back["content"])
    assert back["allowed_mentions"] == {"parse": []} and MAYA not in back["content"]
    # `/peer say` with the typed options, used in a group channel, is relayed the same way.
    say = fake.slash(MAYA, GROUP_CHANNEL, "say", text="How were the first weeks?", to=alice)
    await fake.dispatch("INTERACTION_CREATE", say)
    await fake.wait_for(lambda: any("How were the first weeks?" in t and maya in t for t in texts_in(fake, alice_dm)))

    # A crisis inside the pair reaches the moderators and is not passed on.
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload(ALICE, alice_dm, "honestly I want to kill myself",
                                                               dm=True))
    alert = await newest(fake, MOD_CHANNEL, "Acknowledge")
    assert alert["id"] != offer["id"]
    await fake.wait_for(lambda: any("haven't passed that message on" in t for t in texts_in(fake, alice_dm)))
    assert not any("kill" in t for t in texts_in(fake, maya_dm))

    # Alice ends the pairing with the typed action: Maya is told.
    end = fake.slash(ALICE, GROUP_CHANNEL, "pair", action="end", text="it helped a lot, thank you")
    await fake.dispatch("INTERACTION_CREATE", end)
    await fake.wait_for(lambda: any("has ended your pairing" in t and alice in t for t in texts_in(fake, maya_dm)))

    # A moderator's report: the headline numbers where they asked, the HTML report as a file in their DM.
    report = fake.slash(MODERATOR, MOD_CHANNEL, "mod", "report")
    await fake.dispatch("INTERACTION_CREATE", report)
    headline = await answer_to(fake, report, "Open safety alerts: 1")
    assert headline["flags"] & EPHEMERAL and "Program figures" in headline["content"]
    mod_dm = await fake.wait_for(lambda: next((c for c, u in fake.dm_channels.items() if u == MODERATOR), None))
    (sent,) = await fake.wait_request("POST", f"/channels/{mod_dm}/messages", where=lambda r: bool(r.files))
    assert sent.body["attachments"][0]["filename"] == "peerbot-report.html"
    assert b"<html" in next(iter(sent.files.values())).lower()
    assert (await answer_to(fake, report, "direct message"))["flags"] & EPHEMERAL  # told where the file went


def _debug_dump(fake: FakeDiscord, bot: Bot) -> str:
    lines = [f"{r.method} {r.path} {json.dumps(r.body)[:300]}" for r in fake.requests]
    return "\n".join(lines) + "\n--- log\n" + bot.log.read_text(errors="replace")[-4000:]


# ---------------------------------------------------------------- what an operator sees when set-up is wrong


async def run_until_exit(config: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PEERBOT_")}
    env["PEERBOT_DISCORD__TOKEN"] = TOKEN
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--config", str(config), cwd=str(ROOT), env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")


async def test_without_the_message_content_intent_run_stops_and_says_how_to_enable_it(
        fake: FakeDiscord, tmp_path: Path) -> None:
    fake.refuse_message_content = True
    code, err = await run_until_exit(write_config(tmp_path, fake))
    assert code == 2
    assert "peerbot: discord: enable the Message Content intent" in err


async def test_a_refused_token_stops_run_without_printing_it(fake: FakeDiscord, tmp_path: Path) -> None:
    fake.refuse_token = True
    code, err = await run_until_exit(write_config(tmp_path, fake))
    assert code == 2 and "peerbot: discord: the token was refused" in err
    assert TOKEN not in err


def test_discord_ids_in_the_config_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[discord]\nmoderator_role = "@mods"\nguild_ids = ["my-server"]\nshards = -1\n', encoding="utf-8")
    result = peerbot("check-config", "--config", str(path))
    assert result.returncode == 2
    for key in ("discord.moderator_role", "discord.guild_ids", "discord.shards"):
        assert key in result.stderr


def test_invite_url_is_printed_from_the_configured_application(tmp_path: Path) -> None:
    path = tmp_path / "peerbot.toml"
    path.write_text(f'[discord]\napplication_id = "{APP_ID}"\n', encoding="utf-8")
    result = peerbot("discord", "invite-url", "--config", str(path))
    assert result.returncode == 0
    assert result.stdout.startswith("https://discord.com/oauth2/authorize?client_id=" + APP_ID)


def test_discord_cannot_be_enabled_without_a_moderator_role(tmp_path: Path) -> None:
    path = tmp_path / "peerbot.toml"
    path.write_text(f'[discord]\nenabled = true\ntoken = "t"\nmoderator_channel = "{MOD_CHANNEL}"\n', encoding="utf-8")
    result = peerbot("check-config", "--config", str(path))
    assert result.returncode == 2 and "discord.moderator_role" in result.stderr
