"""The flow of one event through the real core, store and console platform (the sandbox harness)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from adapters.console import Delivered, Typed
from bot.commands import Command
from bot.config import Settings
from bot.events import CommandInvoked, ConversationRef, MessageReceived, UserRef
from bot.router import Context
from bot.store import OutboxStatus
from bot.wiring import Sandbox

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def sandbox():
    seen: list[Delivered] = []
    async with Sandbox(Settings(), START, seen.append) as box:
        box.seen = seen  # type: ignore[attr-defined]
        yield box


def to(box: Sandbox) -> list[tuple[str, str]]:
    return [(d.to, d.text) for d in box.seen]  # type: ignore[attr-defined]


async def test_an_event_redelivered_by_the_platform_is_handled_once(sandbox: Sandbox) -> None:
    user = UserRef("console", "sandbox", "alice")
    dm = ConversationRef("console", "sandbox", "dm:alice", kind="dm")
    event = CommandInvoked(user, dm, "help", START, event_id="Ev123")
    await sandbox.app.handle(event)
    await sandbox.app.handle(event)  # e.g. Slack's X-Slack-Retry-Num
    await sandbox.app.dispatcher.drain()
    assert len(to(sandbox)) == 1


async def test_a_handler_that_crashes_tells_the_member_and_the_bot_goes_on(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(ctx: Context, command: Command) -> None:
        ctx.reply("half-done work that must not be sent")
        raise RuntimeError("bug")

    sandbox.app.router.command("crash", broken)
    with caplog.at_level(logging.ERROR):
        await sandbox.play("alice> /peer crash secret words")
    await sandbox.play("alice> /peer help")
    texts = [text for _, text in to(sandbox)]
    assert texts[0].startswith("Sorry, something went wrong on our side") and "988" in texts[0]
    assert "half-done" not in " ".join(texts)
    assert texts[1].startswith("Here is what I can do")
    assert not any("secret words" in str(vars(r)) for r in caplog.records)


async def test_moderator_commands_are_refused_to_members(sandbox: Sandbox) -> None:
    async def ping(ctx: Context, command: Command) -> None:
        ctx.reply(f"mod {command.verb} {command.arg(0)} done")

    sandbox.app.router.moderator_command("ping", ping, "/peer mod ping <x>")
    await sandbox.play("alice> /peer mod ping 7")
    await sandbox.play("mod> /peer mod ping 7")
    await sandbox.play("mod> /peer mod")
    assert to(sandbox)[:2] == [("alice", "Only moderators can use `/peer mod`."), ("mod", "mod ping 7 done")]
    assert "/peer mod ping <x>" in to(sandbox)[2][1] and "/peer mod ack <alert>" in to(sandbox)[2][1]


async def test_answers_to_commands_in_a_channel_are_private(sandbox: Sandbox) -> None:
    await sandbox.play("#diabetes alice> /peer help")
    assert [who for who, _ in to(sandbox)] == ["alice"]


async def test_a_plain_dm_gets_a_pointer_to_help_and_a_crisis_line(sandbox: Sandbox) -> None:
    await sandbox.play("alice> hello?")
    (who, text), = to(sandbox)
    assert who == "alice" and "/peer help" in text and "988" in text


async def test_a_press_on_a_button_nobody_handles_says_it_is_no_longer_active(sandbox: Sandbox) -> None:
    from bot.events import Choice, OutboundMessage

    async def ask(ctx: Context, command: Command) -> None:
        ctx.reply("Pick one", choices=(Choice("Old", "retired.action", "1"),))

    sandbox.app.router.command("oldbutton", ask)
    await sandbox.play("alice> /peer oldbutton")
    await sandbox.play("alice> [Old]")
    assert to(sandbox)[-1][1].startswith("That button is no longer active")
    assert OutboundMessage  # imported for the Choice type's module


class BrokenScreen:
    """A safety gate whose screening raises: the message must reach moderators anyway."""

    def __init__(self, also_fail_closed: bool) -> None:
        self.also_fail_closed = also_fail_closed

    async def inspect(self, ctx: Context, text: str) -> None:
        raise RuntimeError("lexicon exploded")

    async def fail_closed(self, ctx: Context, text: str, error: BaseException) -> None:
        if self.also_fail_closed:
            raise RuntimeError("and escalation too")
        ctx.to_moderators(__import__("bot.events").events.OutboundMessage("screening failed: please check"))
        ctx.held = True


@pytest.mark.parametrize("also_fail_closed", [False, True])
async def test_when_screening_fails_moderators_are_alerted_fail_closed(
    sandbox: Sandbox, also_fail_closed: bool
) -> None:
    sandbox.app.gate = BrokenScreen(also_fail_closed)
    await sandbox.app.handle(MessageReceived(
        UserRef("console", "sandbox", "alice"), ConversationRef("console", "sandbox", "dm:alice", kind="dm"),
        "anything at all", START, event_id="E1",
    ))
    await sandbox.app.dispatcher.drain()
    recipients = [who for who, _ in to(sandbox)]
    assert "#moderators" in recipients
    if also_fail_closed:
        # The last resort still gives the person a human and emergency number, first.
        assert recipients[0] == "alice" and "911" in to(sandbox)[0][1]
    assert (await sandbox.store.outbox.counts())[OutboxStatus.DEAD] == 0


async def test_sandbox_typed_lines_become_the_same_events_a_platform_sends(sandbox: Sandbox) -> None:
    event = sandbox.console.event_for(Typed("alice", "/peer post diabetes hi", "diabetes"))
    assert isinstance(event, CommandInvoked) and event.text == "post diabetes hi"
    assert event.conversation.kind == "channel" and event.user.key == "console:sandbox:alice"


class SlowRoles:
    """The console, but the platform's role lookup never answers (a rate-limited or stalled API)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.role_lookups = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def is_moderator(self, user: UserRef) -> bool:
        self.role_lookups += 1
        await asyncio.Event().wait()
        return True


