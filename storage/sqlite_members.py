"""SQLite tables of members, pseudonyms, anonymous group posts, the moderation audit, forgetting and retention.

Methods run inside a store transaction (the caller holds the write lock).
"""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from bot.events import UserRef
from bot.store import MEMBER_FIELDS, GroupPost, Member, ModerationEntry, NewGroupPost
from storage.timefmt import opt_ts, parse_ts, ts

_MEMBER = "id, pseudonym, role, topics, language, timezone, checkin_pref, onboarding_step, muted, joined_at"
_POST = ("id, public_id, member_id, pseudonym, topic, platform, workspace, channel_id, parent_id, outbox_key, text,"
         " created_at, removed_at")
FORGOTTEN_LABEL = "a member who has since been forgotten"


def _member(row: aiosqlite.Row | tuple[object, ...]) -> Member:
    mid, pseudonym, role, topics, language, timezone, pref, step, muted, joined = row
    return Member(
        id=int(str(mid)), pseudonym=str(pseudonym), role=None if role is None else str(role),
        topics=tuple(t for t in str(topics).split(",") if t), language=None if language is None else str(language),
        timezone=None if timezone is None else str(timezone), checkin_pref=None if pref is None else str(pref),
        onboarding_step=str(step), muted=bool(muted), joined_at=parse_ts(str(joined)),
    )


def _post(row: aiosqlite.Row | tuple[object, ...]) -> GroupPost:
    pid, public, member, pseudonym, topic, platform, workspace, channel, parent, key, text, created, removed = row
    return GroupPost(
        id=int(str(pid)), public_id=str(public), member_id=None if member is None else int(str(member)),
        pseudonym=str(pseudonym), topic=str(topic), platform=str(platform), workspace=str(workspace),
        channel_id=str(channel), parent_id=None if parent is None else int(str(parent)), outbox_key=str(key),
        text=None if text is None else str(text), created_at=parse_ts(str(created)), removed_at=opt_ts(removed),
    )


