"""Crisis escalation, end to end: the safety gate every text passes, the case and its state machine, moderator
alerts that are re-paged until acknowledged, reach-out through the bot, held posts, and the audit trail.

All state lives in the store; alerts and replies go through the durable outbox at the top priorities, so a
restart in the middle loses nothing and the re-page tick simply resumes.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from bot.commands import Command, parse_command
from bot.config import SafetySettings
from bot.events import (
    ActionInvoked,
    Choice,
    CommandInvoked,
    ConversationRef,
    EditMessage,
    FormSubmitted,
    MessageReceived,
    OutboundAction,
    OutboundMessage,
    PostToModerators,
    SendDirect,
    SendEphemeral,
    UserRef,
)
from bot.mentions import neutralise
from bot.outbox import is_kept_copy
from bot.router import Context, Router
from bot.safety import messages
from bot.safety.detector import Detector, Screening, Severity
from bot.safety.resources import LocaleResources
from bot.store import Escalation, EscalationState, NewEscalation, OutboxItem, Priority, Transaction

log = logging.getLogger(__name__)

REPAGE_TICK = timedelta(seconds=30)
EXCERPT_CHARS = 280
SYSTEM = "system"

# The state machine: which moves are legal. Anything else raises IllegalTransition.
TRANSITIONS: dict[EscalationState, frozenset[EscalationState]] = {
    EscalationState.OPEN: frozenset({EscalationState.ACKNOWLEDGED, EscalationState.RESOLVED}),
    EscalationState.ACKNOWLEDGED: frozenset({EscalationState.RESOLVED}),
    EscalationState.RESOLVED: frozenset(),
}


class IllegalTransition(Exception):
    pass


def check_transition(current: EscalationState, target: EscalationState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"a case that is {current.value} cannot become {target.value}")


# Who a case is about, as moderators may see it: a pseudonym once the person has one, never a platform name.
SubjectLabeler = Callable[[Transaction, UserRef], Awaitable[str | None]]
LocationNamer = Callable[[ConversationRef], str]
WorkFactory = Callable[..., AbstractAsyncContextManager[Context]]


async def _no_pseudonym(tx: Transaction, user: UserRef) -> str | None:
    return None


def _default_location(conversation: ConversationRef) -> str:
    return "DM with the bot" if conversation.kind == "dm" else f"#{conversation.channel_id}"


class SafetyDesk:
    """The safety feature. The app calls `inspect` on every text before routing; moderators drive cases with
    buttons and `/peer mod ack|resolve|say|publish|discard|report`."""

    def __init__(self, detector: Detector, settings: SafetySettings, resources: LocaleResources) -> None:
        self.detector = detector
        self.settings = settings
        self.resources = resources
        self.timeout = timedelta(minutes=settings.ack_timeout_minutes)
        self.label_for: SubjectLabeler = _no_pseudonym
        self.location_for: LocationNamer = _default_location
        # A feature may name a more specific place than the conversation (e.g. a mentor pairing's relay).
        self.location_override: Callable[[Context], Awaitable[str | None]] | None = None
        # More lines for `/peer mod report` from other features (e.g. the mentor waitlist).
        self.report_sections: list[Callable[[Transaction, datetime], Awaitable[str]]] = []
        # Files sent with `/peer mod report` (the program report as HTML, where the platform takes files).
        self.report_files: list[Callable[[Context], Awaitable[None]]] = []
        self.work: WorkFactory | None = None  # set by install(): the app's unit-of-work factory

    def install(self, router: Router, work: WorkFactory) -> None:
        self.work = work
        router.moderator_command("ack", self._cmd_ack, "/peer mod ack <alert>")
        router.moderator_command("resolve", self._cmd_resolve, "/peer mod resolve <alert>")
        router.moderator_command("say", self._cmd_say, "/peer mod say <alert> <text>")
        router.moderator_command("publish", self._cmd_publish, "/peer mod publish <alert>")
        router.moderator_command("discard", self._cmd_discard, "/peer mod discard <alert>")
        router.moderator_command("report", self._cmd_report, "/peer mod report")
        for name, handler in (("esc.ack", self._btn_ack), ("esc.resolve", self._btn_resolve),
                              ("esc.reach", self._btn_reach), ("esc.publish", self._btn_publish),
                              ("esc.discard", self._btn_discard)):
            router.action(name, handler)
        router.dm_handlers.insert(0, self._relay_from_person)
        router.tick("escalations.repage", REPAGE_TICK, self.repage_overdue, due_hint=self.next_repage_due)

    # ------------------------------------------------------------ the gate

    def screen(self, text: str) -> Screening:
        return self.detector.screen(text)

    async def inspect(self, ctx: Context, text: str) -> None:
        if self._is_moderator_tool(ctx):
            return  # a moderator asking "are you thinking of suicide?" in a reach-out is care, not a crisis
        screening = self.screen(text)
        if not screening.escalate:
            return
        await self._escalate(ctx, screening.severity.label, screening.categories, text)

    async def fail_closed(self, ctx: Context, text: str, error: BaseException) -> None:
        await self._escalate(ctx, Severity.HIGH.label, ("screening_failed",), text, failed=True)

    @staticmethod
    def _is_moderator_tool(ctx: Context) -> bool:
        return (ctx.is_moderator and isinstance(ctx.event, CommandInvoked)
                and parse_command(ctx.event.text).verb == "mod")

    async def _escalate(self, ctx: Context, severity: str, categories: tuple[str, ...], text: str,
                        failed: bool = False) -> None:
        ctx.held = True
        user = ctx.user
        excerpt = self._excerpt(text) if self.settings.alert_excerpt else None
        window_start = ctx.now - timedelta(minutes=self.settings.join_window_minutes)
        case = await ctx.tx.escalations.active_for(user.key, window_start)
        if case is not None:
            await self._join(ctx, case, severity, categories, excerpt)
            return
        conversation = ctx.conversation
        if isinstance(ctx.event, MessageReceived) and conversation is not None and conversation.kind == "channel":
            # Written under their own name: naming the pseudonym here would link the two without a reveal.
            label = "the author of that channel message"
        else:
            label = await self.label_for(ctx.tx, user) or "someone who has not joined peerbot"
        location = await self._specific_location(ctx) or (
            self.location_for(conversation) if conversation is not None
            else "a form sent to the bot" if isinstance(ctx.event, FormSubmitted) else "unknown")
        case = await ctx.tx.escalations.create(NewEscalation(
            platform=user.platform, workspace=user.workspace, subject_key=user.key, subject_label=label,
            severity=severity, categories=tuple(sorted(categories)), location=location, excerpt=excerpt,
            next_repage_at=ctx.now + self.timeout,
        ), ctx.now)
        ctx.escalation_id = case.id
        await ctx.tx.escalations.audit(case.id, "created", SYSTEM, ctx.now, f"{severity}: {','.join(categories)}")
        reply = (messages.person_fail_closed(self.resources) if failed
                 else messages.person_reply(severity, case.categories, self.resources))
        ctx.reply(reply, priority=Priority.CRISIS, keep=True)
        key = ctx.to_moderators(self._alert(case), Priority.ALERT, key=f"esc:{case.id}:alert")
        await ctx.tx.escalations.set_alert_key(case.id, key)
        log.info("escalation opened", extra={"escalation": case.id, "severity": severity,
                                                "categories": ",".join(case.categories)})

    async def _specific_location(self, ctx: Context) -> str | None:
        """A feature's more specific place, if any; never allowed to stand in the way of the alert."""
        if self.location_override is None:
            return None
        try:
            return await self.location_override(ctx)
        except Exception:
            log.exception("naming the location of an escalation failed; using the conversation")
            return None

    async def _join(self, ctx: Context, case: Escalation, severity: str, categories: tuple[str, ...],
                    excerpt: str | None) -> None:
        ctx.escalation_id = case.id
        raised = Severity.parse(severity) > Severity.parse(case.severity)
        new_severity = severity if raised else case.severity
        merged = tuple(sorted(set(case.categories) | set(categories)))
        await ctx.tx.escalations.join(case.id, new_severity, merged, excerpt, ctx.now)
        await ctx.tx.escalations.audit(case.id, "message_joined", SYSTEM, ctx.now, new_severity)
        ctx.reply(messages.person_follow_up(new_severity, self.resources), priority=Priority.CRISIS)
        stalled = case.state is EscalationState.OPEN and case.next_repage_at is None  # breached: paging had stopped
        if stalled:
            await ctx.tx.escalations.record_repage(case.id, 0, ctx.now + self.timeout, False)
            await ctx.tx.escalations.audit(case.id, "repaging_restarted", SYSTEM, ctx.now)
        updated = await self._refresh_alert(ctx, case.id)
        if raised or stalled:
            if raised:
                await ctx.tx.escalations.audit(case.id, "severity_raised", SYSTEM, ctx.now, new_severity)
            ctx.to_moderators(OutboundMessage(messages.severity_raised_text(updated), self._buttons(updated),
                                              ping_moderators=True), Priority.ALERT)
        elif case.state is EscalationState.ACKNOWLEDGED:
            ctx.to_moderators(OutboundMessage(messages.joined_acknowledged_text(updated), self._buttons(updated)),
                              Priority.ALERT)

    def _excerpt(self, text: str) -> str:
        flat = " ".join(neutralise(text).split())
        return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"

    def _buttons(self, case: Escalation) -> tuple[Choice, ...]:
        value = str(case.id)
        buttons: list[Choice] = []
        if case.state is EscalationState.OPEN:
            buttons.append(Choice("Acknowledge", "esc.ack", value, "primary"))
        if case.state is not EscalationState.RESOLVED:
            buttons.append(Choice("Resolve", "esc.resolve", value))
            if case.subject_key is not None:
                buttons.append(Choice("Reach out", "esc.reach", value))
        if case.held:
            buttons += [Choice("Publish post", "esc.publish", value), Choice("Discard post", "esc.discard", value,
                                                                                "danger")]
        return tuple(buttons)

    def _alert(self, case: Escalation) -> OutboundMessage:
        """The alert as it should read now: new, acknowledged (by whom) or resolved."""
        if case.state is EscalationState.OPEN:
            text = messages.alert_text(case, self.settings.alert_excerpt)
        else:
            actor = case.resolved_by if case.state is EscalationState.RESOLVED else case.acknowledged_by
            text = messages.alert_status_text(case, self.settings.alert_excerpt, (actor or "").split(":")[-1])
        return OutboundMessage(text, self._buttons(case))

    async def _refresh_alert(self, ctx: Context, case_id: int) -> Escalation:
        """Rewrite the case's first alert in the moderator channel to match its state."""
        case = await ctx.tx.escalations.get(case_id)
        assert case is not None
        if case.alert_key:
            ctx.emit(EditMessage(case.alert_key, self._alert(case)), Priority.ALERT)
        return case

    # ------------------------------------------------------------ held posts (used by features)

    async def hold(self, ctx: Context, key: str, action: OutboundAction) -> bool:
        """Keep an action (a group post with crisis language) unpublished until a moderator decides, to be sent
        with its own outbox key. Returns False if the event raised no case to hold it in."""
        if ctx.escalation_id is None:
            return False
        await ctx.tx.escalations.hold(ctx.escalation_id, key, action)
        await ctx.tx.escalations.audit(ctx.escalation_id, "post_held", SYSTEM, ctx.now)
        await self._refresh_alert(ctx, ctx.escalation_id)
        return True

    # ------------------------------------------------------------ moderator actions

    async def _load(self, ctx: Context, raw_id: str) -> Escalation | None:
        case_id = raw_id.lstrip("#")
        case = await ctx.tx.escalations.get(int(case_id)) if case_id.isdigit() else None
        if case is None:
            ctx.reply(f"There is no safety alert {raw_id or '(missing number)'}. `/peer mod report` lists them.")
        return case

    async def _move(self, ctx: Context, case: Escalation, target: EscalationState) -> Escalation | None:
        try:
            check_transition(case.state, target)
        except IllegalTransition:
            ctx.reply(f"Safety alert #{case.id} is already {case.state.value}.")
            return None
        await ctx.tx.escalations.set_state(case.id, target, ctx.user.key, ctx.now)
        await ctx.tx.escalations.audit(case.id, target.value, ctx.user.key, ctx.now)
        log.info("escalation %s", target.value, extra={"escalation": case.id})
        return await self._refresh_alert(ctx, case.id)

    async def acknowledge(self, ctx: Context, raw_id: str) -> None:
        case = await self._load(ctx, raw_id)
        if case is not None and await self._move(ctx, case, EscalationState.ACKNOWLEDGED):
            ctx.reply(f"You acknowledged safety alert #{case.id}. Re-paging has stopped.", priority=Priority.ALERT)

    async def resolve(self, ctx: Context, raw_id: str) -> None:
        case = await self._load(ctx, raw_id)
        if case is None or not await self._move(ctx, case, EscalationState.RESOLVED):
            return
        outreach = await ctx.tx.outreach.for_escalation(case.id)
        if outreach is not None:
            await ctx.tx.outreach.close(case.id)
            ctx.dm(_user_of(outreach.subject_key), OutboundMessage(
                messages.outreach_closed_for_person(self.resources)))
        ctx.reply(f"You resolved safety alert #{case.id}.", priority=Priority.ALERT)

    async def reach_out(self, ctx: Context, raw_id: str) -> None:
        case = await self._load(ctx, raw_id)
        if case is None:
            return
        if case.state is EscalationState.RESOLVED or case.subject_key is None:
            ctx.reply(f"Safety alert #{case.id} is {case.state.value}"
                      + ("" if case.subject_key else " and the person asked to be forgotten")
                      + ": reaching out is not possible.")
            return
        if case.state is EscalationState.OPEN:
            case = await self._move(ctx, case, EscalationState.ACKNOWLEDGED) or case
        await ctx.tx.outreach.open(case.id, ctx.user.key, case.subject_key, ctx.now)
        await ctx.tx.escalations.audit(case.id, "reach_out", ctx.user.key, ctx.now)
        ctx.dm(_user_of(case.subject_key), OutboundMessage(messages.OUTREACH_OPENING), Priority.CRISIS)
        ctx.dm(ctx.user, OutboundMessage(messages.outreach_connected(case)), Priority.ALERT)

    async def say(self, ctx: Context, raw_id: str, text: str) -> None:
        case = await self._load(ctx, raw_id)
        if case is None:
            return
        outreach = await ctx.tx.outreach.for_escalation(case.id)
        if outreach is None:
            ctx.reply(f"There is no open reach-out for safety alert #{case.id}. Press **Reach out** on the alert "
                      "first.")
            return
        if not text.strip():
            ctx.reply(f"Usage: /peer mod say {case.id} <text>")
            return
        ctx.dm(_user_of(outreach.subject_key), OutboundMessage(messages.relayed_to_person(text)), Priority.CRISIS)
        await ctx.tx.escalations.audit(case.id, "moderator_message", ctx.user.key, ctx.now)
        ctx.reply(f"Sent to safety alert #{case.id}.")

    async def _decide_held(self, ctx: Context, raw_id: str, publish: bool) -> None:
        case = await self._load(ctx, raw_id)
        if case is None:
            return
        if not case.held:
            ctx.reply(f"Safety alert #{case.id} has no held post.")
            return
        if publish:
            for key, action in case.held:
                ctx.emit(action, Priority.NORMAL, key=key)
        await ctx.tx.escalations.clear_held(case.id)
        await ctx.tx.escalations.audit(case.id, "post_published" if publish else "post_discarded",
                                       ctx.user.key, ctx.now)
        template = messages.HELD_POST_PUBLISHED if publish else messages.HELD_POST_DISCARDED
        ctx.to_moderators(OutboundMessage(template.format(id=case.id, count=len(case.held))), Priority.ALERT)
        await self._refresh_alert(ctx, case.id)

    async def report(self, ctx: Context) -> None:
        ctx.reply(await self.report_text(ctx.tx, ctx.now))
        for attach in self.report_files:
            await attach(ctx)

    async def report_text(self, tx: Transaction, now: datetime) -> str:
        open_cases = await tx.escalations.unresolved()
        lines = [f"Open safety alerts: {len(open_cases)}"]
        for case in open_cases:
            age = messages._minutes(now - case.opened_at)
            state = "acknowledged" if case.state is EscalationState.ACKNOWLEDGED else "NOT acknowledged"
            extra = f", re-paged {case.repage_count}x" if case.repage_count else ""
            extra += ", BREACHED" if case.breached else ""
            extra += f", {len(case.held)} post(s) held" if case.held else ""
            lines.append(f"• #{case.id} {case.severity.upper()} · {messages.describe_categories(case.categories)}"
                         f" · {case.location} · {state} · open {age}{extra}")
        recent = await tx.escalations.opened_since(now - timedelta(days=30))
        lines.append("")
        lines.append(f"Last 30 days: {len(recent)} alerts")
        if recent:
            by_severity = {s: sum(1 for c in recent if c.severity == s) for s in ("imminent", "high", "concern")}
            lines.append("By severity: " + ", ".join(f"{k} {v}" for k, v in by_severity.items()))
            waits = sorted((c.acknowledged_at - c.opened_at).total_seconds() / 60 for c in recent
                           if c.acknowledged_at is not None)
            if waits:
                p90 = waits[min(len(waits) - 1, round(0.9 * (len(waits) - 1)))]
                lines.append(f"Time to acknowledge: median {statistics.median(waits):.1f} min, "
                             f"p90 {p90:.1f} min ({len(waits)} acknowledged)")
            resolved = sum(1 for c in recent if c.state is EscalationState.RESOLVED)
            lines.append(f"Re-paged: {sum(1 for c in recent if c.repage_count)}, breached: "
                         f"{sum(1 for c in recent if c.breached)}, resolved: {resolved}/{len(recent)}")
        for section in self.report_sections:
            lines += ["", await section(tx, now)]
        return "\n".join(lines)

    async def _cmd_ack(self, ctx: Context, command: Command) -> None:
        await self.acknowledge(ctx, command.arg(0))

    async def _cmd_resolve(self, ctx: Context, command: Command) -> None:
        await self.resolve(ctx, command.arg(0))

    async def _cmd_say(self, ctx: Context, command: Command) -> None:
        await self.say(ctx, command.arg(0), command.rest(1))

    async def _cmd_publish(self, ctx: Context, command: Command) -> None:
        await self._decide_held(ctx, command.arg(0), publish=True)

    async def _cmd_discard(self, ctx: Context, command: Command) -> None:
        await self._decide_held(ctx, command.arg(0), publish=False)

    async def _cmd_report(self, ctx: Context, command: Command) -> None:
        await self.report(ctx)

    async def _guard(self, ctx: Context) -> bool:
        if not ctx.is_moderator:
            ctx.reply("Only moderators can act on safety alerts.")
            return False
        return True

    async def _btn_ack(self, ctx: Context, event: ActionInvoked) -> None:
        if await self._guard(ctx):
            await self.acknowledge(ctx, event.value)

    async def _btn_resolve(self, ctx: Context, event: ActionInvoked) -> None:
        if await self._guard(ctx):
            await self.resolve(ctx, event.value)

    async def _btn_reach(self, ctx: Context, event: ActionInvoked) -> None:
        if await self._guard(ctx):
            await self.reach_out(ctx, event.value)

    async def _btn_publish(self, ctx: Context, event: ActionInvoked) -> None:
        if await self._guard(ctx):
            await self._decide_held(ctx, event.value, publish=True)

    async def _btn_discard(self, ctx: Context, event: ActionInvoked) -> None:
        if await self._guard(ctx):
            await self._decide_held(ctx, event.value, publish=False)

    # ------------------------------------------------------------ reach-out: the person's side

    async def _relay_from_person(self, ctx: Context, event: MessageReceived) -> bool:
        outreach = await ctx.tx.outreach.for_subject(ctx.user.key)
        if outreach is None:
            return False
        case = await ctx.tx.escalations.get(outreach.escalation_id)
        if case is None:
            return False
        # Relayed even when the screen held it: the moderator is exactly who should read it.
        ctx.dm(_user_of(outreach.moderator_key), OutboundMessage(messages.relayed_to_moderator(case, event.text)),
               Priority.CRISIS)
        await ctx.tx.escalations.audit(case.id, "person_message", SYSTEM, ctx.now)
        return True

    # ------------------------------------------------------------ an alert that cannot reach the channel

    async def rescue_dead_alert(self, item: OutboxItem) -> None:
        """A moderator alert the platform refused for good (e.g. a wrong moderator channel): DM it to the on-call
        moderators instead, so the alert is not lost."""
        action = item.action
        if item.priority == Priority.CRISIS and isinstance(action, SendDirect | SendEphemeral) and self.work:
            if is_kept_copy(item.key):  # the reply itself was seen (ephemerally); only its DM copy failed
                log.warning("the DM copy of a crisis reply could not be delivered", extra={"outbox_id": item.id})
                return
            await self._crisis_reply_undelivered(item, action.to)
            return
        if item.priority > Priority.ALERT or not isinstance(action, PostToModerators) or self.work is None:
            return
        targets = self._oncall(action.platform, action.workspace)
        if not targets:
            log.critical("moderator alert undeliverable and no on-call moderator configured",
                         extra={"outbox_id": item.id, "platform": action.platform})
            return
        message = OutboundMessage("⚠️ The moderator channel could not receive this alert, so it comes to you "
                                  "directly. Please check the moderator channel setting.\n" + action.message.text,
                                  action.message.choices)
        async with self.work(f"{item.key}:rescue") as ctx:
            for user in targets:
                ctx.emit(SendDirect(user, message), Priority.ALERT, key=f"{item.key}:rescue:{user.user_id}")
        log.error("undeliverable moderator alert sent to on-call moderators", extra={"outbox_id": item.id})

    async def _crisis_reply_undelivered(self, item: OutboxItem, person: UserRef) -> None:
        """The platform refused the crisis reply for good (e.g. the person's DMs are closed): the moderators must
        know that this person has not had the crisis resources, so they reach out another way."""
        assert self.work is not None
        async with self.work(f"{item.key}:undelivered") as ctx:
            case = await ctx.tx.escalations.active_for(person.key, item.created_at - timedelta(minutes=5))
            ctx.emit(PostToModerators(person.platform, person.workspace, OutboundMessage(
                messages.crisis_reply_undelivered(case.id if case else None), ping_moderators=True)),
                Priority.ALERT, key=f"{item.key}:undelivered")
            if case is not None:
                await ctx.tx.escalations.audit(case.id, "crisis_reply_undelivered", SYSTEM, ctx.now)
        log.error("crisis reply undeliverable; moderators told", extra={"outbox_id": item.id})

    def _oncall(self, platform: str, workspace: str) -> list[UserRef]:
        return [UserRef(platform, workspace, user_id) for entry in self.settings.oncall
                for name, _, user_id in [entry.partition(":")] if name == platform]

    # ------------------------------------------------------------ re-paging

    async def next_repage_due(self) -> datetime | None:
        assert self.work is not None
        async with self.work("esc:hint") as ctx:
            return await ctx.tx.escalations.next_repage_due()

    async def repage_overdue(self, now: datetime) -> None:
        """The tick: re-page every case whose acknowledgement is overdue; mark breached past the limit."""
        assert self.work is not None
        async with self.work("esc:repage", now=now) as ctx:
            for case in await ctx.tx.escalations.due_for_repage(now, 100):
                self._repage(ctx, case, now)
                count = case.repage_count + 1
                if count <= self.settings.max_repages:
                    await ctx.tx.escalations.record_repage(case.id, count, now + self.timeout, False)
                    await ctx.tx.escalations.audit(case.id, "repaged", SYSTEM, now, str(count))
                else:
                    await ctx.tx.escalations.record_repage(case.id, case.repage_count, None, True)
                    await ctx.tx.escalations.audit(case.id, "breached", SYSTEM, now)
                    log.error("escalation breached: unacknowledged", extra={"escalation": case.id})

    def _repage(self, ctx: Context, case: Escalation, now: datetime) -> None:
        count = case.repage_count + 1
        waited = now - case.opened_at
        breach = count > self.settings.max_repages
        text = messages.breach_text(case, waited) if breach else messages.repage_text(
            case, count, self.settings.max_repages, waited)
        suffix = f"{'breach' if breach else count}:{int(now.timestamp())}"  # a case may be paged again later
        ctx.emit(PostToModerators(case.platform, case.workspace, OutboundMessage(
            text, self._buttons(case), ping_moderators=True)), Priority.ALERT, key=f"esc:{case.id}:repage:{suffix}")
        for user in self._oncall(case.platform, case.workspace):
            ctx.emit(SendDirect(user, OutboundMessage(messages.oncall_dm_text(case, count), self._buttons(case))),
                     Priority.ALERT, key=f"esc:{case.id}:repage:{suffix}:{user.user_id}")


def _user_of(key: str) -> UserRef:
    platform, workspace, user_id = key.split(":", 2)
    return UserRef(platform, workspace, user_id)
