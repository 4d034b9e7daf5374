"""The sandbox scripts under tests/scripts/, played through the real command line: the journeys they document."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import peerbot

SCRIPTS = Path(__file__).parent / "scripts"
START = "2026-03-02T09:00:00+00:00"


def play(name: str, stdin: str | None = None) -> list[dict[str, object]]:
    result = peerbot("demo", "--script", str(SCRIPTS / name), "--json", "--start", START)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def texts(out: list[dict[str, object]], to: str) -> list[str]:
    return [str(m["text"]) for m in out if m["to"] == to]


def test_a_non_member_in_crisis_and_an_acknowledged_alert() -> None:
    out = play("crisis_dm_acknowledged.txt")
    assert out[0]["to"] == "sam" and "988" in str(out[0]["text"])
    assert out[1]["to"] == "#moderators" and out[1]["buttons"] == ["Acknowledge", "Resolve", "Reach out"]
    moderators = texts(out, "#moderators")
    assert not any("Re-page" in t for t in moderators)
    assert moderators[1].startswith("👀 Acknowledged") and moderators[-1].startswith("✅ Resolved")
    assert "Moderator: I'm here and I'm listening. Are you safe right now?" in texts(out, "sam")
    assert "Safety alert #1 · someone who has not joined peerbot: i dont know. everything hurts" in texts(out, "mod")
    assert not any("sam" in t for t in moderators + texts(out, "mod"))


def test_an_unacknowledged_alert_is_repaged_then_breached() -> None:
    out = play("crisis_unacknowledged.txt")
    assert "911" in texts(out, "alice")[0]  # imminent: the emergency number first
    pages = [(m["t"], str(m["text"])[:30]) for m in out if m["to"] == "#moderators"]
    assert [t for t, _ in pages] == ["2026-03-02T09:00:00+00:00", "2026-03-02T09:05:00+00:00",
                                     "2026-03-02T09:10:00+00:00", "2026-03-02T09:15:00+00:00",
                                     "2026-03-02T09:20:00+00:00", "2026-03-02T09:21:00+00:00"]
    assert "BREACH" in pages[4][1]
    report = texts(out, "mod")[-2]
    assert "Open safety alerts: 1" in report and "BREACHED" in report
    assert len([m for m in out if m["to"] == "#moderators"]) == 6  # acknowledged: quiet afterwards


def test_a_crisis_group_post_is_held_then_published_by_a_moderator() -> None:
    out = play("crisis_group_post_held.txt")
    channel = [m for m in out if m["to"] == "#chronic-pain"]
    assert len(channel) == 1  # only after the moderator's decision
    assert out.index(channel[0]) > max(i for i, m in enumerate(out) if "held" in str(m["text"]))
    assert any("a moderator will read it first" in t for t in texts(out, "alice"))


def test_the_whole_member_journey() -> None:
    out = play("member_journey.txt")
    alice = texts(out, "alice")
    pseudonym = re.search(r"Your pseudonym is \*\*(.+?)\*\*", alice[1]).group(1)
    (post,) = [m for m in out if m["to"] == "#chronic-pain"]
    assert str(post["text"]).startswith(f"**{pseudonym}**") and post["buttons"] == ["Reply"]
    assert any("/peer reply" in t for t in texts(out, "bob"))
    export = next(t for t in alice if "peerbot-export.json" in t)
    data = json.loads(export[export.index("{"):])
    assert data["profile"]["pseudonym"] == pseudonym and data["profile"]["topics"] == ["chronic-pain"]
    assert "is deleted" in alice[-2] and "You haven't joined yet" in alice[-1]
