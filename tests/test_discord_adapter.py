"""The Discord adapter's translation, both ways, with discord.py's own objects built from gateway-shaped payloads,
and its platform port against the fake Discord on 127.0.0.1 (real discord.py issuing the requests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord.state import ConnectionState

from adapters.discord_bot import DiscordConfig, DiscordPlatform, translate
from adapters.discord_bot.invite import application_id_from_token, invite_url, permissions
from adapters.discord_bot.platform import send_error
from adapters.discord_bot.slash import MOD_VERBS, PEER_VERBS, command_text
from bot.commands import drop_first_arg, parse_command
from bot.events import (
    ActionInvoked,
    Choice,
    ChoiceKind,
    CommandInvoked,
    Form,
    FormField,
    FormSubmitted,
    MessageReceived,
    OutboundMessage,
    UserRef,
)
from bot.ports import ManualClock, PermanentSendError, TransientSendError
from tests.conftest import START
from tests.fake_discord import (
    ALICE,
    APP_ID,
    BOT_ID,
    CLOSED,
    GENERAL_CHANNEL,
    GROUP_CHANNEL,
    GUILD_ID,
    MOD_CHANNEL,
    MOD_ROLE,
    MODERATOR,
    FakeDiscord,
    custom_id_of,
    guild,
    user,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EPHEMERAL = 64


# ---------------------------------------------------------------- discord.py objects from payloads


@pytest.fixture
async def state() -> ConnectionState:
    """discord.py's own connection state, as after READY and GUILD_CREATE, without a network."""
    client = discord.Client(intents=DiscordPlatform.intents())
    connection = client._connection
    connection.loop = asyncio.get_running_loop()
    connection.user = discord.ClientUser(state=connection, data=user(BOT_ID, "peerbot", bot=True))  # type: ignore
    connection._add_guild_from_data(guild())  # type: ignore[arg-type]
    return connection


def message(state: ConnectionState, payload: dict[str, Any]) -> discord.Message:
    if "guild_id" in payload:
        channel: Any = state._get_guild(int(GUILD_ID)).get_channel(int(payload["channel_id"]))  # type: ignore
    else:
        channel = state.add_dm_channel({"id": payload["channel_id"], "type": 1, "last_message_id": None,
                                        "recipients": [payload["author"]]})  # type: ignore[typeddict-item]
    return discord.Message(state=state, channel=channel, data=payload)  # type: ignore[arg-type]


def test_channel_message_is_received_with_the_guild_as_workspace(state: ConnectionState) -> None:
    fake = FakeDiscord()
    received = message(state, fake.message_payload(ALICE, GROUP_CHANNEL, "hi all"))
    event = translate.message_event(received, "home", AT)
    assert isinstance(event, MessageReceived)
    assert event.user == UserRef("discord", GUILD_ID, ALICE)
    assert (event.conversation.channel_id, event.conversation.kind) == (GROUP_CHANNEL, "channel")
    assert event.text == "hi all" and event.event_id == f"m{received.id}"


def test_peer_typed_in_a_dm_is_a_command_of_the_home_guild_member(state: ConnectionState) -> None:
    fake = FakeDiscord()
    received = message(state, fake.message_payload(ALICE, "960000000000000001", "/peer post diabetes hi", dm=True))
    event = translate.message_event(received, GUILD_ID, AT)
    assert isinstance(event, CommandInvoked)
    assert event.text == "post diabetes hi" and event.conversation.kind == "dm"
    assert event.user == UserRef("discord", GUILD_ID, ALICE)  # the same member as in the guild


def test_the_bots_own_and_other_bots_messages_are_not_read(state: ConnectionState) -> None:
    fake = FakeDiscord()
    own = message(state, fake.message_payload(BOT_ID, GROUP_CHANNEL, "an anonymous post"))
    assert translate.message_event(own, GUILD_ID, AT) is None


