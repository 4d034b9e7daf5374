"""Members' data rights and retention: `/peer export` (their own data as JSON), `/peer forget` (everything deleted
for good after a confirmation), and the daily purge of what is older than `[privacy] retention_days`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.commands import Command
from bot.events import ActionInvoked, Choice, OutboundMessage
from bot.router import Context
from bot.store import Member, Transaction

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

# Features add their own sections to an export (check-ins, pairings, ...): name -> (tx, member) -> JSON value.
Exporter = Callable[[Transaction, Member], Awaitable[Any]]

FORGET_CONFIRM = ("This deletes everything peerbot stores about you, for good: your profile, pseudonyms, which "
                  "anonymous posts are yours, check-ins and pairings. Posts already published stay up, but nothing "
                  "links them to you any more. It cannot be undone. Are you sure?")
FORGOTTEN = ("Done. Everything peerbot stored about you is deleted, and messages waiting to be sent to you are "
             "cancelled. Records of safety alerts keep only what our retention policy requires, without your "
             "identity. You can join again any time with `/peer join`; you would start fresh.")
KEPT = "Nothing was deleted."
NOTHING_STORED = "peerbot stores no profile for you (you haven't joined), so there is nothing to export."


class DataRights:
    def __init__(self, app: App) -> None:
        self.app = app
        self.exporters: dict[str, Exporter] = {}
        # Features that must tidy up before a member is forgotten (e.g. tell a mentor their mentee left).
        self.before_forget: list[Callable[[Context, Member], Awaitable[None]]] = []

    def install(self) -> None:
        router = self.app.router
        router.command("export", self.export)
        router.command("forget", self.forget)
        router.action("forget.confirm", self._confirm)
        router.tick("privacy.retention", timedelta(days=1), self.purge_expired)
        self.exporters["pseudonyms"] = _pseudonyms
        self.exporters["group_posts"] = _posts

    async def export(self, ctx: Context, command: Command) -> None:
        member = await ctx.tx.members.by_user(ctx.user)
        if member is None:
            ctx.reply(NOTHING_STORED + "\n" + self.app.texts.crisis_footer)
            return
        data: dict[str, Any] = {
            "exported_at": ctx.now.isoformat(),
            "profile": {
                "pseudonym": member.pseudonym, "role": member.role, "topics": list(member.topics),
                "language": member.language, "timezone": member.timezone, "checkin_preference": member.checkin_pref,
                "muted": member.muted, "joined_at": member.joined_at.isoformat(),
            },
            "identities": [{"platform": u.platform, "workspace": u.workspace, "user_id": u.user_id}
                           for u in await ctx.tx.members.identities(member.id)],
        }
        for name, exporter in self.exporters.items():
            data[name] = await exporter(ctx.tx, member)
        document = json.dumps(data, indent=2, ensure_ascii=False)
        ctx.dm(ctx.user, OutboundMessage("Here is everything peerbot stores about you.",
                                         attachment_name="peerbot-export.json", attachment=document))
        if ctx.conversation is not None and ctx.conversation.kind == "channel":
            ctx.reply("I've sent your data to you in a direct message.")

    async def forget(self, ctx: Context, command: Command) -> None:
        ctx.reply(FORGET_CONFIRM, (Choice("Delete everything", "forget.confirm", "yes", "danger"),
                                   Choice("Keep my data", "forget.confirm", "no")))

    async def _confirm(self, ctx: Context, event: ActionInvoked) -> None:
        if event.value != "yes":
            ctx.reply(KEPT)
            return
        member = await ctx.tx.members.by_user(ctx.user)
        if member is not None:
            for tidy in self.before_forget:
                await tidy(ctx, member)
        await ctx.tx.members.forget_user(ctx.user, ctx.now)
        log.info("a person was forgotten")
        ctx.reply(FORGOTTEN + "\n" + self.app.texts.crisis_footer)

    async def purge_expired(self, now: datetime) -> None:
        before = now - timedelta(days=self.app.settings.privacy.retention_days)
        async with self.app.work(f"retention:{now.date().isoformat()}", now=now) as ctx:
            counts = await ctx.tx.retention.purge(before)
        log.info("retention purge", extra=counts)


async def _pseudonyms(tx: Transaction, member: Member) -> list[dict[str, str | None]]:
    return [{"pseudonym": name, "from": start.isoformat(), "until": end.isoformat() if end else None}
            for name, start, end in await tx.members.pseudonym_history(member.id)]


async def _posts(tx: Transaction, member: Member) -> list[dict[str, Any]]:
    return [{"id": p.public_id, "group": p.topic, "pseudonym": p.pseudonym, "reply": p.parent_id is not None,
             "created_at": p.created_at.isoformat(),
             "removed_at": p.removed_at.isoformat() if p.removed_at else None, "text": p.text}
            for p in await tx.posts.by_member(member.id)]
