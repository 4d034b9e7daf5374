"""Inbound translation: Slack payloads (Events API, slash commands, interactivity) become `bot.events` objects.

Pure functions of the payload and the time; `Malformed` for a payload missing what the translation needs (the
caller logs it, without text, and skips it). Events the bot does not handle translate to None.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from adapters.slack.blocks import HOME_PREFIX, MODAL_CALLBACK, decode_action, read_modal, unescape
from bot.events import (
    ActionInvoked,
    CommandInvoked,
    ConversationRef,
    FormSubmitted,
    MemberJoined,
    MessageReceived,
    MessageRef,
    UserRef,
)

PLATFORM = "slack"

# Message subtypes that are a person writing (a `/me` message too); deletions, joins, bot posts etc. are not.
PERSON_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})
# An edit: the new message is in `event["message"]`, the one before in `event["previous_message"]`. It is read
# (and screened) like a new message, or "rough day" edited into crisis words would pass unseen.
EDITED = "message_changed"


class Malformed(ValueError):
    """A payload without the fields its type must have."""


def _str(data: Any, key: str) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise Malformed(f"missing {key}")
    return value


def team_of(body: dict[str, Any]) -> str:
    """The workspace id, wherever this payload type keeps it."""
    for candidate in (body.get("team_id"), (body.get("team") or {}).get("id"), (body.get("user") or {}).get("team_id"),
                      (body.get("event") or {}).get("team")):
        if isinstance(candidate, str) and candidate:
            return candidate
    raise Malformed("missing team")


def conversation_for(workspace: str, channel_id: str, thread_ts: str | None = None) -> ConversationRef:
    # Slack's DM channel ids start with "D"; public "C" and private "G" channels are channels.
    kind = "dm" if channel_id.startswith("D") else "channel"
    thread = thread_ts if kind == "channel" else None
    return ConversationRef(PLATFORM, workspace, channel_id, kind=kind, thread_id=thread)


# Slack's link markup, `<https://x.org|label>` or `<mailto:a@b.org>`: a scheme first, so never a mention
# (`<@U1>`), a channel (`<#C1|x>`) or a broadcast (`<!here>`), which all start with a sigil.
_LINK = re.compile(r"<(?P<url>[A-Za-z][A-Za-z0-9+.-]*:[^<>|]*)(?:\|(?P<label>[^<>]*))?>")
_AUTOLINK_SCHEMES = ("http://", "https://", "mailto:")


def _plain_link(match: re.Match[str]) -> str:
    url, label = match["url"], (match["label"] or "").strip()
    if not label or label == url:
        return url
    if url.lower() in (scheme + label.lower() for scheme in _AUTOLINK_SCHEMES):
        return label  # Slack linked what the person typed (`example.org`, an email address): keep it as typed
    return f"{label} ({url})"  # a link with its own text: the address stays visible


def typed_text(text: str) -> str:
    """What the person typed: links as plain text, then Slack's escaping undone once. Only link markup is
    unwrapped (its parts never contain `<` or `>`), so mention markup is exactly what it would be without."""
    return unescape(_LINK.sub(_plain_link, text))


def message_event(body: dict[str, Any], now: datetime, bot_user_id: str | None) -> MessageReceived | None:
    """`message` (message.im, message.channels, message.groups): a person's new or edited message, else None."""
    event = body.get("event")
    if not isinstance(event, dict):
        raise Malformed("missing event")
    if event.get("subtype") == EDITED:
        return _edited(body, event, now, bot_user_id)
    return _person_message(body, None, event, now, bot_user_id, None)


def _edited(body: dict[str, Any], event: dict[str, Any], now: datetime,
            bot_user_id: str | None) -> MessageReceived | None:
    """`message_changed` by a person with new text. A change that leaves the text as it was (a link unfurled, a
    reply counted in a thread, a reaction) is None, and so is a deleted thread parent (a `tombstone`)."""
    edited = event.get("message")
    if not isinstance(edited, dict):
        raise Malformed("missing message")
    previous = event.get("previous_message")
    if isinstance(previous, dict) and previous.get("text") == edited.get("text"):
        return None
    channel = _str(event, "channel")
    # The same edit keeps its id however often Slack delivers it; each further edit has its own `edited.ts`.
    edit = edited.get("edited")
    stamp = edit.get("ts") if isinstance(edit, dict) else None
    event_id = (f"edit:{channel}:{_str(edited, 'ts')}:{stamp}" if isinstance(stamp, str) and stamp
                else _str(body, "event_id"))
    return _person_message(body, channel, edited, now, bot_user_id, event_id, edited=True)