def test_a_slash_command_and_a_press_become_core_events(state: ConnectionState) -> None:
    fake = FakeDiscord()
    interaction = discord.Interaction(data=fake.slash(MODERATOR, MOD_CHANNEL, "mod", "ack", escalation=3),  # type: ignore
                                      state=state)
    command = translate.command_event(interaction, "mod ack 3", GUILD_ID, AT)
    assert command.interaction == str(interaction.id) and command.event_id == f"i{interaction.id}"
    assert command.user == UserRef("discord", GUILD_ID, MODERATOR)
    assert translate.member_role_ids(interaction.user) == frozenset({int(MOD_ROLE)})

    rendered = translate.render(OutboundMessage("alert", (Choice("Acknowledge", "esc.ack", "3", "primary"),)))
    components = rendered.view.to_components()  # type: ignore[union-attr]
    alert = fake.message_payload(BOT_ID, MOD_CHANNEL, "alert", components=components)
    press = discord.Interaction(data=fake.press(MODERATOR, alert, custom_id_of(alert, "Acknowledge")),  # type: ignore
                                state=state)
    event = translate.action_event(press, "esc.ack", "3", "Acknowledge", GUILD_ID, AT)
    assert isinstance(event, ActionInvoked)
    assert event.message is not None and event.message.message_id == alert["id"]
    assert event.message.channel_id == MOD_CHANNEL and event.interaction == str(press.id)


def test_a_select_option_carries_its_action_value_and_label(state: ConnectionState) -> None:
    fake = FakeDiscord()
    topics = (Choice("Chronic pain", "onb.topic", "chronic-pain", kind=ChoiceKind.OPTION),
              Choice("Diabetes", "onb.topic", "diabetes", kind=ChoiceKind.OPTION))
    components = translate.render(OutboundMessage("topics?", topics)).view.to_components()  # type: ignore
    prompt = fake.message_payload(BOT_ID, "960000000000000001", "topics?", dm=True, components=components)
    press = discord.Interaction(data=fake.press(ALICE, prompt, "pbs:0", dm=True,  # type: ignore[arg-type]
                                                values=["onb.topic:diabetes"]), state=state)
    assert translate.selected(press) == ("onb.topic", "diabetes", "Diabetes")


def test_a_modal_submission_becomes_form_submitted(state: ConnectionState) -> None:
    fake = FakeDiscord()
    form = Form("Your profile", "onb.form", "7", fields=(
        FormField("role", "Role", "select", (("peer", "Peer"), ("mentor", "Mentor")), ("peer",)),
        FormField("timezone", "Timezone", initial=("UTC",), max_length=64)))
    modal = translate.build_modal(form).to_dict()
    assert modal["custom_id"] == "pbf:onb.form:7" and modal["title"] == "Your profile"
    assert [c["type"] for c in modal["components"]] == [18, 18]  # each field in a label
    submit = discord.Interaction(data=fake.submit(ALICE, GROUP_CHANNEL, modal,  # type: ignore[arg-type]
                                                  {"role": ["mentor"], "timezone": "Europe/Paris"}), state=state)
    event = translate.form_event(submit, GUILD_ID, AT)
    assert isinstance(event, FormSubmitted)
    assert (event.action, event.value) == ("onb.form", "7")
    assert event.get("role") == ("mentor",) and event.first("timezone") == "Europe/Paris"


# ---------------------------------------------------------------- outbound translation


def test_nobody_is_pinged_except_the_moderator_role_on_a_repage() -> None:
    quiet = translate.render(OutboundMessage("hello @everyone"))
    assert quiet.mentions.to_dict() == {"parse": []}
    loud = translate.render(OutboundMessage("still open", ping_moderators=True), int(MOD_ROLE))
    assert loud.pieces[0].startswith(f"<@&{MOD_ROLE}> ")
    assert loud.mentions.to_dict() == {"parse": [], "roles": [int(MOD_ROLE)]}


def test_long_text_is_split_at_line_breaks_and_buttons_go_last() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(60))
    rendered = translate.render(OutboundMessage(text, (Choice("OK", "a", "1"),)))
    assert len(rendered.pieces) > 1 and all(len(p) <= 2000 for p in rendered.pieces)
    assert "\n".join(rendered.pieces) == text
    assert "view" not in rendered.kwargs(last=False) and "view" in rendered.kwargs(last=True)


