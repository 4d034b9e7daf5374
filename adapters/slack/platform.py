"""The Slack platform: slack-bolt's `AsyncApp` behind the `ChatPlatform` port, in Socket Mode or over HTTP.

Inbound: every listener acknowledges first (Slack wants an answer within 3 seconds) and hands the translated event
to the core in a task of its own, one person's events in order. Retried deliveries carry Slack's original
`event_id`, which the core has already seen, so they are processed once. Outbound: Web API calls on one
`AsyncWebClient` whose `base_url` is `[slack] api_url`; Slack errors become `TransientSendError` (rate limits with
their Retry-After, network trouble, 5xx) or `PermanentSendError` (channel not found, not in channel, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import blocks, inbound
from adapters.slack.inbound import PLATFORM, Malformed
from bot.config import SlackSettings
from bot.events import ConversationRef, Form, InboundEvent, MessageRef, OutboundMessage, UserInfo, UserRef
from bot.ports import Clock, EventSink, PermanentSendError, TransientSendError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
API_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0

# Slack errors that retrying later may cure; any other error is permanent (retrying cannot change the answer).
TRANSIENT_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org", "accesslimited"})


# A private answer in a channel that cannot be given there (the bot is not in it, or the person left it).
EPHEMERAL_FALLBACK_ERRORS = ("channel_not_found", "not_in_channel", "user_not_in_channel", "is_archived")


class SlackStartupError(Exception):
    """Slack refused the configured credentials or the adapter could not start; the text is for the operator."""


def send_error(exc: Exception, method: str) -> TransientSendError | PermanentSendError:
    """A failed Web API call as the outbox dispatcher understands it (the text names the method and Slack's error)."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
        if status == 429 or error in ("ratelimited", "rate_limited"):
            retry_after = _retry_after(exc.response.headers)
            return TransientSendError(f"{method}: rate limited (HTTP {status})", retry_after=retry_after)
        if status >= 500 or error in TRANSIENT_ERRORS:
            return TransientSendError(f"{method}: {error or 'HTTP ' + str(status)}")
        return PermanentSendError(f"{method}: {error or 'HTTP ' + str(status)}")
    if isinstance(exc, blocks.UnsendableMessage):
        return PermanentSendError(f"{method}: {exc}")
    # Connection refused or reset, DNS, timeouts, a non-JSON answer from a proxy: try again later.
    return TransientSendError(f"{method}: {type(exc).__name__}")


def _retry_after(headers: Any) -> float | None:
    for name in ("Retry-After", "retry-after"):
        raw = headers.get(name) if headers else None
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        if raw is not None:
            with contextlib.suppress(TypeError, ValueError):
                return max(0.0, float(raw))
    return None


class SlackPlatform:
    """One Slack workspace. `crisis_footer` is shown on the App Home tab (the way to a human, always)."""

    platform = PLATFORM
    # ephemeral messages are gone after a reload or on another device: crisis resources also go to the DM
    capabilities = frozenset({"ephemeral", "ephemeral_vanishes", "threads", "buttons", "files", "forms"})

    def __init__(self, settings: SlackSettings, clock: Clock, crisis_footer: str = "",
                 client: AsyncWebClient | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.crisis_footer = crisis_footer
        self.client = client or AsyncWebClient(token=settings.bot_token.get_secret_value() or None,
                                               base_url=settings.api_url, timeout=int(API_TIMEOUT_SECONDS))
        self.team_id: str = ""
        self.bot_user_id: str | None = None
        self.http_port: int | None = None  # the bound port in HTTP mode (useful when configured as 0)
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=settings.signing_secret.get_secret_value(),
            # The listeners below only translate and start a task, so bolt answers once they return: the ack
            # goes out within milliseconds and the core's work continues after it, in tasks we keep track of.
            process_before_response=True,
            request_verification_enabled=settings.mode == "http",
            name="peerbot",
        )
        self._sink: EventSink | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._person_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._dm_channels: dict[str, str] = {}
        self._moderators: frozenset[str] = frozenset()
        self._moderators_until = float("-inf")
        self._moderators_lock = asyncio.Lock()
        self._next_post: dict[str, float] = {}
        self._pace_locks: dict[str, asyncio.Lock] = {}
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._register_listeners()

    # ------------------------------------------------------------ life cycle

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            raise SlackStartupError(f"slack: auth.test failed ({exc.response.get('error', 'unknown error')}); "
                                    "check slack.bot_token") from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise SlackStartupError(f"slack: cannot reach {self.settings.api_url} ({type(exc).__name__})") from None
        self.team_id = str(auth.get("team_id", ""))
        self.bot_user_id = auth.get("user_id")
        if not self.settings.moderator_usergroup and not self.settings.moderator_users:
            log.warning("slack: no moderator_usergroup or moderator_users configured; nobody can use moderator "
                        "commands or alert buttons on Slack")
        if self.settings.mode == "http":
            try:
                await self._start_http()
            except OSError as exc:
                raise SlackStartupError(f"slack: cannot listen on {self.settings.host}:{self.settings.port} "
                                        f"({exc.strerror or exc}); check slack.host and slack.port") from None
        else:
            await self._start_socket_mode()
        log.info("slack adapter started", extra={"mode": self.settings.mode, "team": self.team_id,
                                                  "port": self.http_port})

    async def _start_socket_mode(self) -> None:
        app_token = self.settings.app_token.get_secret_value()
        # Ask for the websocket URL ourselves first: the socket-mode client retries a refused token forever,
        # where the operator needs a clear error. The client then connects to the URL we got.
        try:
            opened = await self.client.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            raise SlackStartupError(f"slack: Socket Mode refused ({exc.response.get('error', 'unknown error')}); "
                                    "check slack.app_token (an xapp- token with connections:write)") from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise SlackStartupError(f"slack: cannot reach {self.settings.api_url} ({type(exc).__name__})") from None
        self._socket = AsyncSocketModeHandler(self.bolt, app_token, web_client=self.client)
        self._socket.client.wss_uri = str(opened["url"])
        await self._socket.connect_async()

    async def _start_http(self) -> None:
        server = web.Application()
        server.router.add_post(EVENTS_PATH, self._http_events)
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        addresses = self._runner.addresses  # the real port when configured as 0
        self.http_port = int(addresses[0][1]) if addresses else self.settings.port

    async def _http_events(self, request: web.Request) -> web.Response:
        """Events API, interactivity and slash commands; bolt checks the signature (401 if forged)."""
        response = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def stop(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._tasks:  # events already acknowledged: let the core finish them
            _, pending = await asyncio.wait(set(self._tasks), timeout=STOP_TIMEOUT_SECONDS)
            for task in pending:
                task.cancel()
        with contextlib.suppress(Exception):
            session = getattr(self.client, "session", None)
            if session is not None:
                await session.close()

    async def idle(self) -> None:
        """Wait until every acknowledged event has been handed to the core (tests use this, no sleeping)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------ inbound

    def _register_listeners(self) -> None:
        app = self.bolt
        app.event("message")(self._on_message)
        app.event("member_joined_channel")(self._on_member_joined)
        app.event("team_join")(self._on_member_joined)
        app.event("app_home_opened")(self._on_home_opened)
        app.command("/peer")(self._on_command)
        app.action(re.compile(".*"))(self._on_action)
        app.view(re.compile(".*"))(self._on_form)
        # Everything else the app is subscribed to is acknowledged and ignored (an unhandled event would be
        # answered 404, and Slack would keep retrying it).
        app.event(re.compile(".*"))(self._ignore)

    async def _ignore(self, body: dict[str, Any]) -> None:
        log.debug("slack event ignored", extra={"type": (body.get("event") or {}).get("type")})

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _translate(self, kind: str, translate: Callable[[], list[InboundEvent]]) -> list[InboundEvent]:
        try:
            return translate()
        except (Malformed, KeyError, TypeError, AttributeError, ValueError) as exc:
            log.warning("malformed slack payload skipped", extra={"payload": kind, "reason": str(exc)[:200]})
            return []

    def _hand_over(self, kind: str, translate: Callable[[], list[InboundEvent]]) -> None:
        """Translate now (cheap), then give each event to the core in a task of its own, after the ack."""
        for event in self._translate(kind, translate):
            self._spawn(self._deliver(event), f"slack-{kind}")

    async def _deliver(self, event: InboundEvent) -> None:
        if self._sink is None:
            return
        lock = self._person_locks.get(event.user.key)
        if lock is None:
            lock = asyncio.Lock()
            self._person_locks[event.user.key] = lock
        async with lock:  # one person's events in the order they came
            try:
                await self._sink(event)
            except Exception:
                log.exception("slack event handling failed", extra={"event": type(event).__name__})

    async def _on_message(self, body: dict[str, Any]) -> None:
        self._hand_over("message", lambda: [e] if (e := inbound.message_event(
            body, self.clock.now(), self.bot_user_id)) else [])

    async def _on_member_joined(self, body: dict[str, Any]) -> None:
        self._hand_over("member_joined", lambda: [e] if (e := inbound.member_joined_event(
            body, self.clock.now(), self.bot_user_id)) else [])

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        self._hand_over("command", lambda: [inbound.command_event(body, self.clock.now())])

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        if body.get("type") != "block_actions":
            return
        user_id = (body.get("user") or {}).get("id")
        if (body.get("container") or {}).get("type") == "view":
            # Only the App Home tab has buttons of ours in a view (modal inputs do not dispatch actions).
            if (body.get("view") or {}).get("type") == "home" and isinstance(user_id, str):
                self._spawn(self._home_button(body, user_id), "slack-home-action")
            return
        self._hand_over("action", lambda: list(inbound.action_events(body, self.clock.now())))

    async def _on_form(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()  # closes the modal; the core answers in the DM (saved, or what could not be saved)
        if body.get("type") != "view_submission":
            return
        self._hand_over("form", lambda: [e] if (e := inbound.form_event(body, self.clock.now())) else [])

    async def _home_button(self, body: dict[str, Any], user_id: str) -> None:
        """An App Home button: its answer goes to the person's DM, opened first if we have not seen it yet."""
        home = self._dm_channels.get(user_id)
        if home is None:
            try:
                home = await self._open_dm_channel(user_id)
            except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("slack App Home button dropped: no DM", extra={"error": str(send_error(exc, "open"))})
                return
        for event in self._translate("action", lambda: list(inbound.action_events(body, self.clock.now(), home))):
            await self._deliver(event)

    async def _on_home_opened(self, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        user_id, tab = event.get("user"), event.get("tab")
        if not isinstance(user_id, str) or tab not in (None, "home"):
            return
        if isinstance(event.get("channel"), str):
            self._dm_channels[user_id] = event["channel"]
        self._spawn(self._publish_home(user_id), "slack-home")

    async def _publish_home(self, user_id: str) -> None:
        try:
            await self.client.views_publish(user_id=user_id, view=blocks.home_view(self.crisis_footer))
        except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack App Home not published", extra={"error": str(send_error(exc, "views.publish"))})

    # ------------------------------------------------------------ outbound

    async def _call(self, method: str, call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await call()
        except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError, blocks.UnsendableMessage) as exc:
            raise send_error(exc, method) from None

    async def _open_dm_channel(self, user_id: str) -> str:
        response = await self.client.conversations_open(users=user_id)
        channel = response["channel"]["id"]
        self._dm_channels[user_id] = channel
        return channel

    async def open_dm(self, user: UserRef) -> ConversationRef:
        channel = self._dm_channels.get(user.user_id)
        if channel is None:
            channel = await self._call("conversations.open", lambda: self._open_dm_channel(user.user_id))
        return ConversationRef(PLATFORM, user.workspace, channel, kind="dm")

    def _ping(self, message: OutboundMessage) -> str:
        if not message.ping_moderators:
            return ""
        if self.settings.repage_mention == "usergroup" and self.settings.moderator_usergroup:
            return f"<!subteam^{self.settings.moderator_usergroup}>"
        return "<!here>"

    async def _paced(self, channel: str) -> None:
        """About one post per second per channel, as Slack asks; waits only when posting in quick succession."""
        interval = self.settings.post_interval_seconds
        if interval <= 0:
            return
        lock = self._pace_locks.setdefault(channel, asyncio.Lock())
        async with lock:
            loop = asyncio.get_running_loop()
            wait = self._next_post.get(channel, 0.0) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_post[channel] = loop.time() + interval

    async def send(self, to: ConversationRef, message: OutboundMessage, *, idempotency_key: str,
                   ephemeral_to: UserRef | None = None) -> MessageRef:
        if ephemeral_to is not None and message.attachment is not None:
            # Slack has no ephemeral files: the file goes to the person's DM, where only they see it.
            return await self.send(await self.open_dm(ephemeral_to), message, idempotency_key=idempotency_key)
        ping = self._ping(message) if to.kind == "channel" else ""
        text, rendered = _render(message, ping)
        common: dict[str, Any] = {"channel": to.channel_id, "text": text, "blocks": rendered,
                                  "link_names": False, "parse": "none"}
        if to.thread_id:
            common["thread_ts"] = to.thread_id
        await self._paced(to.channel_id)
        if ephemeral_to is not None:
            try:
                response = await self._call("chat.postEphemeral", lambda: self.client.chat_postEphemeral(
                    user=ephemeral_to.user_id, **common))
            except PermanentSendError as exc:
                if not str(exc).endswith(EPHEMERAL_FALLBACK_ERRORS):
                    raise
                # `/peer` typed in a channel the bot is not in: the private answer comes in the DM instead
                # (it may be crisis resources; it must reach the person).
                log.info("slack ephemeral answer sent as a DM", extra={"reason": str(exc)})
                return await self.send(await self.open_dm(ephemeral_to), message, idempotency_key=idempotency_key)
            return MessageRef(PLATFORM, to.workspace, to.channel_id, str(response.get("message_ts", "")))
        if message.attachment is not None:
            return await self._upload(to, message, text)
        response = await self._call("chat.postMessage", lambda: self.client.chat_postMessage(
            unfurl_links=False, unfurl_media=False, **common))
        return MessageRef(PLATFORM, to.workspace, str(response.get("channel") or to.channel_id), str(response["ts"]))

    async def _upload(self, to: ConversationRef, message: OutboundMessage, text: str) -> MessageRef:
        """An export: the file with the message as its comment (files.uploadV2)."""
        name = message.attachment_name or "peerbot-export.json"
        content = message.attachment or ""
        response = await self._call("files.uploadV2", lambda: self.client.files_upload_v2(
            channel=to.channel_id, content=content.encode("utf-8"), filename=name, title=name,
            initial_comment=text, thread_ts=to.thread_id))
        files = response.get("files") or [response.get("file") or {}]
        return MessageRef(PLATFORM, to.workspace, to.channel_id, str((files[0] or {}).get("id", "")))

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None:
        text, rendered = _render(message, "")
        await self._call("chat.update", lambda: self.client.chat_update(
            channel=ref.channel_id, ts=ref.message_id, text=text, blocks=rendered, link_names=False, parse="none"))

    async def delete(self, ref: MessageRef) -> None:
        await self._call("chat.delete", lambda: self.client.chat_delete(channel=ref.channel_id, ts=ref.message_id))

    async def open_form(self, user: UserRef, interaction: str, form: Form) -> None:
        """A modal in answer to a press or command; Slack's trigger_id lasts 3 seconds (`expired_trigger_id` is
        permanent: the person presses again)."""
        try:
            view = blocks.modal_view(form)
        except blocks.UnsendableMessage as exc:
            raise PermanentSendError(f"views.open: {exc}") from None
        await self._call("views.open", lambda: self.client.views_open(trigger_id=interaction, view=view))

    async def get_user(self, user: UserRef) -> UserInfo:
        response = await self._call("users.info", lambda: self.client.users_info(user=user.user_id))
        info = response.get("user") or {}
        profile = info.get("profile") or {}
        return UserInfo(user=user, display_name=str(profile.get("display_name") or info.get("real_name") or ""),
                        timezone=info.get("tz") or None, is_bot=bool(info.get("is_bot")))

    async def is_moderator(self, user: UserRef) -> bool:
        """Configured user ids, or members of the configured user group (asked again after the cache expires)."""
        if user.user_id in self.settings.moderator_users:
            return True
        if not self.settings.moderator_usergroup:
            return False
        return user.user_id in await self._usergroup_members()

    async def _usergroup_members(self) -> frozenset[str]:
        async with self._moderators_lock:
            # monotonic time: a cache expiry, not business time
            if time.monotonic() < self._moderators_until:
                return self._moderators
            response = await self._call("usergroups.users.list", lambda: self.client.usergroups_users_list(
                usergroup=self.settings.moderator_usergroup))
            self._moderators = frozenset(str(u) for u in response.get("users") or ())
            self._moderators_until = time.monotonic() + self.settings.moderator_cache_seconds
            return self._moderators

    def moderator_channel(self, workspace: str) -> ConversationRef | None:
        if not self.settings.moderator_channel:
            return None
        return ConversationRef(PLATFORM, workspace or self.team_id, self.settings.moderator_channel)


def _render(message: OutboundMessage, ping: str) -> tuple[str, list[dict[str, Any]]]:
    try:
        return blocks.render(message, ping)
    except blocks.UnsendableMessage as exc:
        raise PermanentSendError(f"render: {exc}") from None
