"""The Discord platform: implements the `ChatPlatform` port with discord.py.

Interactions and the 3-second rule: Discord wants an answer to every slash command and button press within three
seconds. The adapter hands the event to the core at once and keeps the interaction *pending*; the core's answer
comes back a few milliseconds later through the outbox as a `SendEphemeral` (in a guild channel) or a `SendDirect`
(in the DM the command was used in), and `send` delivers it as the interaction's response. If nothing has come
after `ANSWER_WITHIN` seconds the adapter acknowledges the interaction (a "thinking" state for a command, a silent
update for a press) and later answers go out as follow-ups, visible only to that person, for the 15 minutes
Discord keeps an interaction token. An answer belongs to the interaction whose event caused it (the core's outbox
key starts with that event's key); an ephemeral answer with no live interaction (e.g. a crisis reply to a channel
message) goes to the person's DM instead, as Discord has no ephemeral messages outside interactions. A form
(`OpenForm`) can only be an interaction's first response: it arrives within the same window and becomes the modal.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from adapters.discord_bot import slash, translate
from adapters.discord_bot.translate import PLATFORM, Rendered, TranslationError
from bot.events import ConversationRef, Form, MessageRef, OutboundMessage, UserInfo, UserRef
from bot.ports import Clock, EventSink, PermanentSendError, TransientSendError

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://discord.com/api/v10"
ANSWER_WITHIN = 2.0  # seconds after an interaction arrives before it is acknowledged without an answer
TOKEN_LIFETIME = 14 * 60.0  # interaction tokens last 15 minutes; keep a margin
ROLE_CACHE_SECONDS = 60.0
THREAD_NAME = "Replies"
WEBHOOK_NAME = "peerbot"
STOP_TIMEOUT = 10.0  # seconds `stop` waits for events being handled before cancelling them
SEEN_TEXT_LIMIT = 4096  # messages whose last screened text is remembered (as a digest) to skip a repeated edit
_CAUSE = re.compile(rf"^{PLATFORM}:[^:]+:i(?P<id>\d+)(?::|$)")

# Discord JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json)
CANNOT_DM = 50007
UNKNOWN_CHANNEL = 10003
UNKNOWN_WEBHOOK = 10015
MISSING_PERMISSIONS = 50013
UNKNOWN_INTERACTION = 10062
ALREADY_ACKNOWLEDGED = 40060
THREAD_EXISTS = 160004

SENT_TO_DM = "I've sent you a direct message."
DMS_CLOSED = ("I couldn't send you a direct message: your privacy settings block DMs from this server's members. "
              "To get my messages, turn on Direct Messages for this server (server name ▸ Privacy Settings) "
              "and try again.")


def _guard_parsers(client: discord.Client) -> None:
    """discord.py lets an exception while reading a gateway event end the whole connection: a malformed event is
    logged (its name, never its content) and skipped instead."""
    parsers: dict[str, Any] = client._connection.parsers

    def guarded(event: str, parse: Any) -> Any:
        def parse_or_skip(data: Any) -> None:
            try:
                parse(data)
            except Exception as exc:
                log.warning("discord gateway event skipped: it could not be read",
                            extra={"event": event, "error": type(exc).__name__})
        return parse_or_skip

    for event, parse in list(parsers.items()):
        parsers[event] = guarded(event, parse)


def _not_about_voice(record: logging.LogRecord) -> bool:
    return "voice will NOT be supported" not in record.getMessage()


class DiscordStartError(Exception):
    """The bot could not log in or connect; the message is for the operator (never contains the token)."""


@dataclass(slots=True)
class Pending:
    """An interaction the core may still answer: the first answer is its response, later ones follow-ups."""

    interaction: discord.Interaction
    user_id: str
    channel_id: str
    arrived: float
    is_command: bool
    ephemeral: bool  # in a guild channel: answers are seen by this person only
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    state: str = "new"  # new -> answered | deferred | modal | expired
    replied: bool = False  # a message went out through this interaction
    answered: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    token: str
    api_base: str = "https://discord.com/api/v10"
    moderator_channel: str = ""
    moderator_role: str = ""
    guild_ids: tuple[str, ...] = ()
    shards: int | str = 0  # 0: one connection; N: N shards; "auto": as many as Discord recommends
    groups: tuple[str, ...] = ()  # group topics, offered as choices of /peer post
    use_webhooks: bool = False  # anonymous posts through a channel webhook, under the pseudonym's name
    connect_within: float = 60.0  # seconds `start` waits for the gateway before letting the bot run on
    answer_within: float = ANSWER_WITHIN  # seconds an interaction waits for the core's answer before a deferral


def set_api_base(api_base: str) -> None:
    """discord.py builds every REST URL from `Route.BASE` (an API proxy, or a fake Discord in tests)."""
    discord.http.Route.BASE = api_base.rstrip("/")


def send_error(exc: BaseException) -> Exception:
    """A discord.py failure as the outbox sees it. discord.py already waited out 429s and retried 5xx: only
    what it gave up on arrives here, so nothing is retried twice in a storm."""
    if isinstance(exc, discord.HTTPException):
        reason = f"discord {exc.status} code {exc.code}"
        if exc.status == 429:
            retry = getattr(exc, "retry_after", None)
            return TransientSendError(reason, retry_after=float(retry) if retry else None)
        if exc.status >= 500:
            return TransientSendError(reason)
        return PermanentSendError(reason)  # 400 bad request, 403 forbidden/DMs closed, 404 unknown
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        return TransientSendError(f"discord unreachable: {type(exc).__name__}")
    if isinstance(exc, TranslationError):
        return PermanentSendError(f"discord cannot carry this message: {exc}")
    return TransientSendError(f"discord send failed: {type(exc).__name__}")


class DiscordPlatform:
    """peerbot in Discord servers. `capabilities`: ephemeral answers, threads, buttons and selects, files, forms."""

    platform = PLATFORM
    # ephemeral interaction answers are gone after a reload: crisis resources also go to the DM
    capabilities = frozenset({"ephemeral", "ephemeral_vanishes", "threads", "buttons", "files", "forms"})

    def __init__(self, config: DiscordConfig, clock: Clock, *, core_verbs: tuple[str, ...] = (),
                 core_mod_verbs: tuple[str, ...] = (), summaries: dict[str, str] | None = None) -> None:
        self.config = config
        self.clock = clock
        self._core_verbs = core_verbs
        self._core_mod_verbs = core_mod_verbs
        self._summaries = summaries or {}
        self._sink: EventSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[int, Pending] = {}
        self._dm_owner: dict[str, str] = {}  # DM channel id -> user id
        self._roles: dict[tuple[str, str], tuple[float, frozenset[int]]] = {}
        # Ephemeral messages can only be edited through the interaction that sent them:
        # message id -> (interaction, is its original response, when it arrived).
        self._ephemeral: dict[int, tuple[discord.Interaction, bool, float]] = {}
        self._synced = False
        self._connected = False
        self._webhooks: dict[str, discord.Webhook] = {}  # channel id -> our webhook there
        self._handlers: set[asyncio.Task[None]] = set()  # events handed to the core, not yet handled
        # message id -> a digest of the text last handed to the core (never the text): discord.py updates a cached
        # message in place, so a message edited right after it was sent can reach on_message with its new text
        # already, and the edit that follows must not screen (and answer) the same text a second time
        self._seen_text: collections.OrderedDict[int, bytes] = collections.OrderedDict()
        self._webhooks_refused = False  # Manage Webhooks missing: posts fall back to the bot's own messages
        self.client = self._build_client()
        self.tree = app_commands.CommandTree(self.client)
        self.tree.add_command(slash.build_peer_group(
            self._on_command, groups=config.groups, core_verbs=core_verbs, core_mod_verbs=core_mod_verbs,
            summaries=self._summaries))

    # ------------------------------------------------------------ the client

    @staticmethod
    def intents() -> discord.Intents:
        """Guilds, guild messages, DMs, and message content (privileged: the safety screen reads every message)."""
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.dm_messages = True
        intents.message_content = True
        return intents

    @staticmethod
    def _quiet_voice_warnings() -> None:
        """peerbot has no voice: discord.py's start-up warnings about missing voice libraries are noise."""
        logging.getLogger("discord.client").addFilter(_not_about_voice)  # added once, however many clients

    def _build_client(self) -> discord.Client:
        self._quiet_voice_warnings()
        options: dict[str, Any] = {"intents": self.intents(), "allowed_mentions": discord.AllowedMentions.none()}
        shards = self.config.shards
        client: discord.Client
        if shards:
            client = discord.AutoShardedClient(shard_count=None if shards == "auto" else int(shards), **options)
        else:
            client = discord.Client(**options)
        _guard_parsers(client)
        client.peerbot_on_choice = self._on_choice  # type: ignore[attr-defined]
        client.setup_hook = self._setup_hook  # type: ignore[method-assign]
        client.event(self.on_ready)
        client.event(self.on_message)
        client.event(self.on_raw_message_edit)
        client.event(self.on_guild_join)
        client.event(self.on_guild_available)
        client.event(self.on_interaction)
        return client

    async def _setup_hook(self) -> None:
        # Every bot message's buttons and selects dispatch from their custom_id: presses work after a restart.
        self.client.add_dynamic_items(translate.ChoiceButton, translate.ChoiceSelect)
        if self.config.api_base.rstrip("/") != DEFAULT_API_BASE and self.config.shards != "auto":
            # Behind an API proxy the gateway address comes from the proxy too ("auto" sharding asks
            # /gateway/bot itself).
            data = await self.client.http.request(discord.http.Route("GET", "/gateway"))
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(data["url"])

    async def on_ready(self) -> None:
        self._connected = True
        log.info("discord connected", extra={"guilds": len(self.client.guilds)})
        self._warn_if_many_guilds()
        if self._synced:
            return
        self._synced = True
        try:
            if self.config.guild_ids:
                for guild_id in self.config.guild_ids:
                    guild = discord.Object(int(guild_id))
                    self.tree.copy_global_to(guild=guild)
                    await self.tree.sync(guild=guild)
            else:
                await self.tree.sync()
            log.info("discord commands synced", extra={"guilds": list(self.config.guild_ids) or "global"})
        except discord.HTTPException as exc:
            log.error("discord command sync failed", extra={"status": exc.status, "code": exc.code})

    async def on_guild_join(self, guild: discord.Guild) -> None:
        self._warn_if_many_guilds()

    async def on_guild_available(self, guild: discord.Guild) -> None:
        self._warn_if_many_guilds()

    def _warn_if_many_guilds(self) -> None:
        """One server per instance: a DM cannot be told apart by server, so a member of two would be two members.
        Events of any other server are ignored (ids only in the log)."""
        ids = sorted(str(g.id) for g in self.client.guilds)
        if len(ids) > 1:
            log.error("discord: the bot is in more than one server; peerbot serves one server per instance and "
                      "ignores every other", extra={"guilds": ids, "served": self.home()})

    def _ignored(self, guild_id: int | str | None, what: str) -> bool:
        """True for an event of a server this instance does not serve (logged, ids only; nothing is answered)."""
        if guild_id is None or str(guild_id) == self.home():
            return False
        log.warning("discord event from a server this instance does not serve ignored",
                    extra={"guild": str(guild_id), "event": what, "served": self.home()})
        return True

    def home(self) -> str:
        """The one guild served, DMs included: `guild_ids`, else the guild the bot is in (lowest id)."""
        if self.config.guild_ids:
            return self.config.guild_ids[0]
        guilds = sorted(g.id for g in self.client.guilds)
        return str(guilds[0]) if guilds else "@me"

    # ------------------------------------------------------------ the port: lifecycle

    async def start(self, sink: EventSink) -> None:
        """Log in and connect; returns once the gateway is ready (raises DiscordStartError if it cannot)."""
        self._sink = sink
        set_api_base(self.config.api_base)
        self._task = asyncio.create_task(self.client.start(self.config.token), name="discord-client")
        self._task.add_done_callback(self._client_ended)
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait({self._task, ready}, timeout=self.config.connect_within,
                                     return_when=asyncio.FIRST_COMPLETED)
        if not done:
            # discord.py keeps reconnecting with backoff; the rest of the bot (and a clean stop) need not wait.
            ready.cancel()
            log.warning("discord not connected yet; still trying in the background")
            return
        if self._task in done and not ready.done():
            ready.cancel()
            exc = self._task.exception()
            if isinstance(exc, discord.LoginFailure):
                raise DiscordStartError("discord: the token was refused (discord.token)")
            if isinstance(exc, discord.PrivilegedIntentsRequired):
                raise DiscordStartError("discord: enable the Message Content intent for the bot in the Developer "
                                        "Portal (Bot ▸ Privileged Gateway Intents)")
            log.error("discord start failed", exc_info=exc)
            raise DiscordStartError(f"discord: could not connect: {type(exc).__name__}")

    def _client_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._connected:
            log.critical("discord client stopped; the bot no longer hears Discord",
                         extra={"error": type(task.exception()).__name__})

    async def idle(self) -> None:
        """Wait until every event handed to the core has been handled."""
        while self._handlers:
            await asyncio.wait(set(self._handlers))

    async def stop(self) -> None:
        """Let the core finish the events in hand (a crisis message may be one), then disconnect."""
        self._connected = False
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await self.idle()
        except TimeoutError:
            log.warning("discord stop: event handling still running after the timeout is cancelled",
                        extra={"events": len(self._handlers)})
            for task in list(self._handlers):
                task.cancel()
        await self.client.close()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=5)

    # ------------------------------------------------------------ inbound

    async def _deliver(self, event: Any) -> None:
        """Hand an event to the core in a task of its own, tracked so `stop` waits for it."""
        if self._sink is None:
            return
        task = asyncio.create_task(self._handle(self._sink, event), name="discord-event")
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)  # discord.py cancelling its event task never cuts the core's handling

    @staticmethod
    async def _handle(sink: EventSink, event: Any) -> None:
        try:
            await sink(event)
        except Exception:
            log.exception("discord event handling failed", extra={"event": type(event).__name__})

    async def on_message(self, message: discord.Message) -> None:
        try:
            event = translate.message_event(message, self.home(), self.clock.now())
        except Exception:
            log.warning("discord message skipped: could not be translated", extra={"message_id": message.id})
            return
        # A server the bot has no cache of gives no `message.guild`: its id is on the channel, never taken for a DM.
        guild_id = message.guild.id if message.guild else getattr(message.channel, "guild_id", None)
        if event is None or self._ignored(guild_id, "message"):
            return
        self._remember(message.author, event.user.workspace, message.channel)
        self._note_text(message.id, event.text)
        await self._deliver(event)

    def _note_text(self, message_id: int, text: str) -> bool:
        """Remember which text of a message was handed to the core; False if it was this very text already."""
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
        if self._seen_text.get(message_id) == digest:
            return False
        self._seen_text[message_id] = digest
        self._seen_text.move_to_end(message_id)
        while len(self._seen_text) > SEEN_TEXT_LIMIT:
            self._seen_text.popitem(last=False)
        return True

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """An edit is screened with its new text, also of a message no longer (or never) in the cache."""
        message = payload.message
        before = payload.cached_message.content if payload.cached_message is not None else None
        try:
            event = translate.edit_event(message, before, self.home(), self.clock.now())
        except Exception:
            log.warning("discord message edit skipped: could not be translated",
                        extra={"message_id": payload.message_id})
            return
        # The guild from the payload itself: a server the bot has no cache of must not pass for a DM.
        guild_id = payload.data.get("guild_id") or payload.guild_id
        if event is None or self._ignored(guild_id, "message edit"):
            return
        if not self._note_text(payload.message_id, event.text):
            return  # on_message already read this text (the message was edited before it was handled)
        await self._deliver(event)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Modal submissions arrive here (commands and components go through the tree and dynamic items)."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        await self._on_form(interaction)

    async def _on_form(self, interaction: discord.Interaction) -> None:
        if self._ignored(interaction.guild_id, "form"):
            return
        event = translate.form_event(interaction, self.home(), self.clock.now())
        if event is None:
            log.warning("discord modal submission skipped: not one of ours", extra={"interaction": interaction.id})
            return
        # A modal opened from a slash command has no message to update: acknowledge it as "thinking".
        await self._interaction(interaction, event, is_command=interaction.message is None)

    async def _on_command(self, interaction: discord.Interaction, text: str) -> None:
        if self._ignored(interaction.guild_id, "command"):
            return
        home = self.home()
        event = translate.command_event(interaction, text, home, self.clock.now())
        await self._interaction(interaction, event, is_command=True)

    async def _on_choice(self, interaction: discord.Interaction, action: str, value: str, label: str) -> None:
        if self._ignored(interaction.guild_id, "press"):
            return
        event = translate.action_event(interaction, action, value, label, self.home(), self.clock.now())
        await self._interaction(interaction, event, is_command=False)

    async def _interaction(self, interaction: discord.Interaction, event: Any, *, is_command: bool) -> None:
        loop = asyncio.get_running_loop()
        self._remember(interaction.user, event.user.workspace, interaction.channel)
        pending = Pending(interaction, str(interaction.user.id), str(interaction.channel_id), loop.time(),
                          is_command, ephemeral=interaction.guild_id is not None)
        self._pending[interaction.id] = pending
        self._forget_expired(loop.time())
        handling = asyncio.create_task(self._deliver(event))
        # The core's answer normally arrives well within the window; the core's handling is never cancelled.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pending.answered.wait(), timeout=self.config.answer_within)
        await self._acknowledge(pending)
        await handling

    async def _acknowledge(self, pending: Pending) -> None:
        async with pending.lock:
            if pending.state != "new":
                return
            try:
                if pending.is_command:
                    await pending.interaction.response.defer(ephemeral=pending.ephemeral, thinking=True)
                else:
                    await pending.interaction.response.defer()
                pending.state = "deferred"
            except discord.HTTPException as exc:
                log.warning("discord interaction could not be acknowledged",
                            extra={"status": exc.status, "code": exc.code, "interaction": pending.interaction.id})
                pending.state = "expired"
            pending.answered.set()

    def _forget_expired(self, now: float) -> None:
        """Interaction tokens last 15 minutes: what they could answer or edit is forgotten after that."""
        for key in [k for k, p in self._pending.items() if now - p.arrived > TOKEN_LIFETIME]:
            del self._pending[key]
        for message_id in [m for m, (_, _, arrived) in self._ephemeral.items() if now - arrived > TOKEN_LIFETIME]:
            del self._ephemeral[message_id]

    def _remember(self, user: discord.abc.User, workspace: str, channel: Any) -> None:
        roles = translate.member_role_ids(user)
        if roles is not None:
            self._roles[(workspace, str(user.id))] = (asyncio.get_running_loop().time(), roles)
        if isinstance(channel, discord.DMChannel):
            self._dm_owner[str(channel.id)] = str(user.id)

    def _interaction_for(self, key: str, user_id: str, channel_id: str, ephemeral: bool) -> Pending | None:
        """The interaction an answer belongs to: the one whose event caused it (the core's outbox keys start with
        the event's key, which carries the interaction id), else an already acknowledged one of this person
        here, so an unrelated answer never takes the place of another command's response. In a DM, where a plain
        message reaches the person anyway, an unrelated message (a relay from their mentor, a proposal) is only
        taken as the follow-up of a command still "thinking" without an answer; otherwise it is a DM of its own,
        not a reply to whatever button they pressed last."""
        caused = _CAUSE.match(key)
        if caused is not None:
            pending = self._pending.get(int(caused["id"]))
            if pending is not None and pending.user_id == user_id and pending.channel_id == channel_id \
                    and pending.state in ("new", "deferred", "answered") \
                    and asyncio.get_running_loop().time() - pending.arrived < TOKEN_LIFETIME:
                return pending
        pending = self._live(user_id, channel_id, acknowledged_only=True)
        if pending is not None and not ephemeral and (
                pending.replied or not pending.is_command or pending.state != "deferred"):
            return None
        return pending

    def _live(self, user_id: str, channel_id: str | None, acknowledged_only: bool = False) -> Pending | None:
        """The newest pending interaction of this person (in this channel, if given) whose token still works."""
        now = asyncio.get_running_loop().time()
        found = [p for p in self._pending.values()
                 if p.user_id == user_id and (channel_id is None or p.channel_id == channel_id)
                 and now - p.arrived < TOKEN_LIFETIME
                 and p.state in (("deferred", "answered") if acknowledged_only else ("new", "deferred", "answered"))]
        return max(found, key=lambda p: p.arrived) if found else None

    # ------------------------------------------------------------ the port: outbound

    async def open_form(self, user: UserRef, interaction: str, form: Form) -> None:
        """The modal must be the interaction's first response, within its 3 seconds: the adapter holds the
        interaction open (ANSWER_WITHIN) so the core's OpenForm, sent at once, gets there first."""
        pending = self._pending.get(int(interaction)) if interaction.isdigit() else None
        if pending is None or pending.user_id != user.user_id:
            raise PermanentSendError("discord interaction unknown or expired; the form cannot be shown")
        try:
            modal = translate.build_modal(form)
        except (TranslationError, ValueError) as exc:
            raise PermanentSendError(f"discord cannot show this form: {exc}") from None
        async with pending.lock:
            if pending.state != "new" or pending.interaction.response.is_done():
                raise PermanentSendError("discord interaction already answered; the form cannot be shown")
            try:
                await pending.interaction.response.send_modal(modal)
            except Exception as exc:
                raise send_error(exc) from None
            pending.state = "modal"
            pending.answered.set()

    async def open_dm(self, user: UserRef) -> ConversationRef:
        try:
            channel = await self.client.create_dm(discord.Object(int(user.user_id)))
        except Exception as exc:
            raise send_error(exc) from None
        self._dm_owner[str(channel.id)] = user.user_id
        return ConversationRef(PLATFORM, user.workspace, str(channel.id), kind="dm")

    async def send(self, to: ConversationRef, message: OutboundMessage, *, idempotency_key: str,
                   ephemeral_to: UserRef | None = None) -> MessageRef:
        try:
            rendered = translate.render(message, self._role_id())
        except TranslationError as exc:
            raise send_error(exc) from None
        person = ephemeral_to.user_id if ephemeral_to is not None else self._dm_owner.get(to.channel_id)
        if person is not None and to.thread_id is None:
            pending = self._interaction_for(idempotency_key, person, to.channel_id, ephemeral_to is not None)
            if pending is not None:
                sent = await self._answer(pending, rendered, ephemeral=ephemeral_to is not None)
                if sent is not None:
                    return MessageRef(PLATFORM, to.workspace, to.channel_id, sent)
        if self.config.use_webhooks and message.author_name and ephemeral_to is None and to.kind == "channel":
            posted = await self._post_as(to, rendered, message.author_name)
            if posted is not None:
                return posted
            rendered.mentions = discord.AllowedMentions.none()  # the bot's own message instead: pings nobody
        if ephemeral_to is not None:
            # No live interaction to answer ephemerally: the person's DM is the private place left.
            to = await self.open_dm(ephemeral_to)
            person = ephemeral_to.user_id
        ref = await self._post(to, rendered, idempotency_key, person if to.kind == "dm" else None)
        if to.kind == "dm" and person is not None:
            await self._point_to_dm(person, with_file=rendered.attachment is not None)
        return ref

    async def _point_to_dm(self, user_id: str, with_file: bool = False) -> None:
        """A command used in a guild channel whose answer went to the DM: say so where it was used (also after
        an answer there, when the DM carries a file, e.g. the report a moderator asked for)."""
        pending = self._live(user_id, None)
        if pending is None or not pending.ephemeral or not pending.is_command or (pending.replied and not with_file):
            return
        with contextlib.suppress(PermanentSendError, TransientSendError):
            await self._answer(pending, translate.render(OutboundMessage(SENT_TO_DM)), ephemeral=True)

    async def _answer(self, pending: Pending, rendered: Rendered, *, ephemeral: bool) -> str | None:
        """Deliver through the interaction: its response if not yet answered, else follow-ups. None: expired."""
        interaction = pending.interaction
        async with pending.lock:
            try:
                first: str | None = None
                for index, piece in enumerate(rendered.pieces):
                    kwargs = rendered.kwargs(last=index == len(rendered.pieces) - 1)
                    if pending.state == "new" and not interaction.response.is_done():
                        response = await interaction.response.send_message(piece, ephemeral=ephemeral, **kwargs)
                        pending.state = "answered"
                        pending.answered.set()
                        message_id = response.message_id
                        if message_id is None:
                            message_id = (await interaction.original_response()).id
                        if ephemeral:
                            self._ephemeral[message_id] = (interaction, True, pending.arrived)
                    else:
                        sent = await interaction.followup.send(piece, ephemeral=ephemeral, wait=True, **kwargs)
                        message_id = sent.id
                        if ephemeral:
                            self._ephemeral[message_id] = (interaction, False, pending.arrived)
                    first = first or str(message_id)
                    last_id = str(message_id)
                pending.replied = True
                return last_id if first else None
            except discord.NotFound as exc:
                if exc.code in (UNKNOWN_WEBHOOK, UNKNOWN_INTERACTION):
                    pending.state = "expired"
                    return None
                raise send_error(exc) from None
            except Exception as exc:
                raise send_error(exc) from None

    async def _post(self, to: ConversationRef, rendered: Rendered, key: str, dm_owner: str | None) -> MessageRef:
        target = int(to.thread_id or to.channel_id)
        channel = self.client.get_partial_messageable(target)
        last: discord.Message | None = None
        try:
            for index, piece in enumerate(rendered.pieces):
                kwargs = rendered.kwargs(last=index == len(rendered.pieces) - 1)
                nonce = hashlib.sha256(f"{key}:{index}".encode()).hexdigest()[:25]
                try:
                    last = await channel.send(piece, nonce=nonce, **kwargs)
                except discord.NotFound as exc:
                    if to.thread_id is None or exc.code != UNKNOWN_CHANNEL:
                        raise
                    # The first reply to a post: open the post's thread, then send in it.
                    await self._open_thread(int(to.channel_id), int(to.thread_id))
                    last = await channel.send(piece, nonce=nonce, **kwargs)
        except discord.Forbidden as exc:
            if exc.code == CANNOT_DM and dm_owner is not None:
                await self._explain_closed_dms(dm_owner)
                raise PermanentSendError(f"dms_closed: discord 403 code {exc.code}") from None
            raise send_error(exc) from None
        except Exception as exc:
            raise send_error(exc) from None
        assert last is not None
        # A message in a thread lives in the thread's channel: that is where it is edited or deleted.
        return MessageRef(PLATFORM, to.workspace, to.thread_id or to.channel_id, str(last.id))

    async def _webhook(self, channel_id: str) -> discord.Webhook:
        """The bot's own webhook in a channel (found, or created once): it posts under another name."""
        found = self._webhooks.get(channel_id)
        if found is None:
            mine = str(self.client.application_id)
            hooks = await self.client.http.channel_webhooks(int(channel_id))
            data = next((h for h in hooks if str(h.get("application_id")) == mine and h.get("token")), None)
            if data is None:
                data = await self.client.http.create_webhook(int(channel_id), name=WEBHOOK_NAME)
            found = discord.Webhook.from_state(data, self.client._connection)
            self._webhooks[channel_id] = found
        return found

    async def _post_as(self, to: ConversationRef, rendered: Rendered, name: str) -> MessageRef | None:
        """An anonymous post shown as sent by its pseudonym; replies in the post's thread. A webhook deleted since
        it was cached is replaced once; without Manage Webhooks: None, the bot posts it as its own message."""
        try:
            return await self._post_through_webhook(to, rendered, name)
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_WEBHOOK:
                raise send_error(exc) from None
            self._webhooks.pop(to.channel_id, None)
            try:
                return await self._post_through_webhook(to, rendered, name)
            except discord.Forbidden:
                pass
            except Exception as exc:
                raise send_error(exc) from None
        except discord.Forbidden:
            pass
        except Exception as exc:
            raise send_error(exc) from None
        if not self._webhooks_refused:
            self._webhooks_refused = True
            log.warning("discord webhooks refused (the bot lacks Manage Webhooks): anonymous posts are sent as the "
                        "bot's own messages", extra={"channel": to.channel_id})
        return None

    async def _post_through_webhook(self, to: ConversationRef, rendered: Rendered, name: str) -> MessageRef:
        webhook = await self._webhook(to.channel_id)
        thread: Any = discord.Object(int(to.thread_id)) if to.thread_id else discord.utils.MISSING
        last: discord.WebhookMessage | None = None
        for index, piece in enumerate(rendered.pieces):
            kwargs = rendered.kwargs(last=index == len(rendered.pieces) - 1)
            try:
                last = await webhook.send(piece, username=name[:80], wait=True, thread=thread, **kwargs)
            except discord.NotFound as exc:
                if to.thread_id is None or exc.code != UNKNOWN_CHANNEL:
                    raise
                await self._open_thread(int(to.channel_id), int(to.thread_id))
                last = await webhook.send(piece, username=name[:80], wait=True, thread=thread, **kwargs)
        assert last is not None
        return MessageRef(PLATFORM, to.workspace, to.thread_id or to.channel_id, str(last.id))

    async def _delete_as_webhook(self, ref: MessageRef) -> bool:
        """Delete a message our webhook posted (True), found from its channel or its thread's parent channel."""
        channel_id, thread = ref.channel_id, discord.utils.MISSING
        data = await self.client.http.get_channel(int(ref.channel_id))
        if data.get("parent_id") and data.get("type") in (10, 11, 12):
            channel_id, thread = str(data["parent_id"]), discord.Object(int(ref.channel_id))
        try:
            await (await self._webhook(channel_id)).delete_message(int(ref.message_id), thread=thread)
        except discord.NotFound as exc:
            if exc.code == UNKNOWN_WEBHOOK:
                self._webhooks.pop(channel_id, None)
            return False
        except discord.Forbidden:
            return False  # no Manage Webhooks: the post was the bot's own message
        return True

    async def _open_thread(self, channel_id: int, message_id: int) -> None:
        try:
            await self.client.http.start_thread_with_message(channel_id, message_id, name=THREAD_NAME,
                                                             auto_archive_duration=10080)
        except discord.HTTPException as exc:
            if exc.code != THREAD_EXISTS:
                raise

    async def _explain_closed_dms(self, user_id: str) -> None:
        """Tell the person, where they used a command, that their DMs are closed (ephemeral, if possible)."""
        pending = self._live(user_id, None)
        if pending is None or not pending.ephemeral:
            log.warning("discord DM refused (DMs closed); no interaction to explain it in", extra={"user": user_id})
            return
        try:
            await self._answer(pending, translate.render(OutboundMessage(DMS_CLOSED)), ephemeral=True)
        except Exception:
            log.warning("discord could not explain closed DMs", extra={"user": user_id})

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None:
        try:
            rendered = translate.render(message, self._role_id())
            content = rendered.pieces[0] if len(rendered.pieces) == 1 else rendered.pieces[0][:-1] + "…"
            kwargs: dict[str, Any] = {"content": content,
                                      "allowed_mentions": rendered.mentions, "view": rendered.view}
            ephemeral = self._ephemeral.get(int(ref.message_id))
            if ephemeral is not None:
                interaction, original, _ = ephemeral
                if original:
                    await interaction.edit_original_response(**kwargs)
                else:
                    await interaction.followup.edit_message(int(ref.message_id), **kwargs)
                return
            partial = self.client.get_partial_messageable(int(ref.channel_id)).get_partial_message(
                int(ref.message_id))
            await partial.edit(**kwargs)
        except Exception as exc:
            raise send_error(exc) from None

    async def delete(self, ref: MessageRef) -> None:
        try:
            ephemeral = self._ephemeral.pop(int(ref.message_id), None)
            if ephemeral is not None:
                interaction, original, _ = ephemeral
                if original:
                    await interaction.delete_original_response()
                else:
                    await interaction.followup.delete_message(int(ref.message_id))
                return
            if self.config.use_webhooks and await self._delete_as_webhook(ref):
                return
            await self.client.get_partial_messageable(int(ref.channel_id)).get_partial_message(
                int(ref.message_id)).delete()
        except discord.NotFound:
            return  # already gone
        except Exception as exc:
            raise send_error(exc) from None

    async def get_user(self, user: UserRef) -> UserInfo:
        found = self.client.get_user(int(user.user_id))
        if found is None:
            try:
                found = await self.client.fetch_user(int(user.user_id))
            except discord.HTTPException:
                return UserInfo(user=user)
        # Discord does not tell a member's timezone: onboarding asks.
        return UserInfo(user=user, display_name=found.display_name, is_bot=found.bot)

    def _role_id(self) -> int | None:
        return int(self.config.moderator_role) if self.config.moderator_role else None

    async def is_moderator(self, user: UserRef) -> bool:
        """True only for members holding the configured moderator role in the guild, asked of Discord."""
        role = self._role_id()
        if role is None or not user.workspace.isdigit():
            return False
        now = asyncio.get_running_loop().time()
        cached = self._roles.get((user.workspace, user.user_id))
        if cached is not None and now - cached[0] < ROLE_CACHE_SECONDS:
            return role in cached[1]
        try:
            data = await self.client.http.get_member(int(user.workspace), int(user.user_id))
            roles = frozenset(int(r) for r in data.get("roles", ()))
        except discord.NotFound:
            roles = frozenset()  # not a member of that guild
        self._roles[(user.workspace, user.user_id)] = (now, roles)
        return role in roles

    def moderator_channel(self, workspace: str) -> ConversationRef | None:
        if not self.config.moderator_channel:
            return None
        return ConversationRef(PLATFORM, workspace, self.config.moderator_channel)