def test_a_custom_id_too_long_for_discord_is_refused_not_truncated() -> None:
    with pytest.raises(translate.TranslationError):
        translate.render(OutboundMessage("x", (Choice("Go", "act", "v" * 120),)))


def test_failures_are_mapped_so_only_what_can_recover_is_retried() -> None:
    def http(cls: type[discord.HTTPException], status: int, code: int) -> discord.HTTPException:
        return cls(SimpleNamespace(status=status, reason="x"), {"code": code, "message": "m"})  # type: ignore

    assert isinstance(send_error(http(discord.Forbidden, 403, 50007)), PermanentSendError)
    assert isinstance(send_error(http(discord.NotFound, 404, 10003)), PermanentSendError)
    assert isinstance(send_error(http(discord.DiscordServerError, 503, 0)), TransientSendError)
    assert isinstance(send_error(http(discord.HTTPException, 429, 0)), TransientSendError)
    assert isinstance(send_error(OSError("connection reset")), TransientSendError)


def test_invite_url_asks_exactly_for_what_the_bot_uses() -> None:
    wanted = permissions()
    assert wanted.send_messages and wanted.create_public_threads and wanted.attach_files
    assert not (wanted.administrator or wanted.mention_everyone or wanted.manage_messages or wanted.manage_webhooks)
    url = invite_url(APP_ID)
    assert f"client_id={APP_ID}" in url and "scope=bot+applications.commands" in url
    assert f"permissions={wanted.value}" in url
    assert application_id_from_token("OTAwMDAwMDAwMDAwMDAwMDAx.G1.xyz") == APP_ID
    assert permissions(webhooks=True).manage_webhooks  # only when anonymous posts go through webhooks


# ---------------------------------------------------------------- the port against the fake Discord


class Recorder:
    def __init__(self) -> None:
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.react: Any = None

    async def __call__(self, event: Any) -> None:
        if self.react is not None:
            await self.react(event)
        self.events.put_nowait(event)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    yield server
    await server.close()


async def running(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, **options: Any) -> DiscordPlatform:
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", discord.gateway.DiscordWebSocket
                        .DEFAULT_GATEWAY)  # restored after the test (the adapter points it at the proxy's gateway)
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    config = DiscordConfig(token="test-token", api_base=fake.api_base, moderator_channel=MOD_CHANNEL,
                           moderator_role=MOD_ROLE, guild_ids=(GUILD_ID,), groups=("chronic-pain",),
                           answer_within=0.3, **options)
    return DiscordPlatform(config, ManualClock(START))


@pytest.fixture
async def platform(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[DiscordPlatform,
                                                                                              Recorder]]:
    adapter = await running(fake, monkeypatch)
    sink = Recorder()
    await asyncio.wait_for(adapter.start(sink), 20)
    yield adapter, sink
    await adapter.stop()


async def test_an_unanswered_command_is_deferred_privately_and_answered_by_a_followup(
        fake: FakeDiscord, platform: tuple[DiscordPlatform, Recorder]) -> None:
    adapter, sink = platform
    interaction = fake.slash(ALICE, GROUP_CHANNEL, "export")
    await fake.dispatch("INTERACTION_CREATE", interaction)
    event = await sink.events.get()
    (deferral,) = await fake.wait_request("POST", f"/interactions/{interaction['id']}/")
    assert deferral.body == {"type": 5, "data": {"flags": EPHEMERAL}}  # "thinking", seen only by alice
    await adapter.send(event.conversation, OutboundMessage("your data", attachment_name="peerbot-export.json",
                                                           attachment='{"pseudonym": "Quiet Heron 42"}'),
                       idempotency_key=f"discord:{GUILD_ID}:{event.event_id}:0", ephemeral_to=event.user)
    (followup,) = await fake.wait_request("POST", f"/webhooks/{APP_ID}/{interaction['token']}")
    assert followup.body["flags"] == EPHEMERAL and followup.body["content"] == "your data"
    assert followup.files["files[0]"] == b'{"pseudonym": "Quiet Heron 42"}'  # the export as a file


