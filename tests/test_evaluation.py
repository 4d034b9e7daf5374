"""Program evaluation: in-chat surveys, the figures of a synthetic program known by construction, the privacy floor
with complementary suppression, and `peerbot report` over a real database file as JSON, CSV and HTML."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sqlite3
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.evaluation.figures import Cell, suppress, t_quantile_975
from bot.features.surveys import survey_due_at, who5_score
from storage.sqlite import SQLiteStore
from tests.conftest import peerbot
from tests.test_escalation import Box

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOIN = ["{m}> /peer join", "{m}> [I agree]", "{m}> [Skip]", "{m}> [Skip]", "{m}> [Skip]", "{m}> [Skip]",
        "{m}> [No check-ins]"]
WHO5_ALL_OF_THE_TIME = ["{m}> [All of the time]"] * 5


def lines(member: str, *templates: str) -> list[str]:
    return [t.format(m=member) for t in templates]


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


# ---------------------------------------------------------------- surveys in the chat


async def test_the_baseline_survey_follows_onboarding_and_stores_answers_and_a_suggestion_apart(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*lines("alice", *JOIN))
        offer = box.to("alice")[-1]
        assert "anonymous survey" in offer.text and [c.label for c in offer.choices] == [
            "Start", "Not now", "Never ask me"]
        assert "You're all set" in box.texts("alice")[-2]  # the welcome first, then the offer
        await box.play("alice> [Start]")
        first = box.to("alice")[-1]
        assert "I have felt cheerful and in good spirits." in first.text and "last two weeks" in first.text
        assert [c.label for c in first.choices][:6] == ["All of the time", "Most of the time",
                                                         "More than half of the time", "Less than half of the time",
                                                         "Some of the time", "At no time"]
        await box.play("alice> [Most of the time]", "alice> /peer survey 3", "alice> [Skip question]",
                       "alice> [At no time]", "alice> [Some of the time]", "alice> [5 · Very satisfied]")
        assert "what should we improve?" in box.texts("alice")[-1]
        await box.play("alice> More evening sessions, please")
        assert "Thank you for the suggestion" in box.texts("alice")[-1]
        await box.play("alice> hello again")  # the suggestion was taken; this is an ordinary DM now
        assert "I'm peerbot" in box.texts("alice")[-1]
    (survey,) = rows(db, "SELECT kind, state, who5_1, who5_2, who5_3, who5_4, who5_5, satisfaction, burnout"
                         " FROM surveys")
    assert survey == ("baseline", "completed", 4, 3, None, 0, 1, 5, None)
    assert rows(db, "SELECT week, text FROM survey_suggestions") == [("2026-03-02", "More evening sessions, please")]
    columns = [r[1] for r in rows(db, "PRAGMA table_info(survey_suggestions)")]
    assert columns == ["id", "week", "text"]  # nothing that points at the member


async def test_staff_get_the_burnout_question_and_hard_answers_get_support(tmp_path: Path) -> None:
    async with Box() as box:
        await box.play("bo> /peer join", "bo> [I agree]", "bo> [Healthcare staff]", "bo> [Skip]", "bo> [Skip]",
                       "bo> [Skip]", "bo> [No check-ins]", "bo> [Start]", *["bo> [At no time]"] * 5)
        burnout = box.to("bo")[-1]
        assert "how would you rate your level of burnout" in burnout.text
        assert "completely burned out" in burnout.text
        await box.play("bo> [5 · Completely burned out]", "bo> [1 · Very dissatisfied]")
        assert any("You don't have to carry this alone" in t and "988" in t for t in box.texts("bo"))


async def test_a_suggestion_in_crisis_goes_to_moderators_and_never_into_the_report(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*lines("cy", *JOIN, "{m}> [Start]", *WHO5_ALL_OF_THE_TIME), "cy> [4 · Satisfied]",
                       "cy> i want to kill myself")
        assert any("Safety alert" in t for t in box.texts("#moderators"))
        assert any("988" in t for t in box.texts("cy"))
    assert rows(db, "SELECT COUNT(*) FROM survey_suggestions") == [(0,)]
    assert rows(db, "SELECT state FROM surveys") == [("completed",)]


async def test_the_follow_up_comes_after_the_interval_and_declining_stops_surveys_for_good(tmp_path: Path) -> None:
    async with Box() as box:
        await box.play(*lines("dee", *JOIN, "{m}> [Not now]"), *lines("eve", *JOIN, "{m}> [Never ask me]"))
        assert "no more surveys" in box.texts("eve")[-1]
        await box.play("~ 89d")
        assert "anonymous" not in box.texts("dee")[-1]
        await box.play("~ 2d")
        assert "anonymous questions" in box.texts("dee")[-1] or "anonymous survey" in box.texts("dee")[-1]
        assert "no more surveys" in box.texts("eve")[-1]  # nothing new for eve
        # Declining in the profile: typed, or with the button; allowing again works the same way.
        await box.play("dee> /peer profile surveys off")
        assert "no more surveys" in box.texts("dee")[-1]
        await box.play("dee> /peer profile", "dee> [Survey settings]", "dee> [Allow surveys again]")
        assert "allowed again" in box.texts("dee")[-1]
        await box.play("dee> /peer checkin now")
        assert "check-in" in box.texts("dee")[-1]  # declining surveys changed nothing else


def test_who5_scores_and_survey_times() -> None:
    assert who5_score([5, 5, 5, 5, 5]) == 100 and who5_score([0, 1, 2, 3, 4]) == 40
    assert who5_score([5, 5, 5, 5]) is None
    night = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert survey_due_at(night, "Europe/London") == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    day = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    assert survey_due_at(day, "UTC") == day
    assert survey_due_at(datetime(2026, 3, 2, 3, 0, tzinfo=UTC), "America/New_York") == datetime(
        2026, 3, 2, 15, 0, tzinfo=UTC)  # 22:00 in New York: the next morning at 10:00 local


# ---------------------------------------------------------------- the privacy floor


def cell(name: str, n: int, figure: str = "f") -> Cell:
    return Cell("engagement", figure, name, n, n)


def test_a_small_cell_is_suppressed_and_so_is_a_sibling_so_subtraction_recovers_nothing() -> None:
    cells = suppress([cell("all", 40), cell("platform:a", 30), cell("platform:b", 7), cell("platform:c", 3)], 5)
    shown = {c.cell: c.value for c in cells}
    assert shown == {"all": 40, "platform:a": 30, "platform:b": None, "platform:c": None}


def test_complementary_suppression_goes_on_until_the_hidden_cells_hold_enough_people() -> None:
    cells = suppress([cell("all", 50), cell("topic:a", 1), cell("topic:b", 2), cell("topic:c", 6),
                      cell("topic:d", 41)], 5)
    hidden = [c.cell for c in cells if c.suppressed]
    assert hidden == ["topic:a", "topic:b", "topic:c"]  # 1 + 2 = 3 could be worked out; 1 + 2 + 6 = 9 cannot
    assert [c.cell for c in suppress([cell("all", 3), cell("platform:a", 3)], 5) if c.suppressed] == [
        "all", "platform:a"]
    assert not any(c.suppressed for c in suppress([cell("all", 12), cell("score:1", 6), cell("score:2", 6)], 5))


def test_student_t_quantiles() -> None:
    assert t_quantile_975(1) == 12.706 and t_quantile_975(29) == 2.045
    assert abs(t_quantile_975(60) - 2.000) < 0.002 and abs(t_quantile_975(1000) - 1.962) < 0.002


# ---------------------------------------------------------------- a program known by construction

PERIOD = ("2026-03-02", "2026-03-29")  # four weeks, Monday to Sunday
BEFORE = "2026-01-10T10:00:00.000000Z"


def ts(day: str, hour: int = 10, minute: int = 0) -> str:
    return f"{day}T{hour:02d}:{minute:02d}:00.000000Z"


async def seed_program(db: Path) -> dict[str, object]:
    """40 members whose answers are set here; returns the facts the expected figures follow from."""
    store = await SQLiteStore.open(str(db))
    await store.close()
    platform = {**dict.fromkeys(range(1, 31), "console"), **dict.fromkeys(range(31, 38), "slack"),
                **dict.fromkeys(range(38, 41), "discord")}
    with sqlite3.connect(db) as conn:
        for m in range(1, 41):
            topics = "chronic-pain" if m <= 20 else "diabetes"
            joined = BEFORE if m <= 30 else ts("2026-03-10")
            conn.execute("INSERT INTO members (id, pseudonym, role, topics, consent_version, joined_at, "
                         "onboarding_step) VALUES (?, ?, ?, ?, 1, ?, 'done')",
                         (m, f"Name {m}", "staff" if m > 30 else "peer", topics, joined))
            conn.execute("INSERT INTO member_identities VALUES (?, 'w', ?, ?)", (platform[m], f"u{m}", m))
        # Activity: 1-30 check in in week 1, 1-20 post in week 2, 31-40 are active in week 3, 38-40 in week 4.
        activity = [(m, "2026-03-02", "checkin") for m in range(1, 31)]
        activity += [(m, "2026-03-09", "post") for m in range(1, 21)]
        activity += [(m, "2026-03-16", "pair") for m in range(31, 41)]
        activity += [(m, "2026-03-23", "reply") for m in range(38, 41)]
        activity += [(1, "2026-02-23", "post")]  # before the period
        conn.executemany("INSERT INTO activity (member_id, week, kind, count) VALUES (?, ?, ?, 1)", activity)
        # Check-ins: four each to 1-30; 1-10 answer all four, 11-30 two; one before the period.
        for m in range(1, 31):
            for day, k in (("2026-03-03", 0), ("2026-03-04", 1), ("2026-03-05", 2), ("2026-03-06", 3)):
                answered = m <= 10 or k < 2
                conn.execute("INSERT INTO checkins (member_id, due_at, sent_at, answered_at, mood) VALUES (?, ?, ?,"
                             " ?, ?)", (m, ts(day), ts(day), ts(day, 11) if answered else None,
                                        3 if answered else None))
        conn.execute("INSERT INTO checkins (member_id, due_at, sent_at, answered_at, mood) VALUES (1, ?, ?, ?, 4)",
                     (BEFORE, BEFORE, BEFORE))
        # Surveys: a WHO-5 baseline (all items 2: score 40) in January and a follow-up in the period for 1-30.
        followup = {**{m: (3, 3, 3, 3, 3) for m in range(1, 13)}, **{m: (2, 2, 3, 2, 2) for m in range(13, 25)},
                    **{m: (1, 2, 2, 2, 2) for m in range(25, 31)}}
        for m in range(1, 31):
            conn.execute("INSERT INTO surveys (member_id, kind, state, items, offered_at, completed_at, who5_1, "
                         "who5_2, who5_3, who5_4, who5_5, satisfaction) VALUES (?, 'baseline', 'completed', '', ?, ?,"
                         " 2, 2, 2, 2, 2, 3)", (m, BEFORE, BEFORE))
            conn.execute("INSERT INTO surveys (member_id, kind, state, items, offered_at, completed_at, who5_1, "
                         "who5_2, who5_3, who5_4, who5_5, satisfaction) VALUES (?, 'followup', 'completed', '', ?, ?,"
                         " ?, ?, ?, ?, ?, ?)", (m, ts("2026-03-20"), ts("2026-03-20"), *followup[m], m % 5 + 1))
        # Staff burnout (31-40): four answer 2, five answer 3, one answers 5.
        burnout = {**dict.fromkeys(range(31, 35), 2), **dict.fromkeys(range(35, 40), 3), 40: 5}
        for m, score in burnout.items():
            conn.execute("INSERT INTO surveys (member_id, kind, state, items, offered_at, completed_at, burnout) "
                         "VALUES (?, 'baseline', 'completed', '', ?, ?, ?)", (m, ts("2026-03-18"), ts("2026-03-18"),
                                                                             score))
        # Group posts: 20 in chronic-pain (one each by 1-20) and 2 in diabetes (21, 22).
        for i, (m, topic) in enumerate([(m, "chronic-pain") for m in range(1, 21)] + [(21, "diabetes"),
                                                                                     (22, "diabetes")]):
            conn.execute("INSERT INTO group_posts (public_id, member_id, pseudonym, topic, platform, workspace, "
                         "channel_id, outbox_key, created_at) VALUES (?, ?, 'x', ?, 'console', 'w', 'c', ?, ?)",
                         (f"P{i}", m, topic, f"k{i}", ts("2026-03-10")))
        # Six safety cases by six people, acknowledged after 1, 2, 3, 4, 10 and 20 minutes; three resolved.
        waits = [1, 2, 3, 4, 10, 20]
        severities = ["high", "high", "imminent", "high", "concern", "high"]
        for i, (wait, severity) in enumerate(zip(waits, severities, strict=True)):
            opened = datetime(2026, 3, 10 + i, 12, 0, tzinfo=UTC)
            acked = opened + timedelta(minutes=wait)
            fmt = "%Y-%m-%dT%H:%M:%S.000000Z"
            conn.execute("INSERT INTO escalations (platform, workspace, subject_key, subject_label, state, severity, "
                         "categories, location, opened_at, last_message_at, acknowledged_at, repage_count) VALUES "
                         "('console', 'w', ?, 'x', ?, ?, 'suicidal_ideation', 'DM', ?, ?, ?, ?)",
                         (f"console:w:u{i + 1}", "resolved" if i < 3 else "acknowledged", severity,
                          opened.strftime(fmt), opened.strftime(fmt), acked.strftime(fmt), 1 if wait > 5 else 0))
        # Pairing: mentors 31-36 (capacity 2 each); ten mentees (1-10) matched on 5 March after waiting 1-10 days,
        # with mentors 31-35 in turn; three pairs end in the period; six mentees (11-16) still wait.
        conn.executemany("INSERT INTO mentors (member_id, status, timezone, capacity, offered_at) VALUES"
                         " (?, 'approved', 'UTC', 2, ?)", [(m, BEFORE) for m in range(31, 37)])
        for i in range(1, 11):
            ended = ts("2026-03-20") if i <= 3 else None
            reason = ("not_a_fit" if i <= 2 else "goals_met") if ended else None
            conn.execute("INSERT INTO pairings (id, mentee_id, mentor_id, state, shared_topics, started_at, ended_at,"
                         " end_reason) VALUES (?, ?, ?, ?, '', ?, ?, ?)",
                         (i, i, 31 + i % 5, "ended" if ended else "active", ts("2026-03-05"), ended, reason))
            requested = datetime(2026, 3, 5, 10, tzinfo=UTC) - timedelta(days=i)
            conn.execute("INSERT INTO pairing_waits VALUES (?, ?)",
                         (i, requested.strftime("%Y-%m-%dT%H:%M:%S.000000Z")))
            conn.execute("INSERT INTO pairing_feedback (pairing_id, member_id, side, asked_at, answered_at, score)"
                         " VALUES (?, ?, 'mentee', ?, ?, 4)", (i, i, ts("2026-03-12"), ts("2026-03-12")))
        conn.executemany("INSERT INTO pair_requests (member_id, topics, requested_at, waiting) VALUES (?, '', ?, 1)",
                         [(m, ts("2026-03-15")) for m in range(11, 17)])
        conn.executemany("INSERT INTO survey_suggestions (id, week, text) VALUES (?, '2026-03-16', ?)",
                         [(i, f"suggestion {i}") for i in range(6)])
    return {"followup": followup, "waits": waits, "satisfaction": [m % 5 + 1 for m in range(1, 31)]}


def report(db: Path, fmt: str, *extra: str) -> str:
    result = peerbot("report", "--db", str(db), "--from", PERIOD[0], "--to", PERIOD[1], "--format", fmt, *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_the_report_of_a_known_program_gives_the_right_figures(tmp_path: Path) -> None:
    db = tmp_path / "program.db"
    facts = await seed_program(db)
    data = json.loads(report(db, "json"))
    assert list(data) == ["period", "engagement", "pairing", "wellbeing", "satisfaction", "safety"]
    assert data["period"]["from"] == "2026-03-02" and data["period"]["to"] == "2026-03-29"
    e = data["engagement"]
    assert e["members"]["all"] == 40 and e["members_joined"]["all"] == 10
    assert e["active_members"]["all"] == 40 and e["returning_members"]["all"] == 20 + 3  # 1-20 and 38-40
    assert e["weekly_active_members"] == {"week:2026-03-02": 30, "week:2026-03-09": 20, "week:2026-03-16": 10,
                                          "week:2026-03-23": None}  # 3 members that week: under the floor
    sent, answered = 30 * 4, 10 * 4 + 20 * 2
    assert math.isclose(e["checkin_answer_rate"]["all"], round(answered / sent, 4))
    assert e["active_members"]["topic:chronic-pain"] == 20 and e["active_members"]["topic:diabetes"] == 20
    # Only 3 returning members have diabetes: hidden, and chronic-pain's 20 with it (23 - 20 would tell).
    assert e["returning_members"]["topic:diabetes"] is None and e["returning_members"]["topic:chronic-pain"] is None
    # Posts: 22 in all; diabetes has 2 authors, so both groups are hidden (else 22 - 20 gives it away).
    assert e["group_posts"] == {"all": 22, "group:chronic-pain": None, "group:diabetes": None}
    # Platforms: discord (3) is under the floor, so slack (7) is hidden too.
    assert e["members"]["platform:console"] == 30
    assert e["members"]["platform:discord"] is None and e["members"]["platform:slack"] is None

    w = data["wellbeing"]
    changes = [sum(facts["followup"][m]) * 4 - 40 for m in range(1, 31)]
    mean = statistics.fmean(changes)
    half = 2.045 * statistics.stdev(changes) / math.sqrt(30)  # t(0.975, 29 degrees of freedom)
    assert w["who5_pairs"]["all"] == 30 and w["who5_baseline_mean"]["all"] == 40
    assert math.isclose(w["who5_latest_mean"]["all"], 40 + mean)
    assert math.isclose(w["who5_change_mean"]["all"], round(mean, 2))
    assert math.isclose(w["who5_change_ci95_low"]["all"], round(mean - half, 2))
    assert math.isclose(w["who5_change_ci95_high"]["all"], round(mean + half, 2))
    assert w["who5_improved_share"]["all"] == 0.4  # 12 of 30 rose by 20 points; the rest by 4 or fell
    assert w["burnout_responses"] == {"all": 10, "score:1": None, "score:2": None, "score:3": 5, "score:4": None,
                                      "score:5": None}
    s = data["satisfaction"]
    assert s["program_responses"]["all"] == 30  # the staff answered burnout only
    expected = statistics.fmean(facts["satisfaction"])
    assert math.isclose(s["program_mean"]["all"], round(expected, 2))
    assert math.isclose(s["program_mean"]["topic:chronic-pain"], round(statistics.fmean(facts["satisfaction"][:20]), 2))
    assert s["program_mean"]["platform:console"] is None  # else the other platforms' 0 answers would show
    assert sorted(s["improvement_suggestions"]) == [f"suggestion {i}" for i in range(6)]

    safety = data["safety"]
    waits = sorted(facts["waits"])
    # Four high, one imminent, one concern: the two single cases hide the four (6 - 4 - 1 would give one away).
    assert safety["escalations"]["all"] == 6 and safety["escalations"]["platform:console"] == 6
    assert [safety["escalations"][f"severity:{s}"] for s in ("imminent", "high", "concern")] == [None, None, None]
    assert safety["ack_minutes_median"]["all"] == statistics.median(waits)
    assert safety["ack_minutes_p90"]["all"] == round(statistics.quantiles(waits, n=10, method="inclusive")[8], 1)
    assert safety["resolved_share"]["all"] == 0.5 and safety["repaged"]["all"] is None  # 2 people: hidden
    pairing = data["pairing"]
    assert pairing["available"] is True and pairing["active_pairs"]["all"] == 10
    assert pairing["mentees_waiting"]["all"] == 6 and pairing["wait_days_median"]["all"] == statistics.median(
        range(1, 11))
    # Three pairs ended: the count is shown (six people), the reasons (two and one pairs) are not.
    assert pairing["pairs_ended"] == {"all": 3, "reason:goals_met": None, "reason:not_a_fit": None}
    assert pairing["followup_rating_mean"]["all"] == 4 and pairing["active_mentors"]["all"] == 5
    assert math.isclose(pairing["capacity_used_share"]["all"], round(7 / 12, 4))  # 7 pairs at the end, 6 x 2 places
    assert pairing["messages_per_pair_week"]["all"] == round(10 / 10 / 4, 2)  # 10 relayed messages, 4 weeks


async def test_no_suppressed_cell_can_be_recovered_from_a_published_total(tmp_path: Path) -> None:
    db = tmp_path / "program.db"
    await seed_program(db)
    data = json.loads(report(db, "json"))
    checked = 0
    for section in ("engagement", "wellbeing", "satisfaction", "safety", "pairing"):
        for figure, cells in data[section].items():
            if not isinstance(cells, dict):
                continue
            for group in ("platform", "topic", "group", "severity", "score", "bucket", "reason"):
                members = {k: v for k, v in cells.items() if k.startswith(group + ":")}
                hidden = [k for k, v in members.items() if v is None]
                if members and cells.get("all") is not None:
                    checked += 1
                    assert len(hidden) != 1, (section, figure, group)  # one alone = total minus the others
    assert checked > 20


async def test_the_report_as_csv_has_one_row_per_figure_per_cell(tmp_path: Path) -> None:
    db = tmp_path / "program.db"
    await seed_program(db)
    table = list(csv.DictReader(io.StringIO(report(db, "csv"))))
    assert list(table[0]) == ["section", "figure", "cell", "value", "note"]
    keys = [(r["section"], r["figure"], r["cell"]) for r in table]
    assert len(keys) == len(set(keys))
    by_key = {(r["section"], r["figure"], r["cell"]): r for r in table}
    assert by_key[("engagement", "members", "all")]["value"] == "40"
    hidden = by_key[("engagement", "members", "platform:discord")]
    assert hidden["value"] == "" and hidden["note"] == "fewer than 5"


async def test_the_html_report_is_one_self_contained_file_with_charts_and_notes(tmp_path: Path) -> None:
    db = tmp_path / "program.db"
    await seed_program(db)
    out = tmp_path / "report.html"
    report(db, "html", "--out", str(out))
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3
    for external in ("<script", "http://", "https://", "src=", "<link", "@import", "url("):
        assert external not in page, external
    assert "Active members per week" in page and "WHO-5 well-being, baseline and latest" in page
    assert "Time for a moderator to acknowledge" in page
    assert "average WHO-5 score rose from 40.0" in page and "Half of the alerts were acknowledged within 3.5" in page
    assert "fewer than 5" in page and "Name 1" not in page and "u1" not in page
    assert re.search(r"<li>Members: 40 \(10 joined\)", page)


async def test_the_report_refuses_bad_dates_and_a_missing_database(tmp_path: Path) -> None:
    missing = peerbot("report", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and "no database" in missing.stderr
    assert not (tmp_path / "none.db").exists()
    db = tmp_path / "program.db"
    await seed_program(db)
    bad = peerbot("report", "--db", str(db), "--from", "March")
    assert bad.returncode == 2 and "2026-03-31" in bad.stderr


async def test_moderators_get_the_headline_numbers_in_chat(tmp_path: Path) -> None:
    async with Box() as box:
        await box.play("mod> /peer mod report")
        report_text = "\n".join(box.texts("mod"))
        assert "Program figures" in report_text and "WHO-5" in report_text and "fewer than 5" in report_text
        assert "peerbot report --format html" in report_text  # the console takes no files


def test_the_survey_journey_script_baseline_then_follow_up_after_ninety_days(tmp_path: Path) -> None:
    from tests.test_scripts import SCRIPTS
    from tests.test_scripts import START as SCRIPT_START

    db = tmp_path / "journey.db"
    result = peerbot("demo", "--script", str(SCRIPTS / "survey_journey.txt"), "--json", "--start", SCRIPT_START,
                     "--db", str(db))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    offers = [m for m in out if m["buttons"] == ["Start", "Not now", "Never ask me"]]
    assert [m["t"] for m in offers] == ["2026-03-02T09:00:00+00:00", "2026-05-31T09:00:00+00:00"]
    assert "a while since the last survey" in offers[1]["text"]
    questions = [m["text"] for m in out if str(m["text"]).startswith("Question ")]
    assert len(questions) == 2 * 8 and "burnout" in questions[5] and "improve" in questions[7]
    export = next(str(m["text"]) for m in out if "peerbot-export.json" in str(m["text"]))
    surveys = json.loads(export[export.index("{"):])["surveys"]["surveys"]
    assert [s["kind"] for s in surveys] == ["baseline", "followup"]
    baseline, followup = (s["answers"] for s in surveys)
    assert sum(baseline[f"who5_{i}"] for i in range(1, 6)) * 4 == 36 and baseline["burnout"] == 3
    assert sum(followup[f"who5_{i}"] for i in range(1, 6)) * 4 == 76 and followup["satisfaction"] == 5
    reported = peerbot("report", "--db", str(db), "--from", "2026-03-01", "--to", "2026-06-30")
    assert reported.returncode == 0, reported.stderr
    data = json.loads(reported.stdout)
    assert data["wellbeing"]["who5_change_mean"]["all"] is None  # one member: below the privacy floor
    assert data["satisfaction"]["improvement_suggestions"] is None


async def test_where_the_platform_takes_files_the_moderator_gets_the_html_report(store: SQLiteStore, clock) -> None:
    from dataclasses import dataclass

    from bot.config import Settings
    from bot.events import CommandInvoked, ConversationRef, SendDirect, UserRef
    from bot.store import OutboxStatus
    from bot.wiring import build_app
    from tests.conftest import UnreliablePlatform

    @dataclass
    class FilePlatform(UnreliablePlatform):
        async def is_moderator(self, user: UserRef) -> bool:
            return True

    platform = FilePlatform(clock, capabilities=frozenset({"files", "ephemeral"}))
    app = build_app(Settings(), store, clock, {"console": platform})
    moderator = UserRef("console", "w", "mod")
    await app.handle(CommandInvoked(moderator, ConversationRef("console", "w", "dm:mod", kind="dm"), "mod report",
                                    clock.now()))
    pending = [i.action for i in await store.outbox.items(OutboxStatus.PENDING)]
    files = [a for a in pending if isinstance(a, SendDirect) and a.message.attachment_name == "peerbot-report.html"]
    assert len(files) == 1 and files[0].to == moderator
    assert files[0].message.attachment.startswith("<!DOCTYPE html>") and "<svg" in files[0].message.attachment


async def test_the_daily_purge_deletes_suggestions_older_than_the_retention_period(store: SQLiteStore) -> None:
    async with store.transaction() as tx:
        await tx.surveys.add_suggestion(datetime(2026, 1, 5).date(), "old")
        await tx.surveys.add_suggestion(datetime(2026, 3, 2).date(), "recent")
        counts = await tx.retention.purge(datetime(2026, 3, 1, tzinfo=UTC))
        assert counts["survey_suggestions"] == 1
        assert await tx.evaluation.suggestions(datetime(2025, 1, 1).date(), datetime(2027, 1, 1).date()) == ["recent"]


def test_pairing_records_the_wait_to_match_and_relayed_messages_for_the_figures(tmp_path: Path) -> None:
    from tests.test_scripts import SCRIPTS
    from tests.test_scripts import START as SCRIPT_START

    db = tmp_path / "pairs.db"
    result = peerbot("demo", "--script", str(SCRIPTS / "mentor_pairing.txt"), "--start", SCRIPT_START, "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert len(rows(db, "SELECT * FROM pairing_waits")) == len(rows(db, "SELECT * FROM pairings"))
    # Two messages were relayed in the script (the one in crisis was not passed on, so not counted).
    assert rows(db, "SELECT kind, SUM(count) FROM activity WHERE kind = 'pair' GROUP BY kind") == [("pair", 2)]
    data = json.loads(peerbot("report", "--db", str(db), "--from", "2026-03-01", "--to", "2026-03-31").stdout)
    assert data["pairing"]["active_pairs"]["all"] == len(rows(db, "SELECT * FROM pairings"))


async def test_members_who_joined_before_surveys_existed_are_offered_the_baseline_once(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    store = await SQLiteStore.open(str(db))
    await store.close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO members (id, pseudonym, consent_version, joined_at, onboarding_step) VALUES"
                     " (1, 'Old Owl 1', 1, '2025-06-01T10:00:00.000000Z', 'done')")
        conn.execute("INSERT INTO member_identities VALUES ('console', 'sandbox', 'zed', 1)")
    async with Box(db=db) as box:
        await box.play("~ 15m")
        assert len([t for t in box.texts("zed") if "anonymous survey" in t]) == 1
        await box.play("~ 1d")
        assert len([t for t in box.texts("zed") if "anonymous survey" in t]) == 1
    assert rows(db, "SELECT kind, state FROM surveys") == [("baseline", "offered")]


async def test_the_privacy_floor_comes_from_the_config(tmp_path: Path) -> None:
    db = tmp_path / "program.db"
    await seed_program(db)
    config = tmp_path / "peerbot.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{db}"\n\n[evaluation]\nmin_cell_size = 41\n', encoding="utf-8")
    result = peerbot("report", "--config", str(config), "--from", PERIOD[0], "--to", PERIOD[1])
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["period"]["min_cell_size"] == 41 and data["engagement"]["members"]["all"] is None  # 40 < 41
    config.write_text("[evaluation]\nmin_cell_size = 1\n", encoding="utf-8")
    bad = peerbot("report", "--config", str(config))
    assert bad.returncode == 2 and "evaluation.min_cell_size" in bad.stderr


async def test_forget_deletes_the_members_survey_answers_and_activity_and_leaves_no_trace(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play("alice> /peer join", "alice> [I agree]", "alice> [Looking for support]",
                       "alice> [Chronic pain]", "alice> [Done]", "alice> [English]", "alice> [Use UTC]",
                       "alice> [Daily]", "alice> [No, keep it to me]", "alice> [Start]",
                       *["alice> [Most of the time]"] * 5, "alice> [4 · Satisfied]", "alice> Longer evening hours",
                       "alice> /peer post chronic-pain hello there", "alice> /peer checkin now", "alice> [4 · Good]")
        await box.play("maya> /peer join", "maya> [I agree]", "maya> [Mentor]", "maya> [Chronic pain]",
                       "maya> [Done]", "maya> [Skip]", "maya> [Skip]", "maya> [Skip]", "mod> [Approve]",
                       "alice> /peer pair", "maya> [Accept]", "alice> [Start]", "alice> /peer say my relayed words")
        name = pseudonym_of_member(box, "alice")
        (alice_id,), = rows(db, "SELECT member_id FROM member_identities WHERE user_id = 'alice'")
        kinds = {r[0] for r in rows(db, f"SELECT kind FROM activity WHERE member_id = {alice_id}")}
        assert kinds == {"post", "checkin", "pair"}
        assert rows(db, f"SELECT COUNT(*) FROM surveys WHERE member_id = {alice_id}") == [(1,)]
        assert len(rows(db, "SELECT * FROM pairing_waits")) == 1
        await box.play("alice> /peer forget", "alice> [Delete everything]")
    for table in ("surveys", "survey_settings", "activity"):
        assert rows(db, f"SELECT COUNT(*) FROM {table} WHERE member_id = {alice_id}") == [(0,)], table
    assert rows(db, "SELECT COUNT(*) FROM pairing_waits") == [(0,)]
    with sqlite3.connect(db) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in conn.execute(f"SELECT * FROM {table}"):
                flat = " ".join(str(v) for v in row)
                assert "alice" not in flat and name not in flat and "relayed words" not in flat, table
    # The suggestion stays, as it was never tied to her: no member id, only its week.
    assert rows(db, "SELECT week, text FROM survey_suggestions") == [("2026-03-02", "Longer evening hours")]


def pseudonym_of_member(box: Box, member: str) -> str:
    found = [re.search(r"Your pseudonym is \*\*(.+?)\*\*", t) for t in box.texts(member)]
    return next(m.group(1) for m in found if m)


async def test_a_dm_long_after_the_last_question_is_an_ordinary_message_not_a_suggestion(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with Box(db=db) as box:
        await box.play(*lines("alice", *JOIN), "alice> [Start]", *["alice> [Most of the time]"] * 5)
        while "what should we improve?" not in box.texts("alice")[-1]:
            await box.play(f"alice> [{box.to('alice')[-1].choices[0].label}]")
        await box.play("~ 2h", "alice> is anyone around tonight?")
        assert "Thank you for the suggestion" not in box.texts("alice")[-1]
    assert rows(db, "SELECT COUNT(*) FROM survey_suggestions") == [(0,)]


def test_one_person_outside_a_topic_cannot_be_found_by_subtracting_the_topic_from_the_total() -> None:
    from bot.evaluation.figures import Period, ProgramData, compute
    from bot.store import MemberFacts, SurveyFacts

    start = datetime(2026, 1, 5, tzinfo=UTC)
    members = [MemberFacts(i, "console", ("diabetes",) if i <= 5 else (), None, start) for i in range(1, 7)]
    scores = {1: 3, 2: 3, 3: 3, 4: 3, 5: 3, 6: 1}  # member 6, the only one outside diabetes, answered low
    surveys = [SurveyFacts(i, kind, start + timedelta(days=day), (scores[i],) * 5, None, scores[i], None)
               for i in scores for kind, day in (("baseline", 1), ("followup", 40))]
    data = ProgramData(Period(start, start + timedelta(weeks=13)), members, [], {}, surveys, [], [], None)
    figures = compute(data, 5)
    assert figures.value("wellbeing", "who5_latest_mean") is not None  # six people: shown
    # 6 x all - 5 x diabetes would be member 6's own score: the topic cell is hidden with it
    for section, figure in (("wellbeing", "who5_latest_mean"), ("satisfaction", "program_mean")):
        found = figures.get(section, figure, "topic:diabetes")
        assert found is not None and found.suppressed and found.value is None, figure
    # ...while the cells about everyone (the same people as "all") stay
    assert figures.value("wellbeing", "who5_latest_mean", "platform:console") is not None


def test_a_cell_close_to_a_superset_is_hidden_but_not_one_far_from_it() -> None:
    cells = [cell("all", 40), cell("topic:a", 37), cell("topic:b", 20)]
    supersets = {"topic:a": frozenset({"all"}), "topic:b": frozenset({"all"})}
    hidden = {c.cell for c in suppress(cells, 5, supersets) if c.suppressed}
    assert "topic:a" in hidden  # 40 - 37 = 3 people would be exposed
    assert "all" not in hidden