async def test_a_message_in_crisis_is_screened_without_waiting_for_a_role_lookup(sandbox: Sandbox) -> None:
    slow = SlowRoles(sandbox.app.platforms["console"])
    sandbox.app.platforms["console"] = slow  # type: ignore[index]
    await sandbox.play("alice> i want to kill myself")
    assert slow.role_lookups == 0
    assert any("988" in text for who, text in to(sandbox) if who == "alice")
    assert any(who == "#moderators" for who, _ in to(sandbox))


async def test_a_stalled_role_lookup_gives_up_and_treats_the_sender_as_no_moderator(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.app.MODERATOR_CHECK_SECONDS", 0.05)
    slow = SlowRoles(sandbox.app.platforms["console"])
    sandbox.app.platforms["console"] = slow  # type: ignore[index]
    await sandbox.play("mod> /peer mod report")
    assert slow.role_lookups == 1
    assert to(sandbox)[-1] == ("mod", "Only moderators can use `/peer mod`.")


async def test_an_edit_is_screened_but_is_not_a_new_message_for_the_features(sandbox: Sandbox) -> None:
    user = UserRef("console", "sandbox", "alice")
    dm = ConversationRef("console", "sandbox", "dm:alice", kind="dm")
    await sandbox.app.handle(MessageReceived(user, dm, "hello there", START, event_id="e1", edited=True))
    await sandbox.app.dispatcher.drain()
    assert to(sandbox) == []  # no "Hi, I'm peerbot" for an edited greeting
    await sandbox.app.handle(MessageReceived(user, dm, "i want to kill myself", START, event_id="e2", edited=True))
    await sandbox.app.dispatcher.drain()
    assert any("988" in text for who, text in to(sandbox) if who == "alice")
    assert any(who == "#moderators" for who, _ in to(sandbox))