async def test_an_unanswered_press_is_acknowledged_without_a_message(
        fake: FakeDiscord, platform: tuple[DiscordPlatform, Recorder]) -> None:
    adapter, sink = platform
    ref = await adapter.send(adapter.moderator_channel(GUILD_ID), OutboundMessage(  # type: ignore[arg-type]
        "alert", (Choice("Acknowledge", "esc.ack", "5", "primary"),)), idempotency_key="alert-5")
    alert = fake.messages[ref.message_id]
    press = fake.press(MODERATOR, alert, custom_id_of(alert, "Acknowledge"))
    await fake.dispatch("INTERACTION_CREATE", press)
    event = await sink.events.get()
    assert (event.action, event.value, event.label) == ("esc.ack", "5", "Acknowledge")
    (ack,) = await fake.wait_request("POST", f"/interactions/{press['id']}/")
    assert ack.body == {"type": 6}


async def test_a_form_can_only_answer_an_interaction_not_yet_answered(
        fake: FakeDiscord, platform: tuple[DiscordPlatform, Recorder]) -> None:
    adapter, sink = platform
    interaction = fake.slash(ALICE, GROUP_CHANNEL, "profile")
    await fake.dispatch("INTERACTION_CREATE", interaction)
    event = await sink.events.get()
    await fake.wait_request("POST", f"/interactions/{interaction['id']}/")  # deferred: nothing answered in time
    with pytest.raises(PermanentSendError):
        await adapter.open_form(event.user, event.interaction, Form("Profile", "onb.form"))
    with pytest.raises(PermanentSendError):
        await adapter.open_form(event.user, "1234", Form("Profile", "onb.form"))


async def test_a_member_with_closed_dms_is_told_where_they_used_the_command(
        fake: FakeDiscord, platform: tuple[DiscordPlatform, Recorder]) -> None:
    adapter, sink = platform
    refused: list[BaseException] = []

    async def answer_by_dm(event: Any) -> None:
        try:
            await adapter.send(await adapter.open_dm(event.user), OutboundMessage("your check-in"),
                               idempotency_key="checkin-1")
        except PermanentSendError as exc:
            refused.append(exc)

    sink.react = answer_by_dm
    interaction = fake.slash(CLOSED, GENERAL_CHANNEL, "checkin", setting="now")
    await fake.dispatch("INTERACTION_CREATE", interaction)
    await sink.events.get()
    assert refused and "dms_closed" in str(refused[0])
    (told,) = await fake.wait_request("POST", f"/interactions/{interaction['id']}/")
    assert told.body["type"] == 4 and told.body["data"]["flags"] == EPHEMERAL
    assert "privacy settings" in told.body["data"]["content"]


async def test_moderators_are_members_with_the_role_asked_of_discord(
        fake: FakeDiscord, platform: tuple[DiscordPlatform, Recorder]) -> None:
    adapter, _ = platform
    assert await adapter.is_moderator(UserRef("discord", GUILD_ID, MODERATOR))
    assert not await adapter.is_moderator(UserRef("discord", GUILD_ID, ALICE))
    assert fake.find("GET", f"/guilds/{GUILD_ID}/members/{MODERATOR}")


async def test_a_repage_mentions_the_moderator_role_and_nothing_else(
        fake: FakeDiscord, platform: tuple[DiscordPlatform, Recorder]) -> None:
    adapter, _ = platform
    await adapter.send(adapter.moderator_channel(GUILD_ID), OutboundMessage(  # type: ignore[arg-type]
        "Alert #5 is still unacknowledged", ping_moderators=True), idempotency_key="repage-5")
    (sent,) = await fake.wait_request("POST", f"/channels/{MOD_CHANNEL}/messages")
    assert sent.body["content"].startswith(f"<@&{MOD_ROLE}> ")
    assert sent.body["allowed_mentions"] == {"parse": [], "roles": [int(MOD_ROLE)]}
    assert sent.body["enforce_nonce"] is True  # a resend after a lost answer is not posted twice


