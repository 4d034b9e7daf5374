"""A local stand-in for Slack (which cannot run here): a small Web API that records every call, plus helpers that
sign Events API, slash-command and interactivity requests with Slack's documented v0 scheme and press buttons
the bot posted, the way a person in Slack would.

`FakeSlack` answers on 127.0.0.1 on a free port: auth.test, conversations.open, chat.*, views.*, files uploads
(uploadV2), usergroups.users.list, users.info and apps.connections.open (with a Socket Mode websocket). It can fail
a method once (429 with Retry-After, or a Slack error).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TEAM = "T0PEER"
BOT_USER = "UBOT"
SECRET = "test-signing-secret"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    ok: bool = True
    response: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)  # when the fake received it

    @property
    def ts(self) -> str:
        """The ts Slack gave the message this call created."""
        return str(self.response.get("ts") or self.response.get("message_ts"))

    @property
    def text(self) -> str:
        """What a person sees: the section texts (or the fallback text)."""
        sections = [b["text"]["text"] for b in self.blocks if b.get("type") == "section"]
        return "\n".join(sections) if sections else str(self.args.get("text", self.args.get("initial_comment", "")))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        raw = self.args.get("blocks") or []
        return json.loads(raw) if isinstance(raw, str) else raw

    @property
    def labels(self) -> list[str]:
        found = []
        for element in elements_of(self.blocks):
            if element["type"] == "button":
                found.append(element["text"]["text"])
            else:
                found += [o["text"]["text"] for o in element.get("options", [])]
        return found


def elements_of(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b.get("type") == "actions" for e in b["elements"]]


@dataclass
class Failure:
    status: int = 200
    error: str = "ratelimited"
    retry_after: float | None = None


@dataclass
class Message:
    channel: str
    ts: str
    args: dict[str, Any]
    ephemeral_to: str | None = None


@dataclass
class FakeSlack:
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    timezones: dict[str, str] = field(default_factory=dict)
    missing_channels: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, Message] = field(default_factory=dict)  # by ts
    socket_acks: list[str] = field(default_factory=list)
    _failures: dict[str, list[Failure]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    url: str = ""

    async def __aenter__(self) -> FakeSlack:
        self._changed = asyncio.Condition()
        server = web.Application()
        server.router.add_route("*", "/api/{method}", self._api)
        server.router.add_post("/upload/{file}", self._upload)
        server.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/api/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test controls

    def fail_next(self, method: str, *, status: int = 200, error: str = "ratelimited",
                  retry_after: float | None = None) -> None:
        self._failures.setdefault(method, []).append(Failure(status, error, retry_after))

    def of(self, method: str, **match: Any) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.ok
                and all(c.args.get(k) == v for k, v in match.items())]

    def posts_to(self, channel: str) -> list[Call]:
        return self.of("chat.postMessage", channel=channel)

    def dms_to(self, user: str) -> list[Call]:
        return self.posts_to(dm_channel(user)) + self.of("chat.postEphemeral", user=user)

    async def wait_for(self, method: str, within: float = 30.0, **match: Any) -> Call:
        """The first successful call matching, waiting (on a condition, not a sleep) until it has been made."""
        assert self._changed is not None
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: bool(self.of(method, **match)))
        return self.of(method, **match)[0]

    def find_button(self, user: str, label: str, channel: str | None = None,
                    ) -> tuple[Message, dict[str, Any], dict[str, Any] | None]:
        """The newest message `user` can see (in `channel`, if given) with a button or select option labelled
        `label`: (message, element, option or None)."""
        for message in reversed(list(self.messages.values())):
            if not self._visible(message, user) or (channel is not None and message.channel != channel):
                continue
            for element in elements_of(Call("", message.args).blocks):
                if element["type"] == "button" and element["text"]["text"] == label:
                    return message, element, None
                for option in element.get("options", []):
                    if option["text"]["text"] == label:
                        return message, element, option
        raise AssertionError(f"{user} sees no button {label!r}")

    def newest_with_buttons(self, user: str, channel: str | None = None) -> Message | None:
        """The newest message `user` can see (in `channel`, if given) that has buttons or a select."""
        for message in reversed(list(self.messages.values())):
            if channel is not None and message.channel != channel:
                continue
            if self._visible(message, user) and elements_of(Call("", message.args).blocks):
                return message
        return None

    def _visible(self, message: Message, user: str) -> bool:
        if message.ephemeral_to:
            return message.ephemeral_to == user
        return not message.channel.startswith("D") or message.channel == dm_channel(user)

    # -- the Web API

    async def _record(self, call: Call) -> None:
        assert self._changed is not None
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.method != "POST":
            args: dict[str, Any] = {}
        elif request.content_type == "application/json":
            args = await request.json()
        else:
            args = dict(await request.post())
        args.update(request.query)
        failures = self._failures.get(method)
        if failures:
            failure = failures.pop(0)
            await self._record(Call(method, args, ok=False))
            headers = {"Retry-After": str(int(failure.retry_after))} if failure.retry_after is not None else {}
            return web.json_response({"ok": False, "error": failure.error}, status=failure.status, headers=headers)
        channel = str(args.get("channel", ""))
        if channel in self.missing_channels:
            await self._record(Call(method, args, ok=False))
            return web.json_response({"ok": False, "error": "channel_not_found"})
        answer = self._answer(method, args, request)
        await self._record(Call(method, args, ok=bool(answer.get("ok")), response=answer))
        return web.json_response(answer)

    def _ts(self) -> str:
        return f"1700000000.{next(self._seq):06d}"

    def _answer(self, method: str, args: dict[str, Any], request: web.Request) -> dict[str, Any]:
        ok: dict[str, Any] = {"ok": True}
        match method:
            case "auth.test":
                return {**ok, "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B0BOT", "team": "Peers"}
            case "conversations.open":
                return {**ok, "channel": {"id": dm_channel(str(args["users"]))}}
            case "chat.postMessage":
                ts = self._ts()
                self.messages[ts] = Message(str(args["channel"]), ts, args)
                return {**ok, "channel": args["channel"], "ts": ts}
            case "chat.postEphemeral":
                ts = self._ts()
                self.messages[ts] = Message(str(args["channel"]), ts, args, ephemeral_to=str(args["user"]))
                return {**ok, "message_ts": ts}
            case "chat.update":
                message = self.messages.get(str(args["ts"]))
                if message is None:
                    return {"ok": False, "error": "message_not_found"}
                message.args = args
                return {**ok, "channel": args["channel"], "ts": args["ts"]}
            case "chat.delete":
                return ok if self.messages.pop(str(args["ts"]), None) else {"ok": False, "error": "message_not_found"}
            case "views.open" | "views.publish":
                return {**ok, "view": {"id": f"V{next(self._seq)}"}}
            case "files.getUploadURLExternal":
                file_id = f"F{next(self._seq)}"
                return {**ok, "upload_url": f"{self.url.removesuffix('/api/')}/upload/{file_id}", "file_id": file_id}
            case "files.completeUploadExternal":
                files = json.loads(args["files"]) if isinstance(args.get("files"), str) else args.get("files", [])
                return {**ok, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
            case "usergroups.users.list":
                return {**ok, "users": self.usergroups.get(str(args.get("usergroup")), [])}
            case "users.info":
                user = str(args["user"])
                return {**ok, "user": {"id": user, "tz": self.timezones.get(user, "Europe/London"),
                                       "profile": {"display_name": user.lower()}}}
            case "apps.connections.open":
                host = request.host
                return {**ok, "url": f"ws://{host}/socket"}
        return {"ok": False, "error": "unknown_method"}

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        await self._record(Call("upload", {"file": request.match_info["file"], "content": body.decode("utf-8")}))
        return web.Response(text="OK")

    # -- Socket Mode

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0PEER"}})
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if "envelope_id" in data:
                    assert self._changed is not None
                    async with self._changed:
                        self.socket_acks.append(data["envelope_id"])
                        self._changed.notify_all()
        return ws

    async def push(self, kind: str, payload: dict[str, Any], envelope_id: str) -> None:
        """Deliver one envelope over Socket Mode, as Slack does, and wait for the app's acknowledgement."""
        assert self._changed is not None
        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: bool(self._sockets))
        await self._sockets[-1].send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                           "accepts_response_payload": kind != "events_api"})
        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: envelope_id in self.socket_acks)


