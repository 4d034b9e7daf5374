"""Crisis escalation under the sandbox clock: alerts, re-pages, acknowledgement, resolution, restart, floods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.console import Delivered
from bot.config import SafetySettings, Settings
from bot.safety.escalation import IllegalTransition, check_transition
from bot.store import EscalationState
from bot.wiring import Sandbox

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CRISIS = "alice> I can't do this anymore, I want to kill myself"


def make_settings(**safety: object) -> Settings:
    return Settings(safety=SafetySettings(**safety))  # type: ignore[arg-type]


class Box:
    """A sandbox with its delivered messages at hand."""

    def __init__(self, settings: Settings | None = None, db: Path | None = None, start: datetime = START) -> None:
        self.seen: list[Delivered] = []
        self.sandbox = Sandbox(settings or Settings(), start, self.seen.append, db)

    async def __aenter__(self) -> Box:
        await self.sandbox.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sandbox.__aexit__(*exc)

    async def play(self, *lines: str) -> None:
        for line in lines:
            await self.sandbox.play(line)

    def to(self, who: str) -> list[Delivered]:
        return [d for d in self.seen if d.to == who]

    def texts(self, who: str) -> list[str]:
        return [d.text for d in self.to(who)]

    async def case(self, case_id: int = 1):
        async with self.sandbox.store.transaction() as tx:
            return await tx.escalations.get(case_id), await tx.escalations.audit_trail(case_id)


async def test_a_non_member_in_crisis_gets_resources_at_once_and_moderators_an_alert() -> None:
    async with Box() as box:
        await box.play(CRISIS)
        (reply,) = box.to("alice")
        assert "moderator" in reply.text and "988" in reply.text and "not an emergency service" in reply.text
        assert "kill" not in reply.text  # nothing of what they wrote is echoed back
        (alert,) = box.to("#moderators")
        assert "Safety alert #1" in alert.text and "suicidal thoughts" in alert.text
        assert "DM with the bot" in alert.text and "someone who has not joined" in alert.text
        assert "alice" not in alert.text  # never the platform name
        assert [c.label for c in alert.choices] == ["Acknowledge", "Resolve", "Reach out"]
        # The crisis reply went out before the moderator alert.
        assert box.seen.index(reply) < box.seen.index(alert)
        case, trail = await box.case()
        assert case.state is EscalationState.OPEN and [e.action for e in trail] == ["created"]


async def test_imminent_danger_adds_the_emergency_number() -> None:
    async with Box() as box:
        await box.play("alice> i took all my pills an hour ago")
        assert "911" in box.texts("alice")[0]
        assert "IMMINENT" in box.texts("#moderators")[0]


async def test_an_unacknowledged_alert_is_repaged_after_each_timeout_then_breached() -> None:
    async with Box(make_settings(ack_timeout_minutes=5, max_repages=2)) as box:
        await box.play(CRISIS, "~ 4m")
        assert len(box.to("#moderators")) == 1  # not yet
        await box.play("~ 2m")
        repages = box.to("#moderators")[1:]
        assert len(repages) == 1 and repages[0].text.startswith("@moderators ⏰ Re-page 1/2")
        assert repages[0].at == START + timedelta(minutes=5)
        assert "on call" in box.texts("mod")[0]  # the on-call moderator is DMed too
        await box.play("~ 20m")
        texts = box.texts("#moderators")
        assert texts[2].startswith("@moderators ⏰ Re-page 2/2") and "BREACH" in texts[3]
        assert len(texts) == 4  # after the breach, no endless paging
        case, trail = await box.case()
        assert case.breached and case.repage_count == 2
        assert [e.action for e in trail] == ["created", "repaged", "repaged", "breached"]


async def test_acknowledging_stops_the_repaging_and_updates_the_alert() -> None:
    async with Box() as box:
        await box.play(CRISIS, "~ 2m", "mod> [Acknowledge]", "~ 1h")
        moderators = box.to("#moderators")
        assert len(moderators) == 2  # the alert, then its edit; no re-page
        assert moderators[1].text.startswith("👀 Acknowledged") and "by mod" in moderators[1].text
        assert [c.label for c in moderators[1].choices] == ["Resolve", "Reach out"]
        case, trail = await box.case()
        assert case.state is EscalationState.ACKNOWLEDGED
        assert case.acknowledged_at == START + timedelta(minutes=2)
        assert [(e.action, e.actor) for e in trail][-1] == ("acknowledged", "console:sandbox:mod")


async def test_resolving_closes_the_case_and_typed_commands_work() -> None:
    async with Box() as box:
        await box.play(CRISIS, "mod> /peer mod resolve 1", "mod> /peer mod ack 1", "~ 1h")
        case, trail = await box.case()
        assert case.state is EscalationState.RESOLVED
        assert box.texts("mod") == ["You resolved safety alert #1.", "Safety alert #1 is already resolved."]
        assert [e.action for e in trail] == ["created", "resolved"]
        assert box.texts("#moderators")[-1].startswith("✅ Resolved")


async def test_members_cannot_acknowledge_alerts() -> None:
    async with Box() as box:
        await box.play(CRISIS, "bob> /peer mod ack 1")
        assert box.texts("bob") == ["Only moderators can use `/peer mod`."]
        case, _ = await box.case()
        assert case.state is EscalationState.OPEN


async def test_a_restart_in_the_middle_resumes_the_repaging(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    async with Box(db=db) as first:
        await first.play(CRISIS, "~ 1m")
    # The bot was down for a while; when it comes back the overdue alert is re-paged at once.
    async with Box(db=db, start=START + timedelta(minutes=12)) as second:
        await second.play("~ 1m")
        texts = second.texts("#moderators")
        assert texts and texts[0].startswith("@moderators ⏰ Re-page 1/3")
        assert "12 min" in texts[0]


async def test_repeated_alarming_messages_join_the_open_case_instead_of_flooding() -> None:
    async with Box() as box:
        await box.play(CRISIS, "alice> nobody would miss me", "alice> i want to die")
        assert len({d.ref for d in box.to("#moderators")}) == 1  # one alert, updated in place
        assert "Messages in this case: 3" in box.texts("#moderators")[-1]
        assert len(box.to("alice")) == 3  # each message still gets a way to a human
        case, _ = await box.case()
        assert case.message_count == 3


async def test_a_further_message_that_raises_severity_alerts_again() -> None:
    async with Box() as box:
        await box.play("alice> sometimes I wish I could just disappear forever",
                       "alice> I've got the rope ready and I'm doing it tonight")
        alerts = list({d.ref: d for d in box.to("#moderators")}.values())
        assert len(alerts) == 2 and "(IMMINENT): a further message" in alerts[1].text
        assert alerts[1].text.startswith("@moderators")


async def test_a_message_joining_a_breached_case_pages_again() -> None:
    async with Box(make_settings(max_repages=1)) as box:
        await box.play(CRISIS, "~ 11m")
        assert "BREACH" in box.texts("#moderators")[-1]
        await box.play("alice> i still want to die", "~ 6m")
        texts = box.texts("#moderators")
        assert "a further message" in texts[-2] and texts[-1].startswith("@moderators ⏰ Re-page 1/1")


async def test_after_the_window_a_new_message_opens_a_new_case() -> None:
    async with Box(make_settings(join_window_minutes=30)) as box:
        await box.play(CRISIS, "mod> [Acknowledge]", "~ 2h", "alice> I want to kill myself")
        assert sum(t.startswith("🚨 Safety alert #2") for t in box.texts("#moderators")) == 1


async def test_reach_out_relays_both_ways_without_revealing_anyone() -> None:
    async with Box() as box:
        await box.play(CRISIS, "mod> [Reach out]", "alice> i don't know what to do",
                       "mod> /peer mod say 1 I'm here with you. Are you safe right now?", "mod> [Resolve]")
        alice = box.texts("alice")
        assert "moderators" in alice[1] and alice[2] == "Moderator: I'm here with you. Are you safe right now?"
        assert "closed this conversation" in alice[3]
        relayed = [t for t in box.texts("mod") if t.startswith("Safety alert #1 ·")]
        assert relayed == ["Safety alert #1 · someone who has not joined peerbot: i don't know what to do"]
        case, trail = await box.case()
        assert case.state is EscalationState.RESOLVED
        actions = [e.action for e in trail]
        assert actions[:4] == ["created", "acknowledged", "reach_out", "person_message"]
        # After resolution the person's DMs are no longer relayed.
        await box.play("alice> hello again")
        assert not box.texts("mod")[-1].startswith("Safety alert #1 ·")


async def test_a_crisis_message_in_a_group_channel_is_answered_privately() -> None:
    async with Box() as box:
        await box.play("#chronic-pain carol> honestly i just want to die")
        assert [d.to for d in box.seen] == ["carol", "#moderators"]
        assert "Where: group chronic-pain" in box.texts("#moderators")[0]


async def test_figurative_speech_raises_nothing() -> None:
    async with Box() as box:
        await box.play("#chronic-pain bob> my back is killing me today", "bob> I'd kill for a coffee")
        assert box.to("#moderators") == []


async def test_alerts_can_hide_the_message_text() -> None:
    async with Box(make_settings(alert_excerpt=False)) as box:
        await box.play(CRISIS)
        assert "kill" not in box.texts("#moderators")[0]


async def test_the_moderator_report_lists_open_cases_and_time_to_acknowledge() -> None:
    async with Box() as box:
        await box.play(CRISIS, "~ 3m", "mod> [Acknowledge]", "#diabetes bob> i want to end my life",
                       "mod> /peer mod report")
        report = box.texts("mod")[-1]
        assert "Open safety alerts: 2" in report
        assert "#1" in report and "#2" in report and "NOT acknowledged" in report
        assert "median 3.0 min" in report


def test_the_state_machine_refuses_illegal_moves() -> None:
    check_transition(EscalationState.OPEN, EscalationState.ACKNOWLEDGED)
    check_transition(EscalationState.ACKNOWLEDGED, EscalationState.RESOLVED)
    with pytest.raises(IllegalTransition):
        check_transition(EscalationState.RESOLVED, EscalationState.ACKNOWLEDGED)
    with pytest.raises(IllegalTransition):
        check_transition(EscalationState.ACKNOWLEDGED, EscalationState.OPEN)


async def test_an_alert_the_moderator_channel_refuses_goes_to_the_oncall_moderators() -> None:
    from bot.events import ConversationRef

    async with Box() as box:
        console = box.sandbox.console

        class WrongChannel:
            """The console, but configured with a moderator channel that does not exist."""

            def __getattr__(self, name: str) -> object:
                return getattr(console, name)

            def moderator_channel(self, workspace: str) -> ConversationRef:
                return ConversationRef("console", "sandbox", "no-such-channel")

        box.sandbox.app.dispatcher.platforms = {"console": WrongChannel()}  # type: ignore[dict-item]
        await box.play(CRISIS)
        assert box.to("#moderators") == []
        (rescued,) = box.to("mod")
        assert "could not receive this alert" in rescued.text and "Safety alert #1" in rescued.text
        assert [c.label for c in rescued.choices] == ["Acknowledge", "Resolve", "Reach out"]


async def test_after_a_restart_new_messages_are_never_mistaken_for_redeliveries(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    async with Box(db=db) as first:
        await first.play("alice> hello", "bob> hi there")
    async with Box(db=db, start=START + timedelta(hours=1)) as second:
        await second.play("carol> I want to kill myself tonight")
        assert second.to("carol") and second.to("#moderators")


class DmsClosed:
    """The console, but alice has closed her direct messages (Discord's 50007); `extra` adds capabilities."""

    def __init__(self, inner: object, extra: frozenset[str] = frozenset()) -> None:
        self._inner = inner
        self.capabilities = frozenset({*inner.capabilities, *extra})  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def send(self, to, message, *, idempotency_key, ephemeral_to=None):  # type: ignore[no-untyped-def]
        from bot.ports import PermanentSendError

        if to.channel_id == "dm:alice":
            raise PermanentSendError("dms_closed")
        return await self._inner.send(to, message, idempotency_key=idempotency_key, ephemeral_to=ephemeral_to)


async def test_a_dm_copy_that_cannot_be_delivered_does_not_claim_the_reply_was_lost() -> None:
    """Where ephemeral replies vanish, the crisis reply is also left in the DM; alice's DMs are closed, but she saw
    the reply itself in the channel, so the moderators are not told she has had no resources."""
    async with Box() as box:
        platform = DmsClosed(box.sandbox.console, frozenset({"ephemeral_vanishes"}))
        box.sandbox.app.platforms["console"] = platform  # type: ignore[index]
        await box.play("#chronic-pain alice> I want to kill myself tonight")
        assert any("988" in m.text for m in box.to("alice"))  # the ephemeral reply, in the channel
        (alert,) = box.to("#moderators")
        assert "Safety alert #1" in alert.text
        _, trail = await box.case()
        assert [e.action for e in trail] == ["created"]


async def test_a_crisis_reply_the_platform_refuses_for_good_is_told_to_the_moderators() -> None:
    async with Box() as box:
        box.sandbox.app.platforms["console"] = DmsClosed(box.sandbox.console)  # type: ignore[index]
        await box.play(CRISIS)
        assert box.to("alice") == []
        alert, undelivered = box.to("#moderators")
        assert "Safety alert #1" in alert.text
        assert undelivered.text.startswith("@moderators ⚠️ The crisis reply to the person in alert #1")
        assert "NOT received the crisis resources" in undelivered.text
        _, trail = await box.case()
        assert [e.action for e in trail] == ["created", "crisis_reply_undelivered"]
