"""Mentor pairing: the ranking's rules as properties, the state machines, and whole journeys through the real
core, SQLite store and sandbox clock (approval, double opt-in, expiry, waitlist, relay, crisis, end, rematch)."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import PairingSettings, Settings
from bot.features.pairing import (
    MENTOR_TRANSITIONS,
    PAIRING_TRANSITIONS,
    PROPOSAL_TRANSITIONS,
    IllegalTransition,
    MenteeNeeds,
    MentorCandidate,
    check_transition,
    hours_apart,
    rank_mentors,
    reason_category,
)
from bot.store import MentorStatus, PairingState, ProposalState
from tests.test_escalation import Box
from tests.test_scripts import play, texts

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TOPICS = ("diabetes", "chronic-pain", "caregiver", "heart-health")
LANGUAGES = ("English", "Deutsch", "Español")


def member(name: str, topic: str, role: str = "Looking for support") -> list[str]:
    return [f"{name}> /peer join", f"{name}> [I agree]", f"{name}> [{role}]", f"{name}> [{topic}]",
            f"{name}> [Done]", f"{name}> [English]", f"{name}> [Use UTC]", f"{name}> [No check-ins]"]


def mentor(name: str, topic: str) -> list[str]:
    return [*member(name, topic, "Mentor"), "mod> [Approve]"]


def pseudonym(box: Box, name: str) -> str:
    found = ""
    for text in box.texts(name):
        if match := re.search(r"Your (?:new )?pseudonym is \*\*(.+?)\*\*", text):
            found = match.group(1)
    return found


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


# ---------------------------------------------------------------- the ranking, as properties

mentor_strategy = st.builds(
    MentorCandidate,
    member_id=st.integers(1, 40),
    topics=st.frozensets(st.sampled_from(TOPICS), max_size=4),
    languages=st.frozensets(st.sampled_from(LANGUAGES), min_size=1, max_size=3),
    utc_offset=st.one_of(st.none(), st.sampled_from([-8.0, -5.0, 0.0, 1.0, 5.5, 9.0, 13.0])),
    capacity=st.integers(1, 4),
    load=st.integers(0, 5),
    last_new_mentee_at=st.one_of(st.none(), st.integers(0, 1000).map(lambda d: T0 + timedelta(days=d))),
)
mentee_strategy = st.builds(
    MenteeNeeds,
    member_id=st.integers(1, 40),
    topics=st.frozensets(st.sampled_from(TOPICS), min_size=1, max_size=4),
    languages=st.frozensets(st.sampled_from(LANGUAGES), min_size=1, max_size=2),
    utc_offset=st.one_of(st.none(), st.sampled_from([-5.0, 0.0, 1.0, 10.0])),
)


def unique_mentors(mentors: list[MentorCandidate]) -> list[MentorCandidate]:
    return list({m.member_id: m for m in mentors}.values())


@settings(max_examples=300, deadline=None)
@given(mentee=mentee_strategy, mentors=st.lists(mentor_strategy, max_size=12).map(unique_mentors),
       never=st.frozensets(st.integers(1, 40), max_size=5))
def test_every_ranked_mentor_shares_a_topic_and_a_language_has_room_and_is_no_repeat(
        mentee: MenteeNeeds, mentors: list[MentorCandidate], never: frozenset[int]) -> None:
    ranked = rank_mentors(mentee, mentors, never)
    by_id = {m.member_id: m for m in mentors}
    eligible = {m.member_id for m in mentors if m.topics & mentee.topics and m.languages & mentee.languages
                and m.load < m.capacity and m.member_id not in never and m.member_id != mentee.member_id}
    assert {match.mentor_id for match in ranked} == eligible  # nobody missed, nobody extra
    for match in ranked:
        chosen = by_id[match.mentor_id]
        assert set(match.shared_topics) == chosen.topics & mentee.topics
        assert match.hours_apart == hours_apart(mentee.utc_offset, chosen.utc_offset)


@settings(max_examples=300, deadline=None)
@given(mentee=mentee_strategy, mentors=st.lists(mentor_strategy, max_size=12).map(unique_mentors))
def test_the_ranking_orders_by_overlap_then_timezone_then_load_then_longest_wait(
        mentee: MenteeNeeds, mentors: list[MentorCandidate]) -> None:
    by_id = {m.member_id: m for m in mentors}
    ranked = rank_mentors(mentee, mentors)

    def key(match_id: int) -> tuple[float, float, int, datetime]:
        m = by_id[match_id]
        apart = hours_apart(mentee.utc_offset, m.utc_offset)
        return (-len(m.topics & mentee.topics), 99.0 if apart is None else apart, m.load,
                m.last_new_mentee_at or datetime.min.replace(tzinfo=UTC))

    keys = [key(match.mentor_id) for match in ranked]
    assert keys == sorted(keys)


def test_fairness_among_equals_the_mentor_who_waited_longest_comes_first() -> None:
    mentee = MenteeNeeds(1, frozenset({"diabetes"}), frozenset({"English"}), 0.0)
    same = {"topics": frozenset({"diabetes"}), "languages": frozenset({"English"}), "utc_offset": 0.0,
            "capacity": 2, "load": 0}
    recent = MentorCandidate(2, last_new_mentee_at=T0 + timedelta(days=30), **same)
    earlier = MentorCandidate(3, last_new_mentee_at=T0, **same)
    never_had_one = MentorCandidate(4, last_new_mentee_at=None, **same)
    assert [m.mentor_id for m in rank_mentors(mentee, [recent, earlier, never_had_one])] == [4, 3, 2]


def test_more_shared_topics_beats_a_nearer_timezone_and_a_nearer_timezone_beats_a_lighter_load() -> None:
    mentee = MenteeNeeds(1, frozenset({"diabetes", "caregiver"}), frozenset({"English"}), 1.0)
    base = {"languages": frozenset({"English"}), "capacity": 3, "last_new_mentee_at": None}
    two_topics_far = MentorCandidate(2, topics=frozenset({"diabetes", "caregiver"}), utc_offset=-8.0, load=2, **base)
    one_topic_near_busy = MentorCandidate(3, topics=frozenset({"diabetes"}), utc_offset=1.0, load=2, **base)
    one_topic_far_idle = MentorCandidate(4, topics=frozenset({"diabetes"}), utc_offset=-5.0, load=0, **base)
    ranked = rank_mentors(mentee, [one_topic_far_idle, one_topic_near_busy, two_topics_far])
    assert [m.mentor_id for m in ranked] == [2, 3, 4]
    assert ranked[0].hours_apart == 9.0


def test_timezone_distance_wraps_around_the_date_line() -> None:
    assert hours_apart(13.0, -10.0) == 1.0 and hours_apart(5.5, 0.0) == 5.5 and hours_apart(None, 3.0) is None


# ---------------------------------------------------------------- the state machines


@pytest.mark.parametrize(("table", "enum"), [(MENTOR_TRANSITIONS, MentorStatus), (PROPOSAL_TRANSITIONS, ProposalState),
                                             (PAIRING_TRANSITIONS, PairingState)])
def test_every_move_outside_the_transition_tables_raises(table: dict, enum: type) -> None:
    for current in enum:
        for target in enum:
            if target in table[current]:
                check_transition(table, current, target)
            else:
                with pytest.raises(IllegalTransition):
                    check_transition(table, current, target)
    assert PROPOSAL_TRANSITIONS[ProposalState.ASKED_MENTOR] >= {ProposalState.EXPIRED, ProposalState.MENTOR_ACCEPTED}
    assert ProposalState.STARTED not in PROPOSAL_TRANSITIONS[ProposalState.ASKED_MENTOR]  # mentor first, always


def test_end_reasons_are_stored_as_categories_not_words() -> None:
    assert reason_category("it helped a lot, thanks") == "goal_reached"
    assert reason_category("we didn't really click") == "not_a_fit"
    assert reason_category("too busy at work") == "no_time"
    assert reason_category("") == "not_given" and reason_category("moving abroad") == "other"


# ---------------------------------------------------------------- journeys


async def test_an_offer_is_approved_a_mentee_is_matched_with_reasons_and_both_opt_in(tmp_path: Path) -> None:
    async with Box(db=tmp_path / "s.db") as box:
        await box.play(*member("maya", "Diabetes", "Mentor"))
        offer = box.to("#moderators")[-1]
        assert "Mentor offer" in offer.text and [c.label for c in offer.choices] == ["Approve", "Decline"]
        assert "maya" not in offer.text
        await box.play("mod> [Approve]", *member("alice", "Diabetes"), "alice> /peer pair just diagnosed")
        assert "approved you as a mentor" in box.texts("maya")[-2]
        proposal = box.to("maya")[-1]
        assert pseudonym(box, "alice") in proposal.text and "Diabetes" in proposal.text
        assert "just diagnosed" in proposal.text and "alice" not in proposal.text
        told = box.texts("alice")[-1]
        assert "lived experience of Diabetes" in told and "timezone is the same" in told
        assert pseudonym(box, "maya") not in told  # why this match, never who
        await box.play("maya> [Accept]")
        offer_to_mentee = box.to("alice")[-1]
        assert pseudonym(box, "maya") in offer_to_mentee.text
        assert [c.label for c in offer_to_mentee.choices] == ["Start", "Not for me"]
        await box.play("alice> [Start]")
        assert "You're paired with" in box.texts("alice")[-1] and "said yes" in box.texts("maya")[-1]
        async with box.sandbox.store.transaction() as tx:
            trail = await tx.pairing.audit_trail("proposal:1")
        assert [(e.from_state, e.to_state) for e in trail] == [
            (None, "asked_mentor"), ("asked_mentor", "mentor_accepted"), ("mentor_accepted", "started")]


async def test_a_moderator_declines_an_offer_by_typing_and_the_mentor_is_told_kindly() -> None:
    async with Box() as box:
        await box.play(*member("maya", "Diabetes", "Mentor"))
        await box.play(f"mod> /peer mod decline {pseudonym(box, 'maya')} training not finished yet")
        assert "can't add you as a mentor right now (training not finished yet)" in box.texts("maya")[-1]
        assert "Declined" in box.texts("#moderators")[-1]
        await box.play(*member("alice", "Diabetes"), "alice> /peer pair")
        assert "on the waitlist" in box.texts("alice")[-1]  # a declined mentor is never proposed
        await box.play("alice> /peer mod approve Anyone")
        assert box.texts("alice")[-1] == "Only moderators can use `/peer mod`."


async def test_an_unanswered_proposal_expires_and_the_next_candidate_is_asked() -> None:
    settings_ = Settings(pairing=PairingSettings(proposal_expiry_hours=24))
    async with Box(settings_) as box:
        await box.play(*mentor("maya", "Diabetes"), *mentor("omar", "Diabetes"), *member("alice", "Diabetes"),
                       "alice> /peer pair")
        first = "maya" if "would like a mentor" in box.texts("maya")[-1] else "omar"
        second = "omar" if first == "maya" else "maya"
        assert "would like a mentor" not in " ".join(box.texts(second))
        await box.play("~ 23h")
        assert "would like a mentor" not in " ".join(box.texts(second))  # not before its time
        await box.play("~ 2h")
        assert "has lapsed" in box.texts(first)[-1]
        assert "would like a mentor" in box.texts(second)[-1]
        await box.play("~ 25h")  # nobody else: the mentee waits, and is told once
        assert "on the waitlist" in box.texts("alice")[-1]
        assert sum("on the waitlist" in t for t in box.texts("alice")) == 1
        await box.play(f"{first}> [Accept]")
        assert box.texts(first)[-1] == "That is no longer open."


async def test_a_mentee_who_does_not_answer_lets_the_proposal_lapse_and_the_mentor_is_freed() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "maya> [Accept]", "~ 49h")
        assert "didn't answer in time" in box.texts("maya")[-1]
        assert "has lapsed" in box.texts("alice")[-1]
        await box.play("alice> [Start]")
        assert box.texts("alice")[-1] == "That is no longer open."
        await box.play(*member("bob", "Diabetes"), "bob> /peer pair")
        assert "would like a mentor" in box.texts("maya")[-1]


async def test_a_declined_proposal_goes_to_the_next_mentor_and_not_for_me_too() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *mentor("omar", "Diabetes"), *mentor("pia", "Diabetes"),
                       *member("alice", "Diabetes"), "alice> /peer pair")
        asked = [name for name in ("maya", "omar", "pia") if "would like a mentor" in box.texts(name)[-1]]
        assert len(asked) == 1
        await box.play(f"{asked[0]}> [Decline]")
        second = [n for n in ("maya", "omar", "pia") if n not in asked and "would like a mentor" in box.texts(n)[-1]]
        assert len(second) == 1
        await box.play(f"{second[0]}> [Accept]", "alice> [Not for me]")
        assert "decided not to go ahead" in box.texts(second[0])[-1]
        (third,) = [n for n in ("maya", "omar", "pia") if n not in (*asked, *second)]
        assert "would like a mentor" in box.texts(third)[-1]


async def test_the_relay_carries_the_pseudonym_only_and_neutralises_mentions() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "maya> [Accept]", "alice> [Start]",
                       "alice> hello @everyone and <@U02ABCDEF> and <!here>, I'm alice",
                       "maya> /peer say Welcome <@&123456>!")
        relayed = box.texts("maya")[-1]
        assert relayed.startswith(f"💬 **{pseudonym(box, 'alice')}** (your mentee): hello")
        assert "@everyone" not in relayed and "<@U02ABCDEF>" not in relayed and "<!here>" not in relayed
        assert box.texts("alice")[-1] == f"💬 **{pseudonym(box, 'maya')}** (your mentor): Welcome @\u200bsomeone!"
        for text in box.texts("maya"):
            assert "console:" not in text and "dm:alice" not in text
        for text in box.texts("alice"):
            assert "maya" not in text


async def test_a_crisis_in_the_pair_is_escalated_and_not_relayed(tmp_path: Path) -> None:
    async with Box(db=tmp_path / "s.db") as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "maya> [Accept]", "alice> [Start]")
        before = len(box.to("maya"))
        await box.play("alice> i want to kill myself tonight", "alice> /peer say I have the pills ready")
        assert len(box.to("maya")) == before  # nothing of it reaches the mentor
        alert = next(d for d in box.to("#moderators") if "Safety alert #1" in d.text)
        assert "during a mentor pairing" in alert.text and pseudonym(box, "alice") in alert.text
        alice = box.texts("alice")
        assert "988" in " ".join(alice[-4:]) and "I haven't passed that message on" in alice[-1]
        await box.play("alice> thanks, I feel a bit better now")
        assert box.texts("maya")[-1].endswith("thanks, I feel a bit better now")


async def test_a_waiting_mentee_is_matched_when_a_mentor_is_approved_or_frees_up() -> None:
    async with Box() as box:
        await box.play(*member("alice", "Chronic pain"), "alice> /peer pair")
        waiting = box.texts("alice")[-1]
        assert "waitlist" in waiting and "/peer post" in waiting and "988" in waiting
        await box.play(*member("bob", "Chronic pain"), "bob> /peer pair", "mod> /peer mod waitlist")
        assert "Waiting for a mentor: 2" in box.texts("mod")[-1] and "Chronic pain: 2" in box.texts("mod")[-1]
        await box.play(*member("noah", "Chronic pain", "Mentor"), "noah> /peer mentor capacity 1", "mod> [Approve]")
        assert pseudonym(box, "alice") in box.texts("noah")[-1]  # longest waiting first
        assert "A mentor may be free" in box.texts("alice")[-1]
        await box.play("noah> [Accept]", "alice> [Start]", "noah> /peer mentor capacity 2")
        assert pseudonym(box, "bob") in box.texts("noah")[-1] and "mentee 2 of your 2" in box.texts("noah")[-1]
        await box.play("mod> /peer mod report")
        assert "Waiting for a mentor: 0" in box.texts("mod")[-1]


async def test_ending_a_pair_tells_the_other_side_kindly_and_offers_the_mentee_a_rematch(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*mentor("maya", "Diabetes"), *mentor("omar", "Diabetes"), *member("alice", "Diabetes"),
                       "alice> /peer pair")
        first = "maya" if "would like a mentor" in box.texts("maya")[-1] else "omar"
        other = "omar" if first == "maya" else "maya"
        await box.play(f"{first}> [Accept]", "alice> [Start]", f"{first}> /peer pair end I'm too busy right now")
        told = box.to("alice")[-1]
        assert "has ended your pairing" in told.text and "nobody's fault" in told.text
        assert [c.label for c in told.choices] == ["Find a new mentor", "Not now"]
        await box.play("alice> [Find a new mentor]")
        assert "would like a mentor" in box.texts(other)[-1]  # never the same mentor again
        assert not any("would like a mentor" in t for t in box.texts(first)[-2:])
    assert rows(db, "SELECT ended_by, end_reason FROM pairings") == [("mentor", "no_time")]
    assert ("ended:no_time", 1) in rows(db, "SELECT figure, count FROM pairing_figures")


async def test_a_mentor_with_several_mentees_chooses_who_a_message_is_for() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "maya> [Accept]", "alice> [Start]", *member("bob", "Diabetes"), "bob> /peer pair",
                       "maya> [Accept]", "bob> [Start]", "maya> how are you both doing?")
        question = box.to("maya")[-1]
        labels = [c.label for c in question.choices]
        assert labels == [f"{pseudonym(box, 'alice')} (mentee)", f"{pseudonym(box, 'bob')} (mentee)"]
        await box.play(f"maya> [{labels[1]}]")
        assert box.texts("bob")[-1].endswith("how are you both doing?")
        assert not box.texts("alice")[-1].endswith("how are you both doing?")
        await box.play(f"maya> /peer say @{pseudonym(box, 'alice')} just for you")
        assert box.texts("alice")[-1].endswith(": just for you")
        await box.play(f"maya> [{labels[0]}]")
        assert box.texts("maya")[-1] == "That message is no longer waiting to be sent. Please write it again."
        await box.play("maya> one more for someone", "~ 31m", f"maya> [{labels[0]}]")
        assert box.texts("maya")[-1].startswith("That message is no longer waiting")  # drafts keep minutes only
        assert not box.texts("alice")[-1].endswith("one more for someone")


async def test_contact_is_shared_only_when_both_choose_it() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "maya> [Accept]", "alice> [Start]", "alice> [Share contact]")
        assert "nothing is shared unless they choose it too" in box.texts("alice")[-1]
        assert "would like to share contact" in box.texts("maya")[-1] and "alice" not in box.texts("maya")[-1]
        await box.play("maya> [Share contact]")
        assert "alice on console" in box.texts("maya")[-1] and "maya on console" in box.texts("alice")[-1]


async def test_a_mentor_who_steps_down_has_their_mentees_told_and_rematched() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "maya> [Accept]", "alice> [Start]", *mentor("omar", "Diabetes"), "maya> /peer mentor pause")
        await box.play(*member("bob", "Diabetes"), "bob> /peer pair")
        assert "would like a mentor" in box.texts("omar")[-1]  # paused: maya gets no new mentees
        await box.play("omar> [Decline]")
        assert "on the waitlist" in box.texts("bob")[-1]
        await box.play("maya> /peer mentor resume")
        assert pseudonym(box, "bob") in box.texts("maya")[-1]
        await box.play("maya> /peer mentor stepdown")
        assert "stepped down as a mentor" in box.texts("alice")[-1]
        assert [c.label for c in box.to("alice")[-1].choices] == ["Find a new mentor", "Not now"]
        assert "stepped down" in box.texts("maya")[-1]


async def test_the_follow_up_asks_both_and_a_low_score_offers_a_rematch(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(Settings(pairing=PairingSettings(followup_days=3)), db=db) as box:
        await box.play(*mentor("maya", "Diabetes"), *mentor("omar", "Diabetes"), *member("alice", "Diabetes"),
                       "alice> /peer pair")
        first = "maya" if "would like a mentor" in box.texts("maya")[-1] else "omar"
        other = "omar" if first == "maya" else "maya"
        await box.play(f"{first}> [Accept]", "alice> [Start]", "~ 2d")
        assert not any("How is it going" in t for t in box.texts("alice"))
        await box.play("~ 1d")
        assert "How is it going?" in box.texts("alice")[-1] and "How is it going?" in box.texts(first)[-1]
        await box.play("alice> [2 · Not great]", "alice> /peer pair feedback we never found a good time")
        assert "Would you like a different mentor?" in box.texts("alice")[-2]
        await box.play("alice> [Find a different mentor]")
        assert "would like a mentor" in box.texts(other)[-1]
        assert "has ended your pairing" in box.texts(first)[-1]
    assert rows(db, "SELECT side, score, note FROM pairing_feedback WHERE score IS NOT NULL") == [
        ("mentee", 2, "we never found a good time")]


async def test_a_falling_check_in_trend_offers_telling_the_mentor_only_by_choice() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "maya> [Accept]", "alice> [Start]", "alice> /peer checkin daily 09:30")
        before = list(box.texts("maya"))
        for _ in range(3):
            await box.play("~ 1d", "alice> [2 · Low]")
        trend = next(d for d in reversed(box.to("alice")) if "have been low" in d.text)
        assert "Tell my mentor" in [c.label for c in trend.choices]
        assert box.texts("maya") == before  # nothing is told without the member's choice
        await box.play("alice> [Tell my mentor]")
        assert "check-ins have been low lately" in box.texts("maya")[-1]


async def test_export_includes_pairing_and_forget_leaves_nothing_of_it(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"),
                       "alice> /peer pair my secret note", "maya> [Accept]", "alice> [Start]",
                       "alice> a relayed secret sentence", "maya> /peer mentor intro my intro words", "~ 8d",
                       "alice> [4 · Well]", "alice> /peer pair feedback my feedback words", "alice> /peer export")
        export = box.texts("alice")[-1]
        data = json.loads(export[export.index("{"):])
        (pairing,) = data["pairing"]["pairings"]
        assert pairing["role"] == "mentee" and pairing["with"] == pseudonym(box, "maya")
        assert data["pairing"]["feedback"][0]["note"] == "my feedback words"
        assert [q["state"] for q in data["pairing"]["proposals"]] == ["started"]
        assert data["pairing"]["request"] is None  # the note went once they were paired
        names = {name: pseudonym(box, name) for name in ("alice", "maya")}
        await box.play("alice> /peer forget", "alice> [Delete everything]", "maya> /peer forget",
                       "maya> [Delete everything]")
        assert "has left the community" in " ".join(box.texts("maya"))
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"mentors", "proposals", "pairings", "pairing_feedback", "pair_requests"} <= set(tables)
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                flat = " ".join(str(v) for v in row)
                for needle in ("alice", "maya", *names.values(), "secret note", "relayed secret", "intro words",
                               "feedback words"):
                    assert needle not in flat, (table, needle)
        for table in ("mentors", "proposals", "pairings", "pairing_feedback", "pairing_audit"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,), table
        assert conn.execute("SELECT SUM(count) FROM pairing_figures WHERE figure = 'started'").fetchone() == (1,)


def test_the_whole_pairing_journey_in_the_sandbox() -> None:
    out = play("mentor_pairing.txt")
    moderators = texts(out, "#moderators")
    assert sum("Mentor offer" in t and "Approved" in t for t in moderators) == 2
    alice, maya = texts(out, "alice"), texts(out, "maya")
    assert any("lived experience of Diabetes" in t for t in alice)  # matched with reasons
    assert any("Hi! Thanks for taking me on." in t and "@\u200beveryone" in t for t in maya)
    assert any("How have the first weeks been?" in t for t in alice)
    alert = next(t for t in moderators if "Safety alert #1" in t)
    assert "mentor pairing" in alert and "alice" not in alert
    assert not any("kill myself" in t for t in maya)  # escalated, not relayed
    carol = texts(out, "carol")
    assert any("on the waitlist" in t for t in carol) and any("You're paired with" in t for t in carol)
    bob_end = next(m for m in out if m["to"] == "bob" and "has ended" in str(m["text"]))
    assert "Find a new mentor" in bob_end["buttons"]
    assert any("How is it going?" in t for t in alice) and out[-1]["t"] == "2026-03-09T09:00:00+00:00"


async def test_an_old_approve_button_never_decides_a_later_offer() -> None:
    from bot.events import ActionInvoked, ConversationRef, UserRef

    async with Box() as box:
        await box.play(*member("maya", "Diabetes", "Mentor"))
        value = box.to("#moderators")[-1].choices[0].value
        await box.play("mod> [Decline]", "~ 1h", "maya> /peer mentor offer")
        mod = UserRef("console", "sandbox", "mod")
        await box.sandbox.app.handle(ActionInvoked(mod, ConversationRef("console", "sandbox", "moderators"),
                                                   "pair.approve", value, box.sandbox.clock.now()))
        await box.sandbox.app.dispatcher.drain()
        assert box.texts("mod")[-1] == "That is no longer open."
        await box.play("mod> [Approve]")
        assert "approved you as a mentor" in box.texts("maya")[-1]


async def test_a_mentor_intro_with_crisis_language_is_not_saved_or_shown() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), "maya> /peer mentor intro some days I want to end my life")
        assert "988" in " ".join(box.texts("maya")[-3:]) and "I haven't saved that" in box.texts("maya")[-1]
        await box.play(*member("alice", "Diabetes"), "alice> /peer pair", "maya> [Accept]")
        assert "end my life" not in box.texts("alice")[-1] and "In their words" not in box.texts("alice")[-1]


async def test_a_mentee_shown_a_mentor_who_then_steps_down_is_told_and_matched_again() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "maya> [Accept]", *mentor("omar", "Diabetes"), "maya> /peer mentor stepdown")
        assert "can no longer take on new mentees" in " ".join(box.texts("alice")[-2:])
        assert "would like a mentor" in box.texts("omar")[-1]
        await box.play("alice> [Start]")
        assert box.texts("alice")[-1] == "That is no longer open."


def test_expiry_decline_and_the_waitlist_in_the_sandbox() -> None:
    out = play("mentor_pairing_expiry.txt")
    asked = [(m["t"], m["to"]) for m in out if "would like a mentor" in str(m["text"])]
    assert asked == [("2026-03-02T09:00:00+00:00", "maya"), ("2026-03-04T09:00:00+00:00", "omar"),
                     ("2026-03-04T09:00:00+00:00", "pia")]
    assert any("has lapsed" in t for t in texts(out, "maya"))
    assert texts(out, "maya")[-1] == "That is no longer open."  # too late
    alice = texts(out, "alice")
    assert sum("on the waitlist" in t for t in alice) == 1
    assert any("Waiting for a mentor: 1" in t for t in texts(out, "mod"))
    assert "You're paired with" in alice[-1]


async def test_mentors_set_up_their_offer_by_typing_and_mistakes_get_a_sentence() -> None:
    async with Box() as box:
        await box.play("maya> /peer mentor")
        assert "Mentor pairing is for members" in box.texts("maya")[-1]
        await box.play(*member("maya", "Diabetes"), "maya> /peer mentor")
        assert "You would offer: topics Diabetes" in box.texts("maya")[-1]
        await box.play("maya> /peer mentor capacity 0", "maya> /peer mentor languages Klingon",
                       "maya> /peer mentor timezone Mars/Base", "maya> /peer mentor topics astrology")
        assert [t.split(":")[0] for t in box.texts("maya")[-4:]] == [
            "Capacity is how many mentees at once, a number from 1 to 20", "Languages are", "I don't know the "
            "timezone `Mars/Base`; write it like `Europe/London`.", "Topics are"]
        assert "Mentor offer" not in " ".join(box.texts("#moderators"))
        await box.play("maya> /peer mentor topics diabetes, caregiver", "maya> /peer mentor languages english, deutsch",
                       "maya> /peer mentor availability weekday evenings", "maya> /peer mentor")
        assert "topics Diabetes and Caregiver; languages English, Deutsch" in box.texts("maya")[-1]
        assert "availability weekday evenings" in box.texts("maya")[-1]
        assert len([t for t in box.texts("#moderators") if "Mentor offer" in t]) == 1


async def test_a_mentee_who_cancels_closes_the_proposal_and_the_mentor_is_told() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "alice> /peer pair status", "alice> /peer pair cancel")
        assert "waiting for a mentor's answer" in box.texts("alice")[-2]
        assert "no longer waiting for a mentor" in box.texts("alice")[-1]
        assert "no longer needs a mentor" in box.texts("maya")[-1]
        await box.play("maya> [Accept]")
        assert box.texts("maya")[-1] == "That is no longer open."


async def test_a_dm_right_after_a_check_in_asks_whether_it_is_a_private_note_or_for_the_mentor() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "maya> [Accept]", "alice> [Start]", "alice> /peer checkin daily 09:30", "~ 1d",
                       "alice> [4 · Good]")
        before = list(box.texts("maya"))
        await box.play("alice> slept badly but the new pump helps")
        asked = box.to("alice")[-1]
        assert asked.text.startswith("Is this a private note") and box.texts("maya") == before
        await box.play("alice> [Keep as my check-in note]")
        assert box.texts("maya") == before  # a private note never reaches the mentor
        assert box.texts("alice")[-1] == "Thank you for sharing that."
        await box.play("~ 1d", "alice> [3 · Okay]", "alice> thanks for the tip yesterday!")
        label = next(c.label for c in box.to("alice")[-1].choices if c.label.startswith("Send to"))
        await box.play(f"alice> [{label}]")
        assert box.texts("maya")[-1].endswith("(your mentee): thanks for the tip yesterday!")


async def test_mentees_are_matched_only_with_mentors_of_their_own_workspace() -> None:
    from bot.events import ActionInvoked, CommandInvoked, ConversationRef, UserRef

    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"))
        app, console = box.sandbox.app, box.sandbox.console
        bob = UserRef("console", "another-server", "bob")
        dm = ConversationRef("console", "another-server", "dm:bob", kind="dm")
        seq = iter(range(1000))

        async def press(label: str) -> None:
            item, choice = console.find_choice("bob", label)
            await app.handle(ActionInvoked(bob, dm, choice.action, choice.value, box.sandbox.clock.now(),
                                           message=item.ref, event_id=f"other-{next(seq)}"))
            await app.dispatcher.drain()

        await app.handle(CommandInvoked(bob, dm, "join", box.sandbox.clock.now(), event_id="other-join"))
        await app.dispatcher.drain()
        for label in ("I agree", "Looking for support", "Diabetes", "Done", "English", "Use UTC", "No check-ins"):
            await press(label)
        await app.handle(CommandInvoked(bob, dm, "pair", box.sandbox.clock.now(), event_id="other-pair"))
        await app.dispatcher.drain()
        assert "waitlist" in box.texts("bob")[-1]  # maya mentors in another workspace: not a candidate
        assert not any("Accept" in [c.label for c in d.choices] for d in box.to("maya"))


async def test_a_mentees_export_never_names_a_mentor_who_declined_before_accepting() -> None:
    async with Box() as box:
        await box.play(*mentor("maya", "Diabetes"), *mentor("omar", "Diabetes"), *member("alice", "Diabetes"),
                       "alice> /peer pair")
        (asked,) = [name for name in ("maya", "omar") if "would like a mentor" in box.texts(name)[-1]]
        (other,) = [name for name in ("maya", "omar") if name != asked]
        await box.play(f"{asked}> [Decline]", f"{other}> [Accept]", "alice> /peer export", f"{asked}> /peer export")
        export = box.texts("alice")[-1]
        proposals = json.loads(export[export.index("{"):])["pairing"]["proposals"]
        by_state = {p["state"]: p["with"] for p in proposals}
        assert by_state == {"mentor_declined": None, "mentor_accepted": pseudonym(box, other)}
        assert pseudonym(box, asked) not in export
        mentor_export = box.texts(asked)[-1]  # the mentor saw the mentee's pseudonym in the proposal
        assert pseudonym(box, "alice") in mentor_export


async def test_a_paired_member_is_asked_whether_a_dm_after_the_survey_is_the_suggestion_or_for_the_mentor(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*mentor("maya", "Diabetes"), *member("alice", "Diabetes"), "alice> /peer pair",
                       "maya> [Accept]", "alice> [Start]", "alice> /peer survey start")
        while "what should we improve?" not in box.texts("alice")[-1]:
            await box.play(f"alice> [{box.to('alice')[-1].choices[0].label}]")
        before = list(box.texts("maya"))
        await box.play("alice> can we talk tonight? rough shift")
        asked = box.to("alice")[-1]
        assert asked.text.startswith("Is this your anonymous suggestion") and box.texts("maya") == before
        send = next(c.label for c in asked.choices if c.label.startswith("Send to"))
        await box.play(f"alice> [{send}]")
        assert box.texts("maya")[-1].endswith("(your mentee): can we talk tonight? rough shift")
        await box.play("alice> more evening groups please", "alice> [It's my survey suggestion]")
        assert "Thank you for the suggestion" in box.texts("alice")[-1]
        assert not box.texts("maya")[-1].endswith("more evening groups please")
    assert rows(db, "SELECT text FROM survey_suggestions") == [("more evening groups please",)]


async def test_a_forgotten_moderators_approvals_stay_on_record_without_naming_them(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*mentor("maya", "Diabetes"), "mod> /peer forget", "mod> [Delete everything]")
    assert rows(db, "SELECT status, decided_by FROM mentors") == [("approved", "a moderator who has since left")]
    for table in ("mentors", "pairing_audit"):
        for row in rows(db, f"SELECT * FROM {table}"):
            assert "console:sandbox:mod" not in " ".join(map(str, row)), table
