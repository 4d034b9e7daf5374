"""The flow of one inbound event, in one screen: safety first, then the router, then the durable outbox.

1. Safety: every text is screened before any feature sees it, whatever the sender's state, and what the screen
   decides (crisis reply, moderator alert, hold) is committed in its own transaction, so nothing a feature does
   later can roll it back. If screening fails, the message is treated as needing a moderator (fail closed).
2. The router hands the event to the feature that owns it; its state changes and outbound actions are committed
   together in a second transaction.
3. The dispatcher delivers the outbox (crisis first).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.commands import parse_command
from bot.config import Settings
from bot.events import (
    ActionInvoked,
    CommandInvoked,
    InboundEvent,
    OutboundMessage,
    PostToModerators,
    SendDirect,
    SendEphemeral,
    event_text,
)
from bot.outbox import Dispatcher
from bot.ports import ChatPlatform, Clock
from bot.router import Context, Router, RouterTexts
from bot.safety.resources import LocaleResources, crisis_footer, resources_for
from bot.store import Priority, Store

if TYPE_CHECKING:
    from bot.safety.escalation import SafetyDesk

log = logging.getLogger(__name__)

MODERATOR_CHECK_SECONDS = 2.0


class SafetyGate(Protocol):
    """What the core needs from the safety feature. `inspect` may emit crisis actions and set `ctx.held`;
    it raises only if screening itself failed, and then `fail_closed` must escalate without a screening."""

    async def inspect(self, ctx: Context, text: str) -> None: ...

    async def fail_closed(self, ctx: Context, text: str, error: BaseException) -> None: ...


class App:
    def __init__(
        self, settings: Settings, store: Store, clock: Clock, platforms: Mapping[str, ChatPlatform],
        router: Router | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.platforms = platforms
        self.router = router or Router()
        self.dispatcher = Dispatcher(store, platforms, clock, settings.outbox)
        self.gate: SafetyGate | None = None
        self.safety: SafetyDesk | None = None  # the safety feature, for features that hold posts
        configured = [(r.name, r.contact, r.hours) for r in settings.safety.crisis_resources]
        self.resources: LocaleResources = resources_for(settings.safety.locale, configured)
        self.texts = RouterTexts(crisis_footer=crisis_footer(self.resources))

    def supports(self, platform: str, capability: str) -> bool:
        """Whether the running adapter of `platform` has an optional capability (e.g. "forms", "ephemeral")."""
        adapter = self.platforms.get(platform)
        return adapter is not None and capability in adapter.capabilities

    # -- units of work

    @asynccontextmanager
    async def work(self, key: str, event: InboundEvent | None = None, *, now: datetime | None = None,
                   is_moderator: bool = False, held: bool = False,
                   escalation_id: int | None = None) -> AsyncIterator[Context]:
        """One transaction: what the body changes and the actions it emits are committed together."""
        now = now or self.clock.now()
        async with self.store.transaction() as tx:
            ctx = Context(event=event, tx=tx, now=now, event_key=key, is_moderator=is_moderator, held=held,
                          escalation_id=escalation_id)
            yield ctx
            if ctx.actions:
                await tx.outbox.enqueue_many([(e.key, e.action, e.priority) for e in ctx.actions], now)
        if ctx.actions:
            self.dispatcher.wake(urgent=any(e.priority <= Priority.INTERACTIVE for e in ctx.actions))

    # -- the flow of one inbound event

    async def handle(self, event: InboundEvent) -> None:
        user = event.user
        key = f"{user.platform}:{user.workspace}:{event.event_id}" if event.event_id else f"local:{uuid.uuid4().hex}"
        ids = {"event": type(event).__name__, "event_key": key, "platform": user.platform}
        is_moderator = await self._is_moderator(event)
        text = event_text(event)

        held, case = False, None
        try:
            async with self.work(f"{key}:safety", event, is_moderator=is_moderator) as ctx:
                if event.event_id and not await ctx.tx.inbound.first_sighting(key, ctx.now):
                    log.info("redelivered event skipped", extra=ids)
                    return
                if text and self.gate is not None:
                    await self.gate.inspect(ctx, text)
                held, case = ctx.held, ctx.escalation_id
        except Exception as exc:
            log.exception("safety screening failed; escalating (fail closed)", extra=ids)
            held = True
            case = await self._fail_closed(key, event, text or "", exc)

        try:
            async with self.work(key, event, is_moderator=is_moderator, held=held, escalation_id=case) as ctx:
                await self.router.dispatch(ctx, self.texts)
        except Exception:
            log.exception("handler failed; the member is told", extra=ids)
            async with self.work(f"{key}:error", event) as ctx:
                ctx.reply("Sorry, something went wrong on our side and that was not completed. Please try again "
                          "in a moment.\n" + self.texts.crisis_footer)

    def _may_need_moderator(self, event: InboundEvent) -> bool:
        if isinstance(event, ActionInvoked):
            return True  # moderator buttons (acknowledge, approve, publish ...) are checked by their handlers
        if not isinstance(event, CommandInvoked):
            return False  # plain messages and forms are never moderator tools
        verb = parse_command(event.text).verb
        spec = self.router.commands.get(verb)
        return verb == "mod" or (spec is not None and spec.moderator_only)

    async def _fail_closed(self, key: str, event: InboundEvent, text: str, error: BaseException) -> int | None:
        """Escalate a message the screen could not judge; returns the case it opened or joined."""
        try:
            async with self.work(f"{key}:failclosed", event) as ctx:
                if self.gate is None:
                    raise RuntimeError("no safety gate")
                await self.gate.fail_closed(ctx, text, error)
            return ctx.escalation_id
        except Exception:
            # Last resort: the safety feature itself is broken. Still give resources and tell the moderators.
            log.critical("fail-closed escalation failed; sending last-resort alert", extra={"event_key": key})
            async with self.work(f"{key}:lastresort", event) as ctx:
                resources = "\n".join(f"• {r.line()}" for r in self.resources.crisis)
                message = OutboundMessage(
                    "I couldn't check your message properly, so I've asked a human moderator to look at it. "
                    "If you are in danger right now, call " + self.resources.emergency + ".\n" + resources
                )
                user = event.user
                conv = event.conversation
                if conv is not None and conv.kind == "channel":
                    ctx.emit(SendEphemeral(channel=conv, to=user, message=message, keep=True), Priority.CRISIS)
                else:
                    ctx.emit(SendDirect(to=user, message=message), Priority.CRISIS)
                ctx.emit(PostToModerators(user.platform, user.workspace, OutboundMessage(
                    "Safety screening failed on a message and could not raise a normal alert. "
                    f"Check the logs for event {key} and reach out to the sender.", ping_moderators=True,
                )), Priority.ALERT)
        return None

    async def _is_moderator(self, event: InboundEvent) -> bool:
        """Asked of the platform only where it matters (moderator commands and buttons), and never for long: a
        slow or rate-limited role lookup must not hold up the screening of a message in crisis."""
        platform = self.platforms.get(event.user.platform)
        if platform is None or not self._may_need_moderator(event):
            return False
        try:
            async with asyncio.timeout(MODERATOR_CHECK_SECONDS):
                return await platform.is_moderator(event.user)
        except TimeoutError:
            log.warning("moderator check timed out; treating as not a moderator",
                        extra={"platform": event.user.platform})
            return False
        except Exception:
            log.warning("moderator check failed; treating as not a moderator", extra={"platform": event.user.platform})
            return False