def _person_message(body: dict[str, Any], channel: str | None, message: dict[str, Any], now: datetime,
                    bot_user_id: str | None, event_id: str | None, edited: bool = False) -> MessageReceived | None:
    if message.get("subtype") not in PERSON_SUBTYPES or message.get("bot_id") or message.get("bot_profile"):
        return None
    user_id = _str(message, "user")
    if user_id == bot_user_id:
        return None
    channel = channel or _str(message, "channel")
    text = message.get("text", "")
    if not isinstance(text, str):
        raise Malformed("text is not a string")
    if not text.strip():
        return None  # a file without a caption: nothing to read or screen
    workspace = team_of(body)
    thread = message.get("thread_ts") if isinstance(message.get("thread_ts"), str) else None
    return MessageReceived(UserRef(PLATFORM, workspace, user_id), conversation_for(workspace, channel, thread),
                           typed_text(text), now, event_id=event_id or _str(body, "event_id"), edited=edited)


def member_joined_event(body: dict[str, Any], now: datetime, bot_user_id: str | None) -> MemberJoined | None:
    """`member_joined_channel` (a group channel) and `team_join` (the workspace)."""
    event = body.get("event")
    if not isinstance(event, dict):
        raise Malformed("missing event")
    workspace = team_of(body)
    if event.get("type") == "team_join":
        user = event.get("user")
        user_id = _str(user, "id") if isinstance(user, dict) else _str(event, "user")
        if isinstance(user, dict) and (user.get("is_bot") or user.get("is_app_user")):
            return None
        conversation = None
    else:
        user_id = _str(event, "user")
        conversation = conversation_for(workspace, _str(event, "channel"))
    if user_id == bot_user_id:
        return None
    return MemberJoined(UserRef(PLATFORM, workspace, user_id), conversation, now, event_id=_str(body, "event_id"))


def command_event(body: dict[str, Any], now: datetime) -> CommandInvoked:
    """`/peer <text>`: the text as typed (Slack sends it form-encoded, with its usual escaping)."""
    workspace = team_of(body)
    text = body.get("text", "")
    if not isinstance(text, str):
        raise Malformed("text is not a string")
    return CommandInvoked(UserRef(PLATFORM, workspace, _str(body, "user_id")),
                          conversation_for(workspace, _str(body, "channel_id")), typed_text(text).strip(), now,
                          event_id=_str(body, "trigger_id"), interaction=_str(body, "trigger_id"))


def action_events(body: dict[str, Any], now: datetime, home_channel: str | None = None,
                  ) -> list[ActionInvoked | CommandInvoked]:
    """`block_actions`: one event per pressed button or chosen option of ours (Slack sends one per payload).
    App Home buttons become the typed command they stand for, in the person's DM (`home_channel`)."""
    workspace = team_of(body)
    user_id = _str(body.get("user"), "id")
    user = UserRef(PLATFORM, workspace, user_id)
    actions = body.get("actions")
    if not isinstance(actions, list):
        raise Malformed("missing actions")
    container = body.get("container") or {}
    channel_id = (body.get("channel") or {}).get("id") or container.get("channel_id")
    message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    trigger = _str(body, "trigger_id")
    events: list[ActionInvoked | CommandInvoked] = []
    for index, action in enumerate(actions):
        decoded = decode_action(action) if isinstance(action, dict) else None
        if decoded is None:
            continue
        name, value, label = decoded
        event_id = trigger if index == 0 else f"{trigger}:{index}"
        if name == HOME_PREFIX:
            dm = channel_id or home_channel
            if not isinstance(dm, str) or not dm:
                raise Malformed("no DM channel for an App Home button")
            events.append(CommandInvoked(user, conversation_for(workspace, dm), value, now, event_id=event_id,
                                         interaction=trigger))
            continue
        if not isinstance(channel_id, str) or not channel_id:
            raise Malformed("missing channel")
        ref = (MessageRef(PLATFORM, workspace, channel_id, message_ts)
               if isinstance(message_ts, str) and message_ts else None)
        events.append(ActionInvoked(user, conversation_for(workspace, channel_id), name, value, now, message=ref,
                                    label=label, event_id=event_id, interaction=trigger))
    return events


def form_event(body: dict[str, Any], now: datetime) -> FormSubmitted | None:
    """`view_submission` of one of our modals: the values per field, the form's action and value."""
    view = body.get("view")
    if not isinstance(view, dict):
        raise Malformed("missing view")
    if view.get("callback_id") != MODAL_CALLBACK:
        return None
    workspace = team_of(body)
    user_id = _str(body.get("user"), "id")
    action, value, fields = read_modal(view)
    submission = body.get("trigger_id") or f"{_str(view, 'id')}:{view.get('hash', '')}"
    return FormSubmitted(UserRef(PLATFORM, workspace, user_id), None, action, value, fields, now,
                         event_id=f"view:{submission}")
