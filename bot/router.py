"""The router: hands each inbound event to the feature that registered for it. It holds no feature logic.

Features register command verbs, button actions, DM and channel message handlers, and scheduler ticks.
Everything a handler decides goes out through `Context`, which collects outbound actions for the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import commands
from bot.commands import Command
from bot.events import (
    ActionInvoked,
    Choice,
    CommandInvoked,
    ConversationRef,
    Form,
    FormSubmitted,
    InboundEvent,
    MemberJoined,
    MessageReceived,
    OpenForm,
    OutboundAction,
    OutboundMessage,
    PostToChannel,
    PostToModerators,
    SendDirect,
    SendEphemeral,
    UserRef,
)
from bot.store import Member, Priority, Transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Emitted:
    action: OutboundAction
    priority: Priority
    key: str


@dataclass(slots=True)
class Context:
    """One event's unit of work: the event, the open transaction, the time, and the actions decided so far."""

    event: InboundEvent | None  # None for scheduled work
    tx: Transaction
    now: datetime
    event_key: str
    is_moderator: bool = False
    actions: list[Emitted] = field(default_factory=list)
    # Set by the safety gate when the text needs a human: features must not publish or relay it.
    held: bool = False
    escalation_id: int | None = None  # the safety case this event opened or joined

    @property
    def user(self) -> UserRef:
        if self.event is None:
            raise RuntimeError("scheduled work has no user; address actions explicitly")
        return self.event.user

    @property
    def conversation(self) -> ConversationRef | None:
        return self.event.conversation if self.event is not None else None

    async def member_or_tell(self, not_member: str) -> Member | None:
        """The sender as a member; someone who has not joined is told `not_member` and gets None."""
        member = await self.tx.members.by_user(self.user)
        if member is None:
            self.reply(not_member)
        return member

    def emit(self, action: OutboundAction, priority: Priority = Priority.NORMAL, key: str | None = None) -> str:
        """Queue an action; its idempotency key defaults to the event's key plus its position."""
        key = key or f"{self.event_key}:{len(self.actions)}"
        self.actions.append(Emitted(action, priority, key))
        return key

    def reply(self, text: str, choices: tuple[Choice, ...] = (), priority: Priority = Priority.NORMAL,
              keep: bool = False) -> str:
        """Answer the person privately: in their DM, or ephemerally in the channel they wrote in. With `keep`
        (crisis resources), an ephemeral answer is also left in their DM where ephemeral messages vanish."""
        message = OutboundMessage(text=text, choices=tuple(choices))
        conversation = self.conversation
        if conversation is not None and conversation.kind == "channel":
            action: OutboundAction = SendEphemeral(channel=conversation, to=self.user, message=message, keep=keep)
        else:
            action = SendDirect(to=self.user, message=message)
        return self.emit(action, priority)

    def dm(self, to: UserRef, message: OutboundMessage, priority: Priority = Priority.NORMAL,
           key: str | None = None) -> str:
        return self.emit(SendDirect(to=to, message=message), priority, key)

    def post(self, channel: ConversationRef, message: OutboundMessage, priority: Priority = Priority.NORMAL,
             thread_of_key: str | None = None, key: str | None = None) -> str:
        return self.emit(PostToChannel(channel=channel, message=message, thread_of_key=thread_of_key), priority, key)

    def open_form(self, form: Form) -> bool:
        """Answer the press or command with a form; False if this event cannot carry one (no interaction)."""
        interaction = getattr(self.event, "interaction", None)
        if not interaction:
            return False
        self.emit(OpenForm(to=self.user, interaction=interaction, form=form), Priority.INTERACTIVE)
        return True

    def to_moderators(self, message: OutboundMessage, priority: Priority = Priority.ALERT,
                      key: str | None = None) -> str:
        return self.emit(
            PostToModerators(platform=self.user.platform, workspace=self.user.workspace, message=message),
            priority, key,
        )


