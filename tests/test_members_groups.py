"""Onboarding, pseudonyms, anonymous groups, moderation and data rights, through the real core and SQLite."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import GroupsSettings, PrivacySettings, Settings
from bot.features import pseudonyms
from bot.mentions import neutralise
from tests.test_escalation import Box

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOIN_ALL = ["alice> /peer join", "alice> [I agree]", "alice> [Looking for support]", "alice> [Chronic pain]",
            "alice> [Done]", "alice> [English]", "alice> [Use UTC]", "alice> [Weekly]"]
JOIN_SKIPPING = ["{m}> /peer join", "{m}> [I agree]", "{m}> [Skip]", "{m}> [Skip]", "{m}> [Skip]", "{m}> [Skip]",
                 "{m}> [Skip]"]


def join(member: str) -> list[str]:
    return [line.format(m=member) for line in JOIN_SKIPPING]


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def pseudonym_of(box: Box, member: str) -> str:
    for text in box.texts(member):
        found = re.search(r"Your (?:new )?pseudonym is \*\*(.+?)\*\*", text)
        if found:
            name = found.group(1)
    return name


async def test_declining_consent_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play("bob> /peer join", "bob> [No thanks]")
        assert "Nothing about you has been stored" in box.texts("bob")[-1]
        assert "I agree" in [c.label for c in box.to("bob")[0].choices]
    for table in ("members", "member_identities", "pseudonyms", "group_posts"):
        assert rows(db, f"SELECT COUNT(*) FROM {table}") == [(0,)], table


async def test_the_consent_card_says_what_is_stored_who_sees_it_and_how_to_leave() -> None:
    async with Box() as box:
        await box.play("alice> /peer join")
        card = box.texts("alice")[0]
        for needed in ("What we store", "pseudonym", "Moderators", "not medical care", "not an emergency service",
                       "/peer export", "/peer forget", "988"):
            assert needed in card, needed


async def test_onboarding_with_every_answer() -> None:
    async with Box() as box:
        await box.play(*JOIN_ALL, "alice> /peer profile")
        profile = box.texts("alice")[-1]
        assert "Role: peer / looking for support" in profile and "Topics: Chronic pain" in profile
        assert "Language: English" in profile and "Timezone: UTC" in profile and "Check-ins: weekly" in profile
        assert "You're all set" in box.texts("alice")[-3] and "anonymous survey" in box.texts("alice")[-2]


async def test_onboarding_with_every_step_skipped_and_joining_again_shows_the_profile() -> None:
    async with Box() as box:
        await box.play(*join("dan"), "dan> /peer join")
        texts = box.texts("dan")
        assert "You're all set" in texts[-3] and "anonymous survey" in texts[-2]  # the baseline, once
        assert texts[-1].startswith("Your profile") and "Role: not set" in texts[-1] and "Topics: none" in texts[-1]


async def test_an_interrupted_onboarding_resumes_where_it_stopped() -> None:
    async with Box() as box:
        await box.play("alice> /peer join", "alice> [I agree]", "alice> [Skip]", "alice> /peer join")
        assert box.texts("alice")[-1].startswith("Which topics matter to you?")


async def test_profile_changes_by_typed_commands() -> None:
    async with Box() as box:
        await box.play(*join("alice"), "alice> /peer profile topics Diabetes, staff wellbeing",
                       "alice> /peer profile timezone Europe/London", "alice> /peer profile timezone Mars/Base",
                       "alice> /peer profile role mentor")
        texts = box.texts("alice")
        assert "Topics: Diabetes, Staff wellbeing" in texts[-6]
        assert "Timezone: Europe/London" in texts[-5]
        assert "I don't know the timezone `Mars/Base`" in texts[-4]
        assert "confirm mentors" in texts[-3] and "Role: mentor" in texts[-1]
        assert "sent your offer to mentor" in texts[-2]  # with topics, the mentor role is an offer to mentor


async def test_pseudonyms_are_readable_unique_and_not_derived_from_the_person() -> None:
    async with Box() as box:
        names = []
        for n in range(12):
            await box.play(f"user{n}> /peer join", f"user{n}> [I agree]")
            names.append(pseudonym_of(box, f"user{n}"))
        assert len(set(names)) == len(names)
        assert all(pseudonyms.PATTERN.match(name) for name in names)
        assert not any(f"user{n}" in name.lower() for n, name in enumerate(names))
        await box.play("user0> /peer profile pseudonym new")
        assert pseudonym_of(box, "user0") != names[0]


def test_drawing_many_pseudonyms_gives_varied_names() -> None:
    drawn = {pseudonyms.draw() for _ in range(2000)}
    assert len(drawn) > 1900  # no bias towards a few names


def test_mentions_are_neutralised_for_slack_and_discord() -> None:
    cases = {
        "hi @everyone": "@\u200beveryone", "hey @here": "@\u200bhere", "<!channel> look": "@\u200bchannel",
        "<!here|here>": "@\u200bhere", "<@U024BE7LH> said": "@\u200bsomeone", "<@U024BE7LH|bob>": "@\u200bsomeone",
        "<!subteam^SAZ94GDB8|@nurses>": "@\u200bsubteam", "<@80351110224678912>": "@\u200bsomeone",
        "<@!80351110224678912>": "@\u200bsomeone", "<@&41771983423143936> role": "@\u200bsomeone",
        "<#C024BE7LR|general>": "#channel",
    }
    for raw, expected in cases.items():
        out = neutralise(raw)
        assert expected in out, (raw, out)
        assert not re.search(r"<[@!#]|(?<!\u200b)@(everyone|here)\b", out), (raw, out)


async def test_an_anonymous_post_carries_the_pseudonym_and_nothing_that_links_back() -> None:
    async with Box() as box:
        await box.play(*join("alice"), "alice> /peer post chronic-pain Flares are rough <@U123> @here help")
        name = pseudonym_of(box, "alice")
        (post,) = box.to("#chronic-pain")
        assert post.text.startswith(f"**{name}** · post ") and "alice" not in post.text
        assert "<@U123>" not in post.text and "@here" not in post.text.replace("@\u200bhere", "")
        assert [c.label for c in post.choices] == ["Reply"]
        assert "published" in box.texts("alice")[-1]


async def test_replies_are_anonymous_and_land_in_the_posts_thread() -> None:
    async with Box() as box:
        await box.play(*join("alice"), *join("bob"), "alice> /peer post diabetes anyone else on pumps?")
        post = box.to("#diabetes")[0]
        post_id = re.search(r"post (\w{4})", post.text).group(1)
        await box.play("bob> [Reply]")
        assert f"/peer reply {post_id}" in box.texts("bob")[-1]
        await box.play(f"bob> /peer reply {post_id} yes, 3 years now")
        reply = box.to("#diabetes")[1]
        assert reply.thread_of == post.ref.message_id
        assert reply.text.startswith(f"**{pseudonym_of(box, 'bob')}** replied") and "bob" not in reply.text


async def test_only_members_post_and_bad_posts_are_refused_with_a_reason() -> None:
    settings = Settings(groups=GroupsSettings(max_length=60))
    async with Box(settings) as box:
        await box.play("eve> /peer post diabetes hi", *join("alice"), "alice> /peer post nowhere hi",
                       "alice> /peer post diabetes see https://example.com/x", "alice> /peer post diabetes " + "x" * 61,
                       "alice> /peer post diabetes")
        assert "Only members can post" in box.texts("eve")[0]
        texts = box.texts("alice")[-4:]
        assert "Groups here: `chronic-pain`, `diabetes`, `staff-wellbeing`" in texts[0]
        assert "Links aren't allowed" in texts[1]
        assert "the limit is 60" in texts[2]
        assert texts[3].startswith("Usage: `/peer post")
        assert box.to("#diabetes") == []


async def test_posting_is_rate_limited_per_member() -> None:
    settings = Settings(groups=GroupsSettings(rate_limit_posts=2, rate_limit_minutes=10))
    async with Box(settings) as box:
        await box.play(*join("alice"), "alice> /peer post diabetes one", "alice> /peer post diabetes two",
                       "alice> /peer post diabetes three")
        assert len(box.to("#diabetes")) == 2
        assert "give it a little while" in box.texts("alice")[-1]
        await box.play("~ 11m", "alice> /peer post diabetes four")
        assert len(box.to("#diabetes")) == 3


async def test_a_moderator_mutes_a_pseudonym_without_learning_who_it_is(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*join("alice"), "alice> /peer post diabetes hi")
        name = pseudonym_of(box, "alice")
        await box.play(f'mod> /peer mod mute "{name}" spam')
        assert all("alice" not in text for text in box.texts("#moderators") + box.texts("mod"))
        await box.play("alice> /peer post diabetes again")
        assert "muted" in box.texts("alice")[-1] and len(box.to("#diabetes")) == 1
        await box.play(f"mod> /peer mod unmute {name}", "alice> /peer post diabetes back")
        assert len(box.to("#diabetes")) == 2
    assert [r[0] for r in rows(db, "SELECT action FROM moderation_audit ORDER BY id")] == ["mute", "unmute"]


async def test_revealing_an_identity_needs_a_reason_and_is_audited_and_announced(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*join("alice"))
        name = pseudonym_of(box, "alice")
        await box.play(f"mod> /peer mod reveal {name}")
        assert "A reason is required" in box.texts("mod")[-1]
        await box.play(f"bob> /peer mod reveal {name} curious")
        assert box.texts("bob") == ["Only moderators can use `/peer mod`."]
        await box.play(f"mod> /peer mod reveal {name} imminent risk, cannot reach by relay")
        assert "console user alice" in box.texts("mod")[-1]
        announcement = box.texts("#moderators")[-1]
        assert f"revealed who is behind {name}" in announcement and "imminent risk" in announcement
        assert "alice" not in announcement  # the team learns that a reveal happened, not the answer
    audit = rows(db, "SELECT action, actor, target, reason FROM moderation_audit")
    assert audit == [("reveal", "console:sandbox:mod", name, "imminent risk, cannot reach by relay")]


async def test_authors_delete_their_own_posts_and_moderators_remove_any() -> None:
    async with Box() as box:
        await box.play(*join("alice"), *join("bob"), "alice> /peer post diabetes first", "alice> [Delete]",
                       "alice> /peer post diabetes second")
        second = re.search(r"post (\w{4})", box.to("#diabetes")[1].text).group(1)
        await box.play(f"bob> /peer delete {second}")
        assert "You have no post with that id" in box.texts("bob")[-1]
        await box.play(f"mod> /peer mod remove {second} off-topic")
        assert [d.removed for d in box.to("#diabetes")] == [True, True]
        assert "A moderator removed your post" in box.texts("alice")[-1] and "off-topic" in box.texts("alice")[-1]


async def test_a_crisis_group_post_is_held_until_a_moderator_decides() -> None:
    async with Box() as box:
        await box.play(*join("alice"), "alice> /peer post chronic-pain i cant take this pain anymore i want to die")
        assert box.to("#chronic-pain") == []
        texts = box.texts("alice")
        assert "a moderator will read it first" in texts[-1] and "988" in texts[-2]
        alert = box.texts("#moderators")[-1]
        assert "held" in alert and [c.label for c in box.to("#moderators")[-1].choices][-2:] == [
            "Publish post", "Discard post"]
        await box.play("mod> [Acknowledge]", "mod> [Publish post]")
        (published,) = box.to("#chronic-pain")
        assert "i want to die" in published.text and pseudonym_of(box, "alice") in published.text
        await box.play(*[line.replace("alice", "bob") for line in join("alice")],
                       "bob> /peer post diabetes goodbye everyone, this is my last message", "mod> /peer mod discard 2")
        assert box.to("#diabetes") == []
        assert "discarded" in box.texts("#moderators")[-2] or "discarded" in box.texts("#moderators")[-1]


async def test_export_gives_the_member_their_own_data() -> None:
    async with Box() as box:
        await box.play(*JOIN_ALL, "alice> /peer post chronic-pain hello", "alice> /peer profile pseudonym new",
                       "#diabetes alice> /peer export")
        assert box.texts("alice")[-1] == "I've sent your data to you in a direct message."
        document = box.texts("alice")[-2]
        data = json.loads(document[document.index("{"):])
        assert data["profile"]["topics"] == ["chronic-pain"] and data["profile"]["checkin_preference"] == "weekly"
        assert len(data["pseudonyms"]) == 2 and data["pseudonyms"][0]["until"] is not None
        assert data["group_posts"][0]["group"] == "chronic-pain" and data["group_posts"][0]["text"] is None
        assert data["identities"] == [{"platform": "console", "workspace": "sandbox", "user_id": "alice"}]


async def test_forget_removes_every_row_that_names_the_member(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(Settings(groups=GroupsSettings(keep_text=True)), db=db) as box:
        await box.play(*JOIN_ALL, "alice> /peer post chronic-pain hello there", "alice> i want to kill myself",
                       "mod> [Acknowledge]")
        # and a mentor pairing: the request's note, a relayed message, the follow-up answer
        await box.play("maya> /peer join", "maya> [I agree]", "maya> [Mentor]", "maya> [Chronic pain]",
                       "maya> [Done]", "maya> [Skip]", "maya> [Skip]", "maya> [Skip]", "mod> [Approve]",
                       "alice> /peer pair my pairing note", "maya> [Accept]", "alice> [Start]",
                       "alice> my relayed words", "~ 8d", "alice> [4 · Well]")
        name = pseudonym_of(box, "alice")
        await box.play("alice> /peer forget", "alice> [Keep my data]")
        assert box.texts("alice")[-1] == "Nothing was deleted."
        await box.play("alice> /peer forget", "alice> [Delete everything]", "alice> /peer profile")
        assert "You haven't joined yet" in box.texts("alice")[-1]
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                flat = " ".join(str(v) for v in row)
                for needle in ("alice", name, "hello there", "kill myself", "pairing note", "relayed words"):
                    assert needle not in flat, (table, needle)
        assert conn.execute("SELECT COUNT(*) FROM members").fetchone() == (1,)  # maya, the mentor, stays
        for table in ("pairings", "proposals", "pairing_feedback", "pair_requests"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,), table
        (label, state), = conn.execute("SELECT subject_label, state FROM escalations").fetchall()
        assert "forgotten" in label and state == "acknowledged"  # the safety record stays, without identity


async def test_forgetting_cancels_messages_waiting_for_the_person(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*join("alice"))
        async with box.sandbox.store.transaction() as tx:
            from bot.events import OutboundMessage, SendDirect, UserRef
            from bot.store import Priority
            await tx.outbox.enqueue("later", SendDirect(UserRef("console", "sandbox", "alice"),
                                                        OutboundMessage("a check-in")), Priority.NORMAL,
                                    START + timedelta(hours=1))
        await box.play("alice> /peer forget", "alice> [Delete everything]", "~ 2h")
        assert "a check-in" not in box.texts("alice")


async def test_retention_purges_old_texts_and_resolved_case_details(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    settings = Settings(groups=GroupsSettings(keep_text=True), privacy=PrivacySettings(retention_days=30))
    async with Box(settings, db=db) as box:
        await box.play(*join("alice"), "alice> /peer post diabetes kept for a while", "bob> i want to kill myself",
                       "mod> [Resolve]", "~ 20d")
        assert rows(db, "SELECT text FROM group_posts") == [("kept for a while",)]
        assert rows(db, "SELECT excerpt IS NOT NULL, subject_key IS NOT NULL FROM escalations") == [(1, 1)]
        await box.play("~ 12d")
        assert rows(db, "SELECT text FROM group_posts") == [(None,)]
        assert rows(db, "SELECT excerpt, subject_key, state FROM escalations") == [(None, None, "resolved")]
        assert rows(db, "SELECT COUNT(*) FROM escalation_audit") != [(0,)]  # the audit trail remains


async def test_two_held_posts_in_one_case_are_both_published_by_the_moderator() -> None:
    async with Box() as box:
        await box.play(*join("alice"), "alice> /peer post diabetes i want to die", "alice> /peer post chronic-pain "
                       "nobody would miss me if i was gone", "mod> [Publish post]")
        assert len(box.to("#diabetes")) == 1 and len(box.to("#chronic-pain")) == 1
        assert "(2) were published" in box.texts("#moderators")[-1] or any(
            "(2) were published" in t for t in box.texts("#moderators"))


async def test_forgetting_discards_posts_held_for_moderators(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*join("bob"), "bob> /peer post diabetes I want to kill myself", "bob> /peer forget",
                       "bob> [Delete everything]", "mod> /peer mod publish 1")
        assert box.to("#diabetes") == []
        assert "has no held post" in box.texts("mod")[-1]
    assert rows(db, "SELECT held_action FROM escalations") == [(None,)]