async def test_a_sharded_bot_asks_discord_for_its_gateway(fake: FakeDiscord,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = await running(fake, monkeypatch, shards="auto")
    assert isinstance(adapter.client, discord.AutoShardedClient)
    await asyncio.wait_for(adapter.start(Recorder()), 20)
    try:
        assert fake.find("GET", "/gateway/bot")
        assert fake.identifies[-1]["shard"] == [0, 1]
        assert fake.identifies[-1]["intents"] == DiscordPlatform.intents().value
    finally:
        await adapter.stop()


async def test_every_verb_the_core_registers_is_a_slash_subcommand(store: Any) -> None:
    from bot.config import Settings
    from bot.wiring import build_app, discord_platform

    settings = Settings.model_validate({"discord": {"token": "t", "moderator_channel": MOD_CHANNEL},
                                        "groups": {"discord": {"chronic-pain": GROUP_CHANNEL}}})
    clock = ManualClock(START)
    app = build_app(settings, store, clock, {})
    adapter = discord_platform(settings, clock, app)
    peer = adapter.tree.get_command("peer")
    assert isinstance(peer, discord.app_commands.Group)
    subcommands = {c.name for c in peer.commands}
    assert set(app.router.commands) <= subcommands
    mod = peer.get_command("mod")
    assert isinstance(mod, discord.app_commands.Group)
    assert set(app.router.moderator_commands) <= {c.name for c in mod.commands}
    post = peer.get_command("post")
    assert isinstance(post, discord.app_commands.Command)
    assert [(p.name, p.required) for p in post.parameters] == [("group", True), ("text", True)]
    assert [c.value for c in post.parameters[0].choices] == ["chronic-pain"]


async def test_with_webhooks_anonymous_posts_show_the_pseudonym_and_are_deleted_after_a_restart(
        fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.events import ConversationRef

    adapter = await running(fake, monkeypatch, use_webhooks=True)
    await asyncio.wait_for(adapter.start(Recorder()), 20)
    group = ConversationRef("discord", GUILD_ID, GROUP_CHANNEL)
    try:
        post = await adapter.send(group, OutboundMessage("**Quiet Heron 42** · post K7QM\nhello @here", (
            Choice("Reply", "grp.reply", "K7QM"),), author_name="Quiet Heron 42"), idempotency_key="post:K7QM")
        reply = await adapter.send(ConversationRef("discord", GUILD_ID, GROUP_CHANNEL, thread_id=post.message_id),
                                   OutboundMessage("thanks", author_name="Brave Otter 7"), idempotency_key="post:R2")
    finally:
        await adapter.stop()
    assert len(fake.find("POST", f"/channels/{GROUP_CHANNEL}/webhooks")) == 1
    hook = fake.webhooks[next(iter(fake.webhooks))]
    sent = [r for r in fake.find("POST", f"/webhooks/{hook['id']}/") if r.status == 200]
    assert [r.body["username"] for r in sent] == ["Quiet Heron 42", "Brave Otter 7"]
    assert all(r.body["allowed_mentions"] == {"parse": []} for r in sent)
    assert sent[0].body["components"][0]["components"][0]["custom_id"] == "pb:0:grp.reply:K7QM"
    assert sent[1].query["thread_id"] == post.message_id and reply.channel_id == post.message_id

    restarted = await running(fake, monkeypatch, use_webhooks=True)
    await asyncio.wait_for(restarted.start(Recorder()), 20)
    try:
        await restarted.delete(reply)
        await restarted.delete(post)
    finally:
        await restarted.stop()
    assert len(fake.find("POST", f"/channels/{GROUP_CHANNEL}/webhooks")) == 1  # the same webhook found again
    deleted = fake.find("DELETE", f"/webhooks/{hook['id']}/")
    assert [r.status for r in deleted] == [204, 204] and deleted[0].query == {"thread_id": post.message_id}
    assert post.message_id not in fake.messages and reply.message_id not in fake.messages


async def test_a_malformed_gateway_event_is_logged_and_skipped_without_dropping_the_connection(
        fake: FakeDiscord, platform: tuple[DiscordPlatform, Recorder], caplog: pytest.LogCaptureFixture) -> None:
    _, sink = platform
    broken = fake.message_payload(ALICE, GROUP_CHANNEL, "a private sentence")
    del broken["author"]
    await fake.dispatch("MESSAGE_CREATE", broken)
    no_token = fake.slash(ALICE, GROUP_CHANNEL, "help")
    del no_token["token"]
    await fake.dispatch("INTERACTION_CREATE", no_token)
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload(ALICE, GROUP_CHANNEL, "still here"))
    event = await asyncio.wait_for(sink.events.get(), 10)
    assert event.text == "still here" and len(fake.identifies) == 1  # the same connection
    skipped = [r for r in caplog.records if "event skipped" in r.getMessage()]
    assert [getattr(r, "event", None) for r in skipped] == ["MESSAGE_CREATE", "INTERACTION_CREATE"]
    assert "a private sentence" not in caplog.text


def test_typed_options_become_the_text_the_core_parses() -> None:
    pair = PEER_VERBS["pair"][1]
    note = parse_command(command_text(["pair"], pair, {"text": "end of my rope, honestly"}))
    assert note.arg(0).lower() != "end" and note.rest(0) == "end of my rope, honestly"  # a note, not `pair end`
    ending = parse_command(command_text(["pair"], pair, {"action": "end", "text": "it helped, thank you"}))
    assert ending.arg(0) == "end" and ending.rest(1) == "it helped, thank you"
    say = parse_command(command_text(["say"], PEER_VERBS["say"][1], {"text": "hi there", "to": "Quiet Heron 42"}))
    assert say.rest(0) == "@Quiet Heron 42 hi there"  # the addressee first, as `/peer say @<pseudonym> <text>`
    decline = drop_first_arg(parse_command(command_text(["mod", "decline"], MOD_VERBS["decline"][1],
                                                        {"member": "Quiet Heron 42", "reason": "not yet trained"})))
    assert decline.args[0] == "Quiet Heron 42" and decline.rest(1) == "not yet trained"


# ---------------------------------------------------------------- edits, shutdown, webhooks, one server


async def next_event(sink: Recorder) -> Any:
    return await asyncio.wait_for(sink.events.get(), 10)


async def test_a_message_edited_into_crisis_text_is_received_again_with_its_new_text(
        fake: FakeDiscord, platform: tuple[DiscordPlatform, Recorder]) -> None:
    _, sink = platform
    original = fake.message_payload(ALICE, GROUP_CHANNEL, "rough day")
    await fake.dispatch("MESSAGE_CREATE", original)
    first = await next_event(sink)
    assert first.text == "rough day"
    await fake.dispatch("MESSAGE_UPDATE", fake.edit_payload(original, "I want to end my life"))
    edited = await next_event(sink)
    assert isinstance(edited, MessageReceived) and edited.text == "I want to end my life"
    assert edited.user == first.user and edited.conversation == first.conversation
    assert edited.event_id != first.event_id and edited.event_id.startswith(f"edit:{original['id']}:")

    # Discord unfurling a link (an update with no new text) and a bot's edit are not messages to screen.
    await fake.dispatch("MESSAGE_UPDATE", {**fake.edit_payload(original, "I want to end my life"),
                                           "embeds": [{"type": "link", "url": "https://example.org"}]})
    bot_message = fake.message_payload(BOT_ID, GROUP_CHANNEL, "a check-in")
    await fake.dispatch("MESSAGE_UPDATE", fake.edit_payload(bot_message, "edited by the bot"))
    # A DM edited after a restart (not in discord.py's cache) is still seen, as the home server's member.
    dm = fake.message_payload(ALICE, fake.new_id(), "fine thanks", dm=True)
    await fake.dispatch("MESSAGE_UPDATE", fake.edit_payload(dm, "not fine, I have pills saved up"))
    uncached = await next_event(sink)
    assert uncached.text == "not fine, I have pills saved up" and uncached.conversation.kind == "dm"
    assert uncached.user.workspace == GUILD_ID and uncached.event_id.startswith(f"edit:{dm['id']}:")
    assert sink.events.empty()


async def test_stop_waits_for_an_event_still_being_handled_before_disconnecting(
        fake: FakeDiscord, platform: tuple[DiscordPlatform, Recorder]) -> None:
    adapter, sink = platform
    started, release = asyncio.Event(), asyncio.Event()
    answered: list[str] = []

    async def slow_crisis_handling(event: Any) -> None:
        started.set()
        await release.wait()
        ref = await adapter.send(adapter.moderator_channel(GUILD_ID),  # type: ignore[arg-type]
                                 OutboundMessage("alert"), idempotency_key="alert-1")
        answered.append(ref.message_id)

    sink.react = slow_crisis_handling
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload(ALICE, GROUP_CHANNEL, "I want to kill myself"))
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(adapter.stop())
    done, _ = await asyncio.wait({stopping}, timeout=0.5)
    assert not done  # still handling the message: the bot does not disconnect under it
    release.set()
    await asyncio.wait_for(stopping, 20)
    assert answered and answered[0] in fake.messages  # the alert went out before the adapter closed