CommandHandler = Callable[[Context, Command], Awaitable[None]]
ActionHandler = Callable[[Context, ActionInvoked], Awaitable[None]]
FormHandler = Callable[[Context, FormSubmitted], Awaitable[None]]
MessageHandler = Callable[[Context, MessageReceived], Awaitable[bool]]  # True: handled, stop here
JoinHandler = Callable[[Context, MemberJoined], Awaitable[None]]
TickHandler = Callable[[datetime], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TickSpec:
    name: str
    every: timedelta
    run: TickHandler
    # When the tick next has work (None: nothing pending). Lets the sandbox skip idle runs over long clock moves.
    due_hint: Callable[[], Awaitable[datetime | None]] | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    verb: str
    handler: CommandHandler
    moderator_only: bool = False


class Router:
    def __init__(self) -> None:
        self.commands: dict[str, CommandSpec] = {}
        self.moderator_commands: dict[str, tuple[CommandHandler, str]] = {}
        self.actions: dict[str, ActionHandler] = {}
        self.forms: dict[str, FormHandler] = {}
        self.dm_handlers: list[MessageHandler] = []
        self.channel_handlers: list[MessageHandler] = []
        self.join_handlers: list[JoinHandler] = []
        self.ticks: list[TickSpec] = []

    # -- registration (features call these once, at wiring time)

    def command(self, verb: str, handler: CommandHandler, *, moderator_only: bool = False) -> None:
        if verb in self.commands:
            raise ValueError(f"verb {verb!r} registered twice")
        self.commands[verb] = CommandSpec(verb, handler, moderator_only)

    def moderator_command(self, sub: str, handler: CommandHandler, usage: str) -> None:
        """`/peer mod <sub> ...`, for moderators only (checked here, server-side, on every call).
        The handler's command has the sub-verb removed: `command.args` are what follows it."""
        if sub in self.moderator_commands:
            raise ValueError(f"moderator command {sub!r} registered twice")
        self.moderator_commands[sub] = (handler, usage)

    def action(self, name: str, handler: ActionHandler) -> None:
        if name in self.actions:
            raise ValueError(f"action {name!r} registered twice")
        self.actions[name] = handler

    def form(self, name: str, handler: FormHandler) -> None:
        """The handler of a submitted form whose `Form.action` is `name`."""
        if name in self.forms:
            raise ValueError(f"form {name!r} registered twice")
        self.forms[name] = handler

    def on_dm(self, handler: MessageHandler) -> None:
        self.dm_handlers.append(handler)

    def on_channel_message(self, handler: MessageHandler) -> None:
        self.channel_handlers.append(handler)

    def on_join(self, handler: JoinHandler) -> None:
        self.join_handlers.append(handler)

    def tick(self, name: str, every: timedelta, run: TickHandler,
             due_hint: Callable[[], Awaitable[datetime | None]] | None = None) -> None:
        self.ticks.append(TickSpec(name, every, run, due_hint))

    # -- dispatch

    async def dispatch(self, ctx: Context, texts: RouterTexts) -> None:
        event = ctx.event
        match event:
            case None:
                return
            case CommandInvoked():
                await self._command(ctx, commands.parse_command(event.text), texts)
            case ActionInvoked():
                handler = self.actions.get(event.action)
                if handler is None:
                    ctx.reply(texts.stale_button)
                else:
                    await handler(ctx, event)
            case FormSubmitted():
                form_handler = self.forms.get(event.action)
                if form_handler is None:
                    ctx.reply(texts.stale_button)
                else:
                    await form_handler(ctx, event)
            case MessageReceived(edited=True):
                return  # screened already (the safety gate runs before the router); nothing else to do
            case MessageReceived():
                chain = self.dm_handlers if event.conversation.kind == "dm" else self.channel_handlers
                for handler in chain:
                    if await handler(ctx, event):
                        return
                if event.conversation.kind == "dm" and not ctx.held:
                    ctx.reply(texts.dm_fallback)
            case MemberJoined():
                for join_handler in self.join_handlers:
                    await join_handler(ctx, event)

    async def _command(self, ctx: Context, command: Command, texts: RouterTexts) -> None:
        if command.verb == "help" and "help" not in self.commands:
            ctx.reply(texts.help())
            return
        if command.verb == "mod" and self.moderator_commands:
            await self._moderator_command(ctx, command, texts)
            return
        spec = self.commands.get(command.verb)
        if spec is None:
            if command.verb in commands.VERB_NAMES:
                ctx.reply(texts.not_available(command.verb))
            else:
                ctx.reply(texts.unknown_verb(command.verb))
            return
        if spec.moderator_only and not ctx.is_moderator:
            ctx.reply(texts.moderators_only)
            return
        await spec.handler(ctx, command)

    async def _moderator_command(self, ctx: Context, command: Command, texts: RouterTexts) -> None:
        if not ctx.is_moderator:
            ctx.reply(texts.moderators_only)
            return
        sub = command.arg(0).lower()
        entry = self.moderator_commands.get(sub)
        if entry is None:
            usages = "\n".join(f"• `{usage}`" for _, usage in self.moderator_commands.values())
            ctx.reply(f"Moderator commands:\n{usages}")
            return
        handler, _ = entry
        await handler(ctx, commands.drop_first_arg(command))


@dataclass(frozen=True, slots=True)
class RouterTexts:
    """The router's own sentences; the crisis footer makes sure every answer shows a way to a human."""

    crisis_footer: str

    @property
    def stale_button(self) -> str:
        return "That button is no longer active. Type `/peer help` to see what you can do.\n" + self.crisis_footer

    @property
    def dm_fallback(self) -> str:
        return (
            "Hi, I'm peerbot. I connect people for peer support. Type `/peer help` to see what I can do.\n"
            + self.crisis_footer
        )

    @property
    def moderators_only(self) -> str:
        return "Only moderators can use `/peer mod`."

    def help(self) -> str:
        return "\n".join(["Here is what I can do:", *commands.help_lines(), "", self.crisis_footer])

    def unknown_verb(self, verb: str) -> str:
        guess = commands.suggest_verb(verb)
        hint = f" Did you mean `/peer {guess}`?" if guess else ""
        verbs = ", ".join(commands.VERB_NAMES)
        return f"I don't know `/peer {verb}`.{hint} I understand: {verbs}. `/peer help` explains each."

    def not_available(self, verb: str) -> str:
        return (f"`/peer {verb}` is not available on this peerbot yet. `/peer help` lists what is.\n"
                + self.crisis_footer)
