"""Anonymous group channels: members post and reply under their pseudonym, the bot publishes; moderators remove
posts, mute pseudonyms without learning who is behind them, and reveal an identity only with an audited reason.

What is published never carries a live mention or (unless allowed) a link; the post -> member mapping is the
only thing kept, unless `[groups] keep_text` asks for the text too.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.commands import Command
from bot.config import slug
from bot.evaluation import week_of
from bot.events import ActionInvoked, Choice, ConversationRef, DeleteMessage, OutboundMessage, PostToChannel
from bot.mentions import neutralise
from bot.router import Context
from bot.store import GroupPost, Member, NewGroupPost, Priority

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

_LINK = re.compile(r"(https?://|www\.|<https?:|\b[\w-]+\.(com|org|net|io|ly|gg|me|co|uk|de|fr|info|app|link)\b)",
                   re.IGNORECASE)
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread


def published_text(pseudonym: str, public_id: str, text: str, reply: bool) -> str:
    head = f"**{pseudonym}** replied · {public_id}" if reply else f"**{pseudonym}** · post {public_id}"
    return f"{head}\n{neutralise(text)}"


class Groups:
    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings.groups
        self.topics = {slug(label): label for label in app.settings.community.topics}

    def install(self) -> None:
        router = self.app.router
        router.command("post", self.post)
        router.command("reply", self.reply)
        router.command("delete", self.delete)
        router.action("grp.reply", self._reply_button)
        router.action("grp.delete", self._delete_button)
        router.moderator_command("remove", self.mod_remove, "/peer mod remove <post-id> [reason]")
        router.moderator_command("mute", self.mod_mute, "/peer mod mute <pseudonym> [reason]")
        router.moderator_command("unmute", self.mod_unmute, "/peer mod unmute <pseudonym>")
        router.moderator_command("reveal", self.mod_reveal, "/peer mod reveal <pseudonym> <reason>")

    @property
    def footer(self) -> str:
        return self.app.texts.crisis_footer

    def channels(self, platform: str) -> dict[str, str]:
        return dict(getattr(self.settings, platform, {}) or {})

    def group_of_channel(self, conversation: ConversationRef) -> str | None:
        for topic, channel in self.channels(conversation.platform).items():
            if channel == conversation.channel_id:
                return topic
        return None

    # ------------------------------------------------------------ posting

    async def _poster(self, ctx: Context) -> Member | None:
        """The member allowed to post now, or None after telling the person why not."""
        member = await ctx.member_or_tell("Only members can post anonymously. Type `/peer join` to join (nothing is "
                                          "stored until you agree).\n" + self.footer)
        if member is None:
            return None
        if member.muted:
            ctx.reply("Your pseudonym is muted by the moderators, so you can't post in the groups for now. You can "
                      "still use `/peer profile`, check-ins and your DMs with me.\n" + self.footer)
            return None
        window = timedelta(minutes=self.settings.rate_limit_minutes)
        recent = await ctx.tx.posts.count_by_member_since(member.id, ctx.now - window)
        if recent >= self.settings.rate_limit_posts:
            ctx.reply(f"You've posted {recent} times in the last {self.settings.rate_limit_minutes} minutes. Please "
                      "give it a little while before posting again.\n" + self.footer)
            return None
        return member

    def _text_problem(self, text: str, usage: str) -> str | None:
        if not text.strip():
            return f"Usage: `{usage}`"
        if len(text) > self.settings.max_length:
            return (f"That is {len(text)} characters; the limit is {self.settings.max_length}. Please shorten it "
                    "(nothing was posted).")
        if not self.settings.allow_links and _LINK.search(text):
            return "Links aren't allowed in anonymous posts here. Please remove the link and post again."
        return None

    async def _new_public_id(self, ctx: Context) -> str:
        while True:
            candidate = "".join(secrets.choice(_ID_ALPHABET) for _ in range(4))
            if not await ctx.tx.posts.public_id_taken(candidate):
                return candidate

    async def post(self, ctx: Context, command: Command) -> None:
        group = slug(command.arg(0).lstrip("#"))
        text = command.rest(1)
        channels = self.channels(ctx.user.platform)
        if group not in channels:
            names = ", ".join(f"`{g}`" for g in channels) or "(none configured)"
            ctx.reply(f"Usage: `/peer post <group> <text>`. Groups here: {names}.")
            return
        if (problem := self._text_problem(text, "/peer post <group> <text>")) is not None:
            ctx.reply(problem)
            return
        if (member := await self._poster(ctx)) is None:
            return
        channel = ConversationRef(ctx.user.platform, ctx.user.workspace, channels[group])
        await self._publish(ctx, member, group, channel, text, parent=None)

    async def reply(self, ctx: Context, command: Command) -> None:
        parent = await ctx.tx.posts.get(command.arg(0).lstrip("#"))
        text = command.rest(1)
        if parent is None or parent.removed_at is not None or parent.platform != ctx.user.platform:
            ctx.reply("There is no post with that id. Usage: `/peer reply <post-id> <text>`.")
            return
        if (problem := self._text_problem(text, "/peer reply <post-id> <text>")) is not None:
            ctx.reply(problem)
            return
        if (member := await self._poster(ctx)) is None:
            return
        # Replies all live in the thread of the original post.
        root = parent if parent.parent_id is None else (await ctx.tx.posts.by_id(parent.parent_id) or parent)
        channel = ConversationRef(parent.platform, parent.workspace, parent.channel_id)
        await self._publish(ctx, member, parent.topic, channel, text, parent=root)

    async def _publish(self, ctx: Context, member: Member, group: str, channel: ConversationRef, text: str,
                       parent: GroupPost | None) -> None:
        public_id = await self._new_public_id(ctx)
        message = OutboundMessage(published_text(member.pseudonym, public_id, text, reply=parent is not None),
                                  (Choice("Reply", "grp.reply", public_id if parent is None else parent.public_id),),
                                  author_name=member.pseudonym)
        action = PostToChannel(channel, message, thread_of_key=parent.outbox_key if parent else None)
        key = f"post:{public_id}:{uuid.uuid4().hex[:12]}"  # never reused, even after a forget frees the id
        await ctx.tx.posts.add(NewGroupPost(
            public_id=public_id, member_id=member.id, pseudonym=member.pseudonym, topic=group,
            platform=channel.platform, workspace=channel.workspace, channel_id=channel.channel_id,
            parent_id=parent.id if parent else None, outbox_key=key,
            text=text if self.settings.keep_text else None,
        ), ctx.now)
        await ctx.tx.activity.record(member.id, week_of(ctx.now), "reply" if parent else "post")
        if ctx.held:
            # Crisis language: never published without a moderator. If no case could hold it (screening and
            # escalation both failed), it is not published at all; the moderators were alerted regardless.
            if self.app.safety is None or not await self.app.safety.hold(ctx, key, action):
                log.error("a held post had no case to wait in; not published", extra={"post": public_id})
            ctx.reply("Your post hasn't been published yet: a moderator will read it first. You're not in "
                      "trouble; we want to make sure you're okay.")
            return
        ctx.emit(action, Priority.NORMAL, key=key)
        kind = "Reply" if parent else "Post"
        ctx.reply(f"{kind} {public_id} published in `{group}` as {member.pseudonym}. "
                  f"Delete it any time with `/peer delete {public_id}`.",
                  (Choice("Delete", "grp.delete", public_id, "danger"),))
        log.info("anonymous post published", extra={"post": public_id, "group": group})

    async def _reply_button(self, ctx: Context, event: ActionInvoked) -> None:
        ctx.reply(f"To reply anonymously to post {event.value}, type `/peer reply {event.value} <your reply>`.")

    # ------------------------------------------------------------ deleting and removing

    async def delete(self, ctx: Context, command: Command) -> None:
        await self._delete_own(ctx, command.arg(0))

    async def _delete_button(self, ctx: Context, event: ActionInvoked) -> None:
        await self._delete_own(ctx, event.value)

    async def _delete_own(self, ctx: Context, public_id: str) -> None:
        post = await ctx.tx.posts.get(public_id.lstrip("#")) if public_id else None
        member = await ctx.tx.members.by_user(ctx.user)
        if post is None or member is None or post.member_id != member.id or post.removed_at is not None:
            ctx.reply("You have no post with that id. Usage: `/peer delete <post-id>`.")
            return
        await ctx.tx.posts.mark_removed(post.id, "author", ctx.now)
        ctx.emit(DeleteMessage(post.outbox_key), Priority.NORMAL, key=f"{post.outbox_key}:delete")
        ctx.reply(f"Post {post.public_id} is deleted.")

    async def mod_remove(self, ctx: Context, command: Command) -> None:
        post = await ctx.tx.posts.get(command.arg(0).lstrip("#")) if command.arg(0) else None
        if post is None or post.removed_at is not None:
            ctx.reply("There is no published post with that id. Usage: `/peer mod remove <post-id> [reason]`.")
            return
        reason = command.rest(1) or None
        await ctx.tx.posts.mark_removed(post.id, ctx.user.key, ctx.now)
        await ctx.tx.moderation.record("remove_post", ctx.user.key, post.public_id, reason, ctx.now)
        ctx.emit(DeleteMessage(post.outbox_key), Priority.NORMAL, key=f"{post.outbox_key}:delete")
        if post.member_id is not None:
            for identity in await ctx.tx.members.identities(post.member_id):
                ctx.dm(identity, OutboundMessage(
                    f"A moderator removed your post {post.public_id}" + (f": {reason}" if reason else ".")
                    + " If you'd like to talk about it, reply here."))
        ctx.reply(f"Post {post.public_id} removed.")

    # ------------------------------------------------------------ pseudonym moderation

    async def _target(self, ctx: Context, command: Command, usage: str) -> tuple[Member, str, str] | None:
        """The member behind a pseudonym typed with or without quotes, and the rest of the line."""
        for take in (1, 3, 2):
            name = " ".join(command.args[:take])
            if take > 1 and len(command.args) < take:
                continue
            member = await ctx.tx.members.by_pseudonym(name) if name else None
            if member is not None:
                return member, name, command.rest(take)
        ctx.reply(f"No member has that pseudonym. Usage: `{usage}`.")
        return None

    async def mod_mute(self, ctx: Context, command: Command) -> None:
        await self._set_muted(ctx, command, True, "/peer mod mute <pseudonym> [reason]")

    async def mod_unmute(self, ctx: Context, command: Command) -> None:
        await self._set_muted(ctx, command, False, "/peer mod unmute <pseudonym>")

    async def _set_muted(self, ctx: Context, command: Command, muted: bool, usage: str) -> None:
        found = await self._target(ctx, command, usage)
        if found is None:
            return
        member, name, reason = found
        await ctx.tx.members.update(member.id, muted=muted)
        action = "mute" if muted else "unmute"
        await ctx.tx.moderation.record(action, ctx.user.key, name, reason or None, ctx.now)
        ctx.to_moderators(OutboundMessage(f"{ctx.user.user_id} {action}d {name}" + (f": {reason}" if reason else ".")))

    async def mod_reveal(self, ctx: Context, command: Command) -> None:
        usage = "/peer mod reveal <pseudonym> <reason>"
        found = await self._target(ctx, command, usage)
        if found is None:
            return
        member, name, reason = found
        if not reason.strip():
            ctx.reply(f"A reason is required, and it is recorded. Usage: `{usage}`.")
            return
        await ctx.tx.moderation.record("reveal", ctx.user.key, name, reason, ctx.now)
        identities = await ctx.tx.members.identities(member.id)
        who = ", ".join(f"{u.platform} user {u.user_id} (workspace {u.workspace})" for u in identities)
        ctx.to_moderators(OutboundMessage(
            f"🔓 {ctx.user.user_id} revealed who is behind {name}. Reason: {reason}. This is recorded in the audit."),
            Priority.ALERT)
        ctx.reply(f"{name} is {who}. This reveal is recorded with your reason and announced to the moderators.",
                  priority=Priority.ALERT)
        log.warning("identity revealed by a moderator", extra={"moderator": ctx.user.key})