async def test_a_deleted_webhook_is_replaced_once_and_without_manage_webhooks_the_bot_posts_itself(
        fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from bot.events import ConversationRef

    adapter = await running(fake, monkeypatch, use_webhooks=True)
    await asyncio.wait_for(adapter.start(Recorder()), 20)
    group = ConversationRef("discord", GUILD_ID, GROUP_CHANNEL)
    try:
        await adapter.send(group, OutboundMessage("**Quiet Heron 42** · post K7QM\nhello",
                                                  author_name="Quiet Heron 42"), idempotency_key="post:K7QM")
        fake.webhooks.clear()  # an admin deleted the webhook
        second = await adapter.send(group, OutboundMessage("**Quiet Heron 42** · post M2PQ\nagain",
                                                           author_name="Quiet Heron 42"), idempotency_key="post:M2PQ")
        assert len(fake.find("POST", f"/channels/{GROUP_CHANNEL}/webhooks")) == 2  # a fresh one, once
        assert fake.messages[second.message_id]["webhook_id"] in fake.webhooks

        fake.webhooks.clear()
        fake.forbid_webhooks = True  # and took Manage Webhooks away
        caplog.clear()
        for key in ("post:A1", "post:A2"):
            ref = await adapter.send(group, OutboundMessage(f"**Quiet Heron 42** · {key}\nhi @everyone",
                                                            author_name="Quiet Heron 42"), idempotency_key=key)
            assert "webhook_id" not in fake.messages[ref.message_id]  # the bot's own message
    finally:
        await adapter.stop()
    own = fake.find("POST", f"/channels/{GROUP_CHANNEL}/messages")
    assert len(own) == 2 and all(r.body["allowed_mentions"] == {"parse": []} for r in own)
    refused = [r for r in caplog.records if "Manage Webhooks" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelname == "WARNING"


OTHER_GUILD = "910000000000000099"
OTHER_CHANNEL = "930000000000000099"


async def test_a_second_server_is_reported_and_its_events_ignored_with_only_ids_logged(
        fake: FakeDiscord, platform: tuple[DiscordPlatform, Recorder], caplog: pytest.LogCaptureFixture) -> None:
    _, sink = platform
    other = {**guild(), "id": OTHER_GUILD, "name": "Another Server",
             "channels": [{**fake_channel(OTHER_CHANNEL), "guild_id": OTHER_GUILD}],
             "roles": [{**guild()["roles"][0], "id": OTHER_GUILD}]}
    await fake.dispatch("GUILD_CREATE", other)
    crisis = {**fake.message_payload(ALICE, OTHER_CHANNEL, "I want to kill myself"), "guild_id": OTHER_GUILD}
    await fake.dispatch("MESSAGE_CREATE", crisis)
    await fake.dispatch("MESSAGE_UPDATE", fake.edit_payload(crisis, "I want to kill myself tonight"))
    unknown = "910000000000000098"  # a server discord.py has not been told about
    stray = {**fake.message_payload(ALICE, fake.new_id(), "help me"), "guild_id": unknown}
    await fake.dispatch("MESSAGE_CREATE", stray)
    command = {**fake.slash(ALICE, OTHER_CHANNEL, "help"), "guild_id": OTHER_GUILD}
    await fake.dispatch("INTERACTION_CREATE", command)
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload(ALICE, GROUP_CHANNEL, "hello from home"))
    home = await next_event(sink)
    assert home.text == "hello from home" and sink.events.empty()  # nothing of the other server reached the core
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "more than one server" in r.getMessage()]
    assert errors and errors[-1].guilds == sorted([GUILD_ID, OTHER_GUILD])  # type: ignore[attr-defined]
    ignored = [r for r in caplog.records if "does not serve" in r.getMessage()]
    assert [(r.levelname, r.guild, r.event) for r in ignored] == [  # type: ignore[attr-defined]
        ("WARNING", OTHER_GUILD, "message"), ("WARNING", OTHER_GUILD, "message edit"),
        ("WARNING", unknown, "message"), ("WARNING", OTHER_GUILD, "command")]
    assert "kill" not in caplog.text and "Another Server" not in caplog.text
    assert not fake.find("POST", f"/channels/{OTHER_CHANNEL}/") and not fake.find("POST", "/interactions/")


