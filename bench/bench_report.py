"""The program report at scale: 10,000 members and 1,000,000 check-ins (plus surveys, activity, posts, safety cases
and pairings) on a real SQLite file, reported over 13 weeks as JSON and as HTML, the way `peerbot report` does it.

Prints: seconds to read the facts and compute the figures, and to render each format (target: report <= 5 s).
Run: .venv/bin/python bench/bench_report.py [--members 10000] [--checkins 1000000] [--db PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.evaluation import render
from bot.evaluation.report import build, period_for
from storage import open_store

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; the period is the 13 weeks from here
TOPICS = ["chronic-pain", "diabetes", "multiple-sclerosis", "heart-health", "mental-health", "caregiver",
          "staff-wellbeing"]
FMT = "%Y-%m-%dT%H:%M:%S.000000Z"


def stamp(when: datetime) -> str:
    return when.strftime(FMT)


async def seed(path: Path, members: int, checkins: int) -> None:
    store = await open_store(f"sqlite:///{path}")
    await store.close()
    rng = random.Random(11)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    with conn:
        conn.executemany(
            "INSERT INTO members (id, pseudonym, role, topics, consent_version, joined_at, onboarding_step)"
            " VALUES (?, ?, ?, ?, 1, ?, 'done')",
            [(m, f"Name {m}", rng.choice(["peer", "peer", "mentor", "staff"]),
              ",".join(rng.sample(TOPICS, rng.randint(1, 2))),
              stamp(START - timedelta(days=rng.randint(-60, 200)))) for m in range(1, members + 1)])
        conn.executemany("INSERT INTO member_identities VALUES (?, 'w', ?, ?)",
                         [(rng.choice(["slack", "discord", "console"]), f"u{m}", m) for m in range(1, members + 1)])
        per_member = checkins // members
        rows = []
        activity: dict[tuple[int, str], int] = {}
        for m in range(1, members + 1):
            for k in range(per_member):
                sent = START - timedelta(days=10) + timedelta(days=k, hours=rng.randint(0, 12))
                answered = rng.random() < 0.7
                rows.append((m, stamp(sent), stamp(sent), stamp(sent + timedelta(hours=1)) if answered else None,
                             rng.randint(1, 5) if answered else None))
                if answered:
                    week = (sent.date() - timedelta(days=sent.weekday())).isoformat()
                    activity[(m, week)] = activity.get((m, week), 0) + 1
            if len(rows) >= 200_000:
                conn.executemany("INSERT INTO checkins (member_id, due_at, sent_at, answered_at, mood)"
                                 " VALUES (?, ?, ?, ?, ?)", rows)
                rows = []
        conn.executemany("INSERT INTO checkins (member_id, due_at, sent_at, answered_at, mood) VALUES (?, ?, ?, ?, ?)",
                         rows)
        conn.executemany("INSERT INTO activity (member_id, week, kind, count) VALUES (?, ?, 'checkin', ?)",
                         [(m, week, n) for (m, week), n in activity.items()])
        surveys = []
        for m in range(1, members + 1, 2):
            base = [rng.randint(0, 5) for _ in range(5)]
            after = [min(5, max(0, v + rng.randint(-1, 2))) for v in base]
            surveys.append((m, "baseline", stamp(START - timedelta(days=80)), *base, rng.randint(1, 5)))
            surveys.append((m, "followup", stamp(START + timedelta(days=rng.randint(1, 80))), *after,
                            rng.randint(1, 5)))
        conn.executemany("INSERT INTO surveys (member_id, kind, state, items, offered_at, completed_at, who5_1, who5_2,"
                         " who5_3, who5_4, who5_5, satisfaction) VALUES (?, ?, 'completed', '', ?3, ?3, ?, ?, ?, ?, ?,"
                         " ?)", surveys)
        conn.executemany(
            "INSERT INTO group_posts (public_id, member_id, pseudonym, topic, platform, workspace, channel_id,"
            " outbox_key, created_at) VALUES (?, ?, 'x', ?, 'slack', 'w', 'c', ?, ?)",
            [(f"P{i}", rng.randint(1, members), rng.choice(TOPICS), f"k{i}",
              stamp(START + timedelta(minutes=rng.randint(0, 13 * 7 * 1440)))) for i in range(20_000)])
        cases = []
        for _ in range(500):
            opened = START + timedelta(minutes=rng.randint(0, 13 * 7 * 1440))
            cases.append((f"slack:w:u{rng.randint(1, members)}", rng.choice(["high", "concern", "imminent"]),
                          stamp(opened), stamp(opened), stamp(opened + timedelta(minutes=rng.randint(1, 40)))))
        conn.executemany("INSERT INTO escalations (platform, workspace, subject_key, subject_label, state, severity,"
                         " categories, location, opened_at, last_message_at, acknowledged_at) VALUES ('slack', 'w',"
                         " ?, 'x', 'resolved', ?, 'suicidal_ideation', 'DM', ?, ?, ?)", cases)
        mentors = list(range(1, 301))
        conn.executemany("INSERT INTO mentors (member_id, status, timezone, capacity, offered_at) VALUES"
                         " (?, 'approved', 'UTC', 3, ?)", [(m, stamp(START)) for m in mentors])
        conn.executemany("INSERT INTO pairings (mentee_id, mentor_id, state, shared_topics, started_at) VALUES"
                         " (?, ?, 'active', '', ?)",
                         [(1000 + i, mentors[i % len(mentors)], stamp(START + timedelta(days=i % 60)))
                          for i in range(600)])
    conn.close()


async def measure(path: Path) -> tuple[float, float, float, int]:
    store = await open_store(f"sqlite:///{path}")
    try:
        began = time.perf_counter()
        period = period_for(date(2026, 1, 5), date(2026, 4, 5), date(2026, 4, 5))
        async with store.transaction() as tx:
            figures = await build(tx, period, 5)
        built = time.perf_counter()
        render.to_json(figures)
        as_json = time.perf_counter()
        page = render.to_html(figures)
        as_html = time.perf_counter()
    finally:
        await store.close()
    return built - began, as_json - built, as_html - as_json, len(page)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--checkins", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="keep the database here (seeded if missing)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "report.db"
        if not path.exists():
            began = time.perf_counter()
            await seed(path, args.members, args.checkins)
            print(f"seeded {args.members:,} members and {args.checkins:,} check-ins in "
                  f"{time.perf_counter() - began:.1f} s")
        runs = [await measure(path) for _ in range(args.repeat)]
        for built, as_json, as_html, size in runs:
            total = built + max(as_json, as_html)
            print(f"report over 13 weeks: facts and figures {built:.2f} s, JSON {as_json * 1000:.1f} ms, "
                  f"HTML {as_html * 1000:.1f} ms ({size / 1024:.0f} KiB); total {total:.2f} s (target <= 5 s)")


if __name__ == "__main__":
    asyncio.run(main())