class Members:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def _one(self, sql: str, params: tuple[object, ...]) -> Member | None:
        async with self._db.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return _member(row) if row else None

    async def by_user(self, user: UserRef) -> Member | None:
        return await self._one(
            f"SELECT {_MEMBER} FROM members WHERE id = (SELECT member_id FROM member_identities"
            " WHERE platform = ? AND workspace = ? AND user_id = ?)",
            (user.platform, user.workspace, user.user_id),
        )

    async def get(self, member_id: int) -> Member | None:
        return await self._one(f"SELECT {_MEMBER} FROM members WHERE id = ?", (member_id,))

    async def by_pseudonym(self, pseudonym: str) -> Member | None:
        return await self._one(
            f"SELECT {_MEMBER} FROM members WHERE id ="
            " (SELECT member_id FROM pseudonyms WHERE pseudonym = ? COLLATE NOCASE)",
            (pseudonym.strip(),),
        )

    async def pseudonym_taken(self, pseudonym: str) -> bool:
        async with self._db.execute(
            "SELECT 1 FROM pseudonyms WHERE pseudonym = ? COLLATE NOCASE", (pseudonym,)
        ) as cursor:
            return await cursor.fetchone() is not None

    async def create(self, user: UserRef, pseudonym: str, consent_version: int, now: datetime) -> Member:
        cursor = await self._db.execute(
            "INSERT INTO members (pseudonym, consent_version, joined_at) VALUES (?, ?, ?)",
            (pseudonym, consent_version, ts(now)),
        )
        member_id = int(cursor.lastrowid or 0)
        await self._db.execute(
            "INSERT INTO member_identities (platform, workspace, user_id, member_id) VALUES (?, ?, ?, ?)",
            (user.platform, user.workspace, user.user_id, member_id),
        )
        await self._db.execute(
            "INSERT INTO pseudonyms (pseudonym, member_id, created_at) VALUES (?, ?, ?)",
            (pseudonym, member_id, ts(now)),
        )
        created = await self.get(member_id)
        assert created is not None
        return created

    async def update(self, member_id: int, **fields: object) -> None:
        unknown = set(fields) - MEMBER_FIELDS
        if unknown:
            raise ValueError(f"not member fields: {sorted(unknown)}")
        values = {k: (",".join(v) if isinstance(v, tuple) else int(v) if isinstance(v, bool) else v)
                  for k, v in fields.items()}
        assignments = ", ".join(f"{name} = ?" for name in values)
        await self._db.execute(f"UPDATE members SET {assignments} WHERE id = ?", (*values.values(), member_id))

    async def new_pseudonym(self, member_id: int, pseudonym: str, now: datetime) -> None:
        await self._db.execute(
            "UPDATE pseudonyms SET retired_at = ? WHERE member_id = ? AND retired_at IS NULL", (ts(now), member_id)
        )
        await self._db.execute(
            "INSERT INTO pseudonyms (pseudonym, member_id, created_at) VALUES (?, ?, ?)",
            (pseudonym, member_id, ts(now)),
        )
        await self._db.execute("UPDATE members SET pseudonym = ? WHERE id = ?", (pseudonym, member_id))

    async def pseudonym_history(self, member_id: int) -> list[tuple[str, datetime, datetime | None]]:
        async with self._db.execute(
            "SELECT pseudonym, created_at, retired_at FROM pseudonyms WHERE member_id = ? ORDER BY created_at",
            (member_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(str(r[0]), parse_ts(str(r[1])), opt_ts(r[2])) for r in rows]

    async def identities(self, member_id: int) -> list[UserRef]:
        async with self._db.execute(
            "SELECT platform, workspace, user_id FROM member_identities WHERE member_id = ?", (member_id,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [UserRef(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def forget_user(self, user: UserRef, now: datetime) -> None:
        member = await self.by_user(user)
        identities = await self.identities(member.id) if member else [user]
        for key in {u.key for u in identities} | {user.key}:
            await self._db.execute(
                "UPDATE outbox SET status = 'cancelled', payload = NULL, finished_at = ?"
                " WHERE recipient = ? AND status = 'pending'", (ts(now), key),
            )
            await self._db.execute("UPDATE outbox SET recipient = NULL, payload = NULL WHERE recipient = ?", (key,))
            await self._db.execute("DELETE FROM outreach WHERE subject_key = ?", (key,))
            # A forgotten moderator's decisions stay on record, without naming them.
            await self._db.execute("UPDATE mentors SET decided_by = ? WHERE decided_by = ?", (FORGOTTEN_ACTOR, key))
            await self._db.execute("UPDATE pairing_audit SET actor = ? WHERE actor = ?", (FORGOTTEN_ACTOR, key))
            await self._db.execute(
                "UPDATE escalations SET subject_key = NULL, subject_label = ?, excerpt = NULL, held_action = NULL"
                " WHERE subject_key = ?",
                (FORGOTTEN_LABEL, key),
            )
        if member is not None:
            await self._db.execute("DELETE FROM group_posts WHERE member_id = ?", (member.id,))
            await self._db.execute("DELETE FROM members WHERE id = ?", (member.id,))  # identities, pseudonyms cascade


FORGOTTEN_ACTOR = "a moderator who has since left"


class GroupPosts:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def add(self, post: NewGroupPost, now: datetime) -> GroupPost:
        cursor = await self._db.execute(
            "INSERT INTO group_posts (public_id, member_id, pseudonym, topic, platform, workspace, channel_id,"
            " parent_id, outbox_key, text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (post.public_id, post.member_id, post.pseudonym, post.topic, post.platform, post.workspace,
             post.channel_id, post.parent_id, post.outbox_key, post.text, ts(now)),
        )
        async with self._db.execute(f"SELECT {_POST} FROM group_posts WHERE id = ?", (cursor.lastrowid,)) as cur:
            row = await cur.fetchone()
        assert row is not None
        return _post(row)

    async def get(self, public_id: str) -> GroupPost | None:
        async with self._db.execute(
            f"SELECT {_POST} FROM group_posts WHERE public_id = ? COLLATE NOCASE", (public_id.strip(),)
        ) as cursor:
            row = await cursor.fetchone()
        return _post(row) if row else None

    async def by_id(self, post_id: int) -> GroupPost | None:
        async with self._db.execute(f"SELECT {_POST} FROM group_posts WHERE id = ?", (post_id,)) as cursor:
            row = await cursor.fetchone()
        return _post(row) if row else None

    async def public_id_taken(self, public_id: str) -> bool:
        return await self.get(public_id) is not None

    async def count_by_member_since(self, member_id: int, since: datetime) -> int:
        async with self._db.execute(
            "SELECT COUNT(*) FROM group_posts WHERE member_id = ? AND created_at >= ?", (member_id, ts(since))
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def mark_removed(self, post_id: int, actor: str, now: datetime) -> None:
        await self._db.execute(
            "UPDATE group_posts SET removed_at = ?, removed_by = ?, text = NULL WHERE id = ?",
            (ts(now), actor, post_id),
        )

    async def by_member(self, member_id: int) -> list[GroupPost]:
        async with self._db.execute(
            f"SELECT {_POST} FROM group_posts WHERE member_id = ? ORDER BY id", (member_id,)
        ) as cursor:
            return [_post(row) for row in await cursor.fetchall()]


class ModerationLog:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def record(self, action: str, actor: str, target: str, reason: str | None, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO moderation_audit (at, action, actor, target, reason) VALUES (?, ?, ?, ?, ?)",
            (ts(now), action, actor, target, reason),
        )

    async def entries(self, limit: int = 100) -> list[ModerationEntry]:
        async with self._db.execute(
            "SELECT at, action, actor, target, reason FROM moderation_audit ORDER BY id DESC LIMIT ?", (limit,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [ModerationEntry(parse_ts(str(r[0])), str(r[1]), str(r[2]), str(r[3]),
                                None if r[4] is None else str(r[4])) for r in rows]


class RetentionPurge:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def _run(self, sql: str, params: tuple[object, ...]) -> int:
        cursor = await self._db.execute(sql, params)
        return max(cursor.rowcount, 0)

    async def purge(self, before: datetime) -> dict[str, int]:
        cutoff = ts(before)
        return {
            "post_texts": await self._run(
                "UPDATE group_posts SET text = NULL WHERE created_at < ? AND text IS NOT NULL", (cutoff,)),
            "case_details": await self._run(
                "UPDATE escalations SET excerpt = NULL, subject_key = NULL, held_action = NULL WHERE state = 'resolved'"
                " AND resolved_at < ? AND (excerpt IS NOT NULL OR subject_key IS NOT NULL OR held_action IS NOT NULL)",
                (cutoff,)),
            "direct_messages": await self._run(
                "DELETE FROM outbox WHERE (status IN ('cancelled', 'dead') OR (status = 'delivered' AND kind IN"
                " ('SendDirect', 'SendEphemeral'))) AND finished_at < ?", (cutoff,)),
            "event_ids": await self._run("DELETE FROM inbound_events WHERE seen_at < ?", (cutoff,)),
            # Members' own words, though tied to no one: gone with the other texts (whole weeks before the cutoff).
            "survey_suggestions": await self._run(
                "DELETE FROM survey_suggestions WHERE week < date(?, '-6 days')", (cutoff[:10],)),
        }