def fake_channel(channel_id: str) -> dict[str, Any]:
    from tests.fake_discord import text_channel

    return text_channel(channel_id, "elsewhere")


def test_one_discord_server_per_instance_is_a_config_rule() -> None:
    import pydantic

    from bot.config import Settings

    with pytest.raises(pydantic.ValidationError) as refused:
        Settings.model_validate({"discord": {"guild_ids": [GUILD_ID, OTHER_GUILD]}})
    assert [e["loc"] for e in refused.value.errors()] == [("discord", "guild_ids")]
    assert "one Discord server per instance" in str(refused.value)
    assert Settings.model_validate({"discord": {"guild_ids": [GUILD_ID]}}).discord.guild_ids == [GUILD_ID]


def test_pause_is_described_as_the_core_describes_it() -> None:
    from bot.commands import VERBS

    core = {verb: summary for verb, _, summary in VERBS}
    assert PEER_VERBS["pause"][0] == core["pause"]


async def test_run_delivers_what_is_left_in_the_outbox_before_stopping_the_adapters(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The final drain goes out through adapters still running (a crisis reply enqueued at the last moment)."""
    import io
    import sys

    from adapters.console import ConsolePlatform
    from bot import wiring
    from bot.config import Settings

    order: list[str] = []

    class RecordingConsole(ConsolePlatform):
        async def stop(self) -> None:
            order.append("adapter stopped")
            await super().stop()

    def console(settings: Any, clock: Any, on_delivery: Any) -> ConsolePlatform:
        return RecordingConsole(clock=clock, moderators=frozenset(), timezone="UTC", on_delivery=on_delivery)

    real_build = wiring.build_app

    def build(*args: Any) -> Any:
        app = real_build(*args)
        drain = app.dispatcher.drain

        async def recorded_drain(*a: Any, **k: Any) -> int:
            order.append("outbox drained")
            return await drain(*a, **k)
        app.dispatcher.drain = recorded_drain  # type: ignore[method-assign]
        return app

    monkeypatch.setattr(wiring, "console_platform", console)
    monkeypatch.setattr(wiring, "build_app", build)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # end of input at once: `run` stops
    settings = Settings.model_validate({"storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
                                        "console": {"enabled": True}})
    assert await asyncio.wait_for(wiring.run_bot(settings), 60) == 0
    assert order[-2:] == ["outbox drained", "adapter stopped"]
