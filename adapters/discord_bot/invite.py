"""The OAuth2 URL that adds the bot to a server with exactly the permissions it uses, and no more."""

from __future__ import annotations

import base64
import binascii

import discord

SCOPES = ("bot", "applications.commands")


def permissions(webhooks: bool = False) -> discord.Permissions:
    """See channels, send (also in threads), open threads for replies to anonymous posts, read the history it
    replies in, and attach export files; with `webhooks`, manage webhooks to post under pseudonyms. No
    administrator, no Mention Everyone (make the moderator role mentionable instead), no message management."""
    return discord.Permissions(
        view_channel=True, send_messages=True, send_messages_in_threads=True, create_public_threads=True,
        read_message_history=True, attach_files=True, manage_webhooks=webhooks,
    )


def application_id_from_token(token: str) -> str | None:
    """A bot token starts with its user id (which is the application id) in base64."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=False).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if decoded.isdigit() else None


def invite_url(application_id: str, webhooks: bool = False) -> str:
    return discord.utils.oauth_url(int(application_id), permissions=permissions(webhooks), scopes=SCOPES)
