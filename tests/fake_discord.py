"""A small fake of Discord on 127.0.0.1 for the adapter's tests: the REST routes the bot uses (messages, DMs,
threads, interaction callbacks and follow-ups, webhooks, command sync, members; every request recorded) and a
gateway websocket that sends HELLO, READY, GUILD_CREATE and whatever a test dispatches.

Payloads are shaped like discord.py's `discord/types/*.py`. Real Discord cannot run here; everything else in the
tests (discord.py, the adapter, the core, SQLite) is real.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = "900000000000000001"
BOT_ID = APP_ID
GUILD_ID = "910000000000000001"
MOD_ROLE = "920000000000000001"
MOD_CHANNEL = "930000000000000001"
GROUP_CHANNEL = "930000000000000002"
GENERAL_CHANNEL = "930000000000000003"
ALICE = "940000000000000001"
MODERATOR = "940000000000000002"
CLOSED = "940000000000000003"  # a member who has DMs from server members closed
MAYA = "940000000000000004"  # a member who offers to mentor
TIMESTAMP = "2026-03-02T09:00:00.000000+00:00"


def user(user_id: str, name: str, bot: bool = False) -> dict[str, Any]:
    return {"id": user_id, "username": name, "discriminator": "0", "avatar": None, "global_name": name.title(),
            "bot": bot}


NAMES = {ALICE: "alice", MODERATOR: "mod", CLOSED: "closed", MAYA: "maya", BOT_ID: "peerbot"}


def member(user_id: str) -> dict[str, Any]:
    roles = [MOD_ROLE] if user_id == MODERATOR else []
    return {"user": user(user_id, NAMES.get(user_id, "someone")), "roles": roles, "joined_at": TIMESTAMP,
            "deaf": False, "mute": False, "flags": 0, "permissions": "2147483647"}


def text_channel(channel_id: str, name: str) -> dict[str, Any]:
    return {"id": channel_id, "type": 0, "name": name, "position": 0, "permission_overwrites": [],
            "guild_id": GUILD_ID, "nsfw": False, "parent_id": None, "topic": None}


def guild() -> dict[str, Any]:
    return {
        "id": GUILD_ID, "name": "Peer Clinic", "icon": None, "splash": None, "discovery_splash": None,
        "owner_id": MODERATOR, "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
        "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0, "application_id": None,
        "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None, "vanity_url_code": None,
        "description": None, "banner": None, "premium_tier": 0, "preferred_locale": "en-US",
        "public_updates_channel_id": None, "nsfw_level": 0, "premium_progress_bar_enabled": False,
        "features": [], "emojis": [], "stickers": [], "large": False, "member_count": 3, "joined_at": TIMESTAMP,
        "unavailable": False, "voice_states": [], "members": [], "presences": [], "threads": [],
        "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
        "roles": [
            {"id": GUILD_ID, "name": "@everyone", "permissions": "0", "position": 0, "color": 0, "hoist": False,
             "managed": False, "mentionable": False, "flags": 0},
            {"id": MOD_ROLE, "name": "Moderators", "permissions": "0", "position": 1, "color": 0, "hoist": False,
             "managed": False, "mentionable": True, "flags": 0},
        ],
        "channels": [text_channel(MOD_CHANNEL, "moderators"), text_channel(GROUP_CHANNEL, "chronic-pain"),
                     text_channel(GENERAL_CHANNEL, "general")],
    }


@dataclass
class Request:
    method: str
    path: str  # after the API base, e.g. /channels/123/messages
    query: dict[str, str]
    body: Any  # the JSON body (multipart: its payload_json), or None
    files: dict[str, bytes] = field(default_factory=dict)
    status: int = 0  # what the fake answered


class FakeDiscord:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.identifies: list[dict[str, Any]] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.closed_dms: set[str] = {CLOSED}
        self.refuse_token = False
        self.refuse_message_content = False  # as Discord does when the privileged intent is not enabled
        self.dm_channels: dict[str, str] = {}  # dm channel id -> user id
        self.threads: set[str] = set()
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.forbid_webhooks = False  # as Discord does when the bot lacks Manage Webhooks
        self.interactions: dict[str, dict[str, Any]] = {}  # id and token -> the INTERACTION_CREATE payload
        self._ids = itertools.count(1_300_000_000_000_000_001)
        self._seq = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------ lifecycle

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def new_id(self) -> str:
        return str(next(self._ids))

    async def _changed_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], Any], within: float = 20.0) -> Any:
        """Wait until `predicate()` is truthy (re-checked on every request and gateway frame)."""
        async with asyncio.timeout(within), self._changed:
            while not (result := predicate()):
                await self._changed.wait()
            return result

    def find(self, method: str, fragment: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and fragment in r.path]

    async def wait_request(self, method: str, fragment: str, count: int = 1,
                           where: Callable[[Request], bool] = lambda r: True) -> list[Request]:
        return await self.wait_for(
            lambda: (found := [r for r in self.find(method, fragment) if where(r)]) and len(found) >= count
            and found)

    # ------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45000}}))
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(frame.data)
                op = payload.get("op")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    self.identifies.append(payload["d"])
                    if self.refuse_message_content and payload["d"]["intents"] & (1 << 15):
                        await ws.close(code=4014, message=b"Disallowed intent(s).")
                        break
                    shard = payload["d"].get("shard", [0, 1])
                    await self._send(ws, "READY", {
                        "v": 10, "user": user(BOT_ID, "peerbot", bot=True), "guilds": [
                            {"id": GUILD_ID, "unavailable": True}],
                        "session_id": f"session-{len(self.identifies)}", "resume_gateway_url": self.gateway_url,
                        "application": {"id": APP_ID, "flags": 0}, "shard": shard,
                    })
                    await self._send(ws, "GUILD_CREATE", guild())
                    await self._changed_now()
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
        return ws

    async def _send(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event to the connected bot."""
        await self.wait_for(lambda: self.sockets and self.identifies)
        await self._send(self.sockets[-1], event, data)

    # ------------------------------------------------------------ gateway payloads a test sends

    def message_payload(self, author: str, channel_id: str, content: str, *, dm: bool = False,
                        components: list[Any] | None = None, flags: int = 0) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.new_id(), "channel_id": channel_id, "author": user(author, NAMES.get(author, "someone"),
                                                                          bot=author == BOT_ID),
            "content": content, "timestamp": TIMESTAMP, "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": False, "type": 0, "flags": flags, "components": components or [],
        }
        if not dm:
            data["guild_id"] = GUILD_ID
            data["member"] = {k: v for k, v in member(author).items() if k != "user"}
        return data

    def edit_payload(self, original: dict[str, Any], content: str, edited: str = "2026-03-02T09:05:00.000000+00:00"
                     ) -> dict[str, Any]:
        """A MESSAGE_UPDATE for a message someone edited (Discord sends the whole message)."""
        return {**original, "content": content, "edited_timestamp": edited}

    def _interaction(self, kind: int, who: str, channel_id: str, data: dict[str, Any], *, dm: bool,
                     message: dict[str, Any] | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": self.new_id(), "application_id": APP_ID, "type": kind, "token": f"token-{self.new_id()}",
            "version": 1, "channel_id": channel_id, "data": data, "attachment_size_limit": 10485760,
            "locale": "en-US", "app_permissions": "0",
            "entitlements": [], "authorizing_integration_owners": {}, "context": 1 if dm else 0,
        }
        if dm:
            payload["user"] = user(who, NAMES.get(who, "someone"))
            payload["channel"] = {"id": channel_id, "type": 1, "recipients": [payload["user"]]}
        else:
            payload["guild_id"] = GUILD_ID
            payload["guild_locale"] = "en-US"
            payload["member"] = member(who)
            payload["channel"] = text_channel(channel_id, "channel")
        if message is not None:
            payload["message"] = message
        self.interactions[payload["id"]] = self.interactions[payload["token"]] = payload
        return payload

    def slash(self, who: str, channel_id: str, *path: str, dm: bool = False, **options: Any) -> dict[str, Any]:
        """`/peer <path...>` with typed options, shaped as Discord sends it (subcommand groups nested)."""
        leaf: list[dict[str, Any]] = [
            {"name": name, "type": 4 if isinstance(value, int) else 3, "value": value}
            for name, value in options.items()]
        for depth, name in reversed(list(enumerate(path))):
            is_group = depth < len(path) - 1
            leaf = [{"name": name, "type": 2 if is_group else 1, "options": leaf}]
        data = {"id": "950000000000000001", "name": "peer", "type": 1, "options": leaf}
        if not dm:
            data["guild_id"] = GUILD_ID
        return self._interaction(2, who, channel_id, data, dm=dm)

    def press(self, who: str, message: dict[str, Any], custom_id: str, *, dm: bool = False,
              values: list[str] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": 3 if values is not None else 2}
        if values is not None:
            data["values"] = values
        return self._interaction(3, who, message["channel_id"], data, dm=dm, message=message)

    def submit(self, who: str, channel_id: str, modal: dict[str, Any], values: dict[str, Any], *,
               dm: bool = False, message: dict[str, Any] | None = None) -> dict[str, Any]:
        """A MODAL_SUBMIT for the modal the bot sent (its callback data): text inputs give a string, selects a list."""
        components: list[dict[str, Any]] = []
        for component in modal["components"]:
            inner = component.get("component") or (component.get("components") or [{}])[0]
            name = inner.get("custom_id")
            if name not in values:
                continue
            value = values[name]
            entered = {"type": 3, "custom_id": name, "values": value} if isinstance(value, list) else {
                "type": 4, "custom_id": name, "value": value}
            components.append({"type": 18, "id": len(components) + 1, "component": entered})
        return self._interaction(5, who, channel_id, {"custom_id": modal["custom_id"], "components": components},
                                 dm=dm, message=message)

    # ------------------------------------------------------------ REST

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        body: Any = None
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            body = await request.json()
        elif request.content_type.startswith("multipart/"):
            form = await request.post()
            for name, value in form.items():
                if name == "payload_json":
                    body = json.loads(str(value))
                elif hasattr(value, "file"):
                    files[name] = value.file.read()
        record = Request(request.method, path, dict(request.query), body, files)
        try:
            status, payload = self._answer(record)
            record.status = status
        finally:
            self.requests.append(record)
            await self._changed_now()
        if status == 204:
            return web.Response(status=204)
        # discord.py reads a body as JSON only when Content-Type is exactly application/json (no charset).
        return web.Response(body=json.dumps(payload).encode(), status=status,
                            headers={"Content-Type": "application/json"})

    def _answer(self, r: Request) -> tuple[int, Any]:
        parts = r.path.strip("/").split("/")
        match r.method, parts:
            case "GET", ["users", "@me"]:
                if self.refuse_token:
                    return 401, {"message": "401: Unauthorized", "code": 0}
                return 200, user(BOT_ID, "peerbot", bot=True)
            case "GET", ["oauth2", "applications", "@me"]:
                return 200, {"id": APP_ID, "name": "peerbot", "description": "", "icon": None,
                             "bot_public": False, "bot_require_code_grant": False, "verify_key": "0" * 64,
                             "owner": user(MODERATOR, "mod"), "flags": 0, "summary": ""}
            case "GET", ["gateway"]:
                return 200, {"url": self.gateway_url}
            case "GET", ["gateway", "bot"]:
                return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": {
                    "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}
            case "PUT", ["applications", _, *_]:
                return 200, [{**c, "id": self.new_id(), "application_id": APP_ID, "version": "1",
                              "default_member_permissions": None, "type": 1} for c in r.body]
            case "POST", ["users", "@me", "channels"]:
                recipient = str(r.body["recipient_id"])
                channel_id = next((c for c, u in self.dm_channels.items() if u == recipient), None)
                if channel_id is None:
                    channel_id = self.new_id()
                    self.dm_channels[channel_id] = recipient
                return 200, {"id": channel_id, "type": 1, "last_message_id": None,
                             "recipients": [user(recipient, NAMES.get(recipient, "someone"))]}
            case "GET", ["guilds", _, "members", user_id]:
                return 200, member(user_id)
            case "GET", ["users", user_id]:
                return 200, user(user_id, NAMES.get(user_id, "someone"))
            case "POST", ["channels", channel_id, "messages"]:
                if self.dm_channels.get(channel_id) in self.closed_dms:
                    return 403, {"message": "Cannot send messages to this user", "code": 50007}
                if channel_id not in self.dm_channels and channel_id not in self.threads and channel_id not in (
                        MOD_CHANNEL, GROUP_CHANNEL, GENERAL_CHANNEL):
                    return 404, {"message": "Unknown Channel", "code": 10003}
                return 200, self._store(channel_id, r.body)
            case "PATCH", ["channels", channel_id, "messages", message_id]:
                stored = self.messages.get(message_id)
                if stored is None or stored["channel_id"] != channel_id:
                    return 404, {"message": "Unknown Message", "code": 10008}
                stored.update({k: v for k, v in r.body.items() if k in ("content", "components")})
                return 200, stored
            case "DELETE", ["channels", channel_id, "messages", message_id]:
                if self.messages.get(message_id, {}).get("channel_id") != channel_id:
                    return 404, {"message": "Unknown Message", "code": 10008}
                self.messages.pop(message_id)
                return 204, None
            case "POST", ["channels", channel_id, "messages", message_id, "threads"]:
                if message_id in self.threads:
                    return 400, {"message": "A thread has already been created for this message", "code": 160004}
                self.threads.add(message_id)  # a thread's id is its starter message's
                return 201, {"id": message_id, "type": 11, "guild_id": GUILD_ID, "parent_id": channel_id,
                             "name": r.body.get("name", ""), "owner_id": BOT_ID, "message_count": 0,
                             "member_count": 0, "rate_limit_per_user": 0, "thread_metadata": {
                                 "archived": False, "auto_archive_duration": 1440,
                                 "archive_timestamp": TIMESTAMP, "locked": False}}
            case "POST", ["interactions", interaction_id, _, "callback"]:
                kind = r.body["type"]
                data = r.body.get("data") or {}
                answer: dict[str, Any] = {"interaction": {
                    "id": interaction_id, "type": 2, "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(data.get("flags", 0) & 64)}}
                if kind in (4, 5):
                    message = self._store(self._channel_of(interaction_id), data)
                    answer["interaction"]["response_message_id"] = message["id"]
                    answer["resource"] = {"type": kind, "message": message}
                return 200, answer
            case ("GET" | "POST"), ["channels", _, "webhooks"] if self.forbid_webhooks:
                return 403, {"message": "Missing Permissions", "code": 50013}
            case "GET", ["channels", channel_id, "webhooks"]:
                return 200, [h for h in self.webhooks.values() if h["channel_id"] == channel_id]
            case "POST", ["channels", channel_id, "webhooks"]:
                hook = {"id": self.new_id(), "type": 1, "guild_id": GUILD_ID, "channel_id": channel_id,
                        "name": r.body["name"], "avatar": None, "token": f"hook-{self.new_id()}",
                        "application_id": APP_ID, "user": user(BOT_ID, "peerbot", bot=True)}
                self.webhooks[hook["id"]] = hook
                return 200, hook
            case "GET", ["channels", channel_id]:
                if channel_id in self.threads:
                    return 200, {"id": channel_id, "type": 11, "guild_id": GUILD_ID,
                                 "parent_id": self._parent(channel_id), "name": "Replies"}
                return 200, text_channel(channel_id, "channel")
            case "POST", ["webhooks", hook_id, token] if hook_id in self.webhooks:
                channel_id = r.query.get("thread_id") or self.webhooks[hook_id]["channel_id"]
                if r.query.get("thread_id") and channel_id not in self.threads:
                    return 404, {"message": "Unknown Channel", "code": 10003}
                message = self._store(channel_id, r.body)
                message["author"] = {**user(hook_id, r.body.get("username") or "hook", bot=True)}
                message["webhook_id"] = hook_id
                return 200, message
            case "DELETE", ["webhooks", hook_id, _, "messages", message_id] if hook_id in self.webhooks:
                stored = self.messages.get(message_id)
                if stored is None or stored.get("webhook_id") != hook_id or stored["channel_id"] != (
                        r.query.get("thread_id") or self.webhooks[hook_id]["channel_id"]):
                    return 404, {"message": "Unknown Message", "code": 10008}
                del self.messages[message_id]
                return 204, None
            case "POST", ["webhooks", hook_id, _] if hook_id != APP_ID:
                return 404, {"message": "Unknown Webhook", "code": 10015}  # deleted by someone
            case "POST", ["webhooks", _, token]:
                return 200, self._store(self._channel_of(token), r.body)
            case "PATCH", ["webhooks", _, token, "messages", message_id]:
                stored = self.messages.setdefault(message_id, self._message(self._channel_of(token), {}, message_id))
                stored.update({k: v for k, v in r.body.items() if k in ("content", "components")})
                return 200, stored
            case "DELETE", ["webhooks", _, _, "messages", message_id]:
                self.messages.pop(message_id, None)
                return 204, None
        return 404, {"message": f"fake Discord has no route {r.method} {r.path}", "code": 0}

    def _parent(self, thread_id: str) -> str:
        return str(self.messages.get(thread_id, {}).get("channel_id", GROUP_CHANNEL))

    def _channel_of(self, interaction: str) -> str:
        return str(self.interactions.get(interaction, {}).get("channel_id", GENERAL_CHANNEL))

    def _message(self, channel_id: str, body: dict[str, Any], message_id: str) -> dict[str, Any]:
        return {
            "id": message_id, "channel_id": channel_id, "author": user(BOT_ID, "peerbot", bot=True),
            "content": body.get("content") or "", "timestamp": TIMESTAMP, "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": [], "pinned": False, "type": 0, "flags": body.get("flags", 0),
            "components": body.get("components") or [],
        }

    def _store(self, channel_id: str, body: dict[str, Any]) -> dict[str, Any]:
        message = self._message(channel_id, body, self.new_id())
        self.messages[message["id"]] = message
        return message


def custom_id_of(message: dict[str, Any], label: str) -> str:
    """The custom_id of the button labelled `label` in a message payload."""
    for row in message.get("components") or []:
        for component in row.get("components", []):
            if component.get("label") == label:
                return str(component["custom_id"])
    labels = [c.get("label") for row in message.get("components") or [] for c in row.get("components", [])]
    raise AssertionError(f"no button {label!r} among {labels}")