def dm_channel(user: str) -> str:
    return f"D{user}"


# ---------------------------------------------------------------- what Slack sends to the app


def sign(body: str, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature: HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


_ids = itertools.count(1)


def event_body(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {"token": "legacy", "team_id": TEAM, "api_app_id": "A0PEER", "type": "event_callback",
            "event_id": event_id or f"Ev{next(_ids):08d}", "event_time": int(time.time()), "event": event}


def dm_event(user: str, text: str, event_id: str | None = None) -> dict[str, Any]:
    return event_body({"type": "message", "channel_type": "im", "channel": dm_channel(user), "user": user,
                       "text": text, "ts": f"{time.time():.6f}"}, event_id)


def channel_event(user: str, channel: str, text: str) -> dict[str, Any]:
    return event_body({"type": "message", "channel_type": "channel", "channel": channel, "user": user,
                       "text": text, "ts": f"{time.time():.6f}"})


def edit_event(user: str, channel: str, before: str, after: str, *, ts: str = "1700000100.000100",
               edited_ts: str | None = "1700000160.000000", thread_ts: str | None = None,
               event_id: str | None = None, **message: Any) -> dict[str, Any]:
    """`message_changed`, as Slack sends it when `user`'s message `ts` in `channel` changed from `before` to
    `after` (an edit has `edited`; an unfurl or a thread reply count leaves the text and adds other fields)."""
    previous: dict[str, Any] = {"type": "message", "user": user, "text": before, "ts": ts}
    changed: dict[str, Any] = {**previous, "text": after, **message}
    if thread_ts is not None:
        previous["thread_ts"] = changed["thread_ts"] = thread_ts
    if edited_ts is not None:
        changed["edited"] = {"user": user, "ts": edited_ts}
    kind = "im" if channel.startswith("D") else "channel"
    now = f"{time.time():.6f}"
    return event_body({"type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
                       "channel_type": kind, "ts": now, "event_ts": now, "message": changed,
                       "previous_message": previous}, event_id)


def command_form(user: str, text: str, channel: str | None = None) -> dict[str, str]:
    return {"token": "legacy", "team_id": TEAM, "team_domain": "peers", "channel_id": channel or dm_channel(user),
            "channel_name": "directmessage", "user_id": user, "user_name": user.lower(), "command": "/peer",
            "text": text, "api_app_id": "A0PEER", "response_url": "https://hooks.invalid/commands/1",
            "trigger_id": f"{next(_ids)}.{int(time.time())}.abc"}


def press_payload(user: str, message: Message, element: dict[str, Any],
                  option: dict[str, Any] | None) -> dict[str, Any]:
    action: dict[str, Any] = {"action_id": element["action_id"], "block_id": "b1", "type": element["type"],
                              "action_ts": f"{time.time():.6f}"}
    if option is not None:
        action["selected_option"] = option
    else:
        action.update(text=element["text"], value=element.get("value", ""))
    container: dict[str, Any] = {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                                 "is_ephemeral": message.ephemeral_to is not None}
    return {"type": "block_actions", "team": {"id": TEAM, "domain": "peers"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM}, "api_app_id": "A0PEER",
            "token": "legacy", "container": container, "trigger_id": f"{next(_ids)}.{int(time.time())}.xyz",
            "channel": {"id": message.channel, "name": "x"}, "message": {"ts": message.ts, "text": ""},
            "response_url": "https://hooks.invalid/actions/1", "actions": [action]}


def submission_payload(user: str, view: dict[str, Any], answers: dict[str, str | list[str]]) -> dict[str, Any]:
    """`view_submission` of a modal the bot opened, with `answers` by block (field) name: a string for a text
    input or a select's option value, a list for a multi-select."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] != "input" or block["block_id"] not in answers:
            continue
        element, answer = block["element"], answers[block["block_id"]]
        options = {o["value"]: o for o in element.get("options", [])}
        if element["type"] == "plain_text_input":
            state: dict[str, Any] = {"type": "plain_text_input", "value": answer}
        elif element["type"] == "static_select":
            state = {"type": "static_select", "selected_option": options[str(answer)]}
        else:
            state = {"type": "multi_static_select", "selected_options": [options[a] for a in answer]}
        values[block["block_id"]] = {element["action_id"]: state}
    submitted = {**view, "id": f"V{next(_ids)}", "hash": "h1", "state": {"values": values}}
    return {"type": "view_submission", "team": {"id": TEAM, "domain": "peers"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM}, "api_app_id": "A0PEER",
            "token": "legacy", "trigger_id": f"{next(_ids)}.{int(time.time())}.sub", "view": submitted}


class SlackClient:
    """Sends signed requests to the app's `/slack/events`, as Slack's servers do."""

    def __init__(self, url: str, secret: str = SECRET) -> None:
        self.url = url
        self.secret = secret
        self.session = aiohttp.ClientSession()
        self.last_trigger = ""  # the trigger_id of the latest press (a form opened in answer must use it)

    async def close(self) -> None:
        await self.session.close()

    async def post(self, body: str, content_type: str, headers: dict[str, str] | None = None,
                   secret: str | None = None) -> int:
        all_headers = {"Content-Type": content_type, **sign(body, secret or self.secret), **(headers or {})}
        async with self.session.post(self.url, data=body.encode(), headers=all_headers) as response:
            await response.read()
            return response.status

    async def event(self, body: dict[str, Any], retry_num: int | None = None, secret: str | None = None) -> int:
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return await self.post(json.dumps(body), "application/json", headers, secret)

    async def command(self, user: str, text: str, channel: str | None = None) -> int:
        return await self.post(urllib.parse.urlencode(command_form(user, text, channel)),
                               "application/x-www-form-urlencoded")

    async def interact(self, payload: dict[str, Any]) -> int:
        return await self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}),
                               "application/x-www-form-urlencoded")

    async def press(self, fake: FakeSlack, user: str, label: str, channel: str | None = None) -> int:
        payload = press_payload(user, *fake.find_button(user, label, channel))
        self.last_trigger = payload["trigger_id"]
        return await self.interact(payload)

    async def submit(self, user: str, view: dict[str, Any], answers: dict[str, str | list[str]]) -> int:
        return await self.interact(submission_payload(user, view, answers))
