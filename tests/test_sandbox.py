"""The sandbox contract end to end, over the real command line: script in, JSON out, idle markers, clock moves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import peerbot

START = "2026-03-02T09:00:00+00:00"


def messages(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_help_over_stdin_answers_alice_then_reports_idle() -> None:
    result = peerbot("demo", "--script", "-", "--json", stdin="alice> /peer help\n")
    assert result.returncode == 0, result.stderr
    lines = messages(result.stdout)
    assert lines[-1] == {"idle": 1}
    reply = lines[0]
    assert set(reply) == {"t", "to", "text", "buttons"}
    assert reply["to"] == "alice" and reply["buttons"] == []
    text = str(reply["text"])
    for verb in ("join", "post", "pair", "checkin", "export", "forget"):
        assert f"/peer {verb}" in text
    assert "988" in text  # a way to a human, always


def test_stdin_is_played_line_by_line_as_it_arrives() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERBOT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "demo", "--script", "-", "--json", "--start", START],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdin and proc.stdout
    try:
        seen: list[dict[str, object]] = []
        for number, line in enumerate(["alice> /peer help", "bob> /peer helpp"], start=1):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            while True:  # the answer arrives before the next line is even written
                entry = json.loads(proc.stdout.readline())
                seen.append(entry)
                if entry == {"idle": number}:
                    break
        assert [m["to"] for m in seen if "to" in m] == ["alice", "bob"]
        assert "Did you mean `/peer help`?" in str(seen[-2]["text"])
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_a_script_file_with_comments_channels_and_clock_moves(tmp_path: Path) -> None:
    script = tmp_path / "session.txt"
    script.write_text(
        "# a comment\n"
        "alice> /peer help\n"
        "\n"
        "#chronic-pain alice> hi all\n"
        "~ 2h\n"
        "bob> /peer whatever\n"
        "~ 1d\n"
        "#diabetes carol> /peer help\n"
        "mod> hello\n",
        encoding="utf-8",
    )
    result = peerbot("demo", "--script", str(script), "--json", "--start", START)
    assert result.returncode == 0, result.stderr
    out = messages(result.stdout)
    assert all("idle" not in m for m in out)  # idle markers are for --script -
    assert [(m["t"], m["to"]) for m in out] == [
        ("2026-03-02T09:00:00+00:00", "alice"),
        ("2026-03-02T11:00:00+00:00", "bob"),
        ("2026-03-03T11:00:00+00:00", "carol"),  # a command in a channel is answered privately
        ("2026-03-03T11:00:00+00:00", "mod"),
    ]
    # Nobody's channel post is echoed by the bot: "hi all" is the member's own message.
    assert not any(m["to"] == "#chronic-pain" for m in out)


def test_an_unplayable_line_is_reported_and_the_script_goes_on(tmp_path: Path) -> None:
    script = tmp_path / "bad.txt"
    script.write_text("alice> [I agree]\n#no-such-channel bob> hi\n~ soon\nalice> /peer help\n", encoding="utf-8")
    result = peerbot("demo", "--script", str(script), "--json")
    assert result.returncode == 1
    assert "line 1: alice has no message with a button [I agree]" in result.stderr
    assert "line 2: there is no channel #no-such-channel" in result.stderr
    assert "line 3: cannot read clock move" in result.stderr
    assert [m["to"] for m in messages(result.stdout)] == ["alice"]


def test_the_human_transcript_is_readable(tmp_path: Path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("alice> /peer help\n", encoding="utf-8")
    result = peerbot("demo", "--script", str(script), "--start", START)
    assert result.returncode == 0, result.stderr
    assert "> alice> /peer help" in result.stdout
    assert "peerbot → @alice" in result.stdout and "/peer join" in result.stdout


def test_db_keeps_the_sandbox_database(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    result = peerbot("demo", "--script", "-", "--json", "--db", str(db), stdin="alice> /peer help\n")
    assert result.returncode == 0, result.stderr
    assert db.is_file()
    listing = peerbot("outbox", "--status", "delivered", env={"PEERBOT_STORAGE__URL": f"sqlite:///{db}"})
    assert listing.returncode == 0, listing.stderr
    rows = messages(listing.stdout)
    assert rows[0] == {"counts": {"pending": 0, "delivered": 1, "dead": 0, "cancelled": 0}}
    assert rows[1]["kind"] == "SendDirect" and "text" not in rows[1]


def test_version_and_help() -> None:
    assert peerbot("--version").stdout.startswith("peerbot ")
    for command in ("run", "demo", "scan", "check-config"):
        result = peerbot(command, "--help")
        assert result.returncode == 0 and "usage: peerbot" in result.stdout


def test_run_with_the_console_serves_and_delivers_everything_before_it_stops(tmp_path: Path) -> None:
    """`peerbot run` on its built-in defaults: console adapter, SQLite peerbot.db, the real dispatcher loop."""
    result = peerbot("run", stdin="alice> i want to end my life\nbob> /peer help\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "peerbot → @alice" in result.stdout and "peerbot → #moderators" in result.stdout
    assert "peerbot → @bob" in result.stdout
    assert (tmp_path / "peerbot.db").is_file()
    assert "end my life" not in result.stderr  # logs carry ids, never what people wrote
