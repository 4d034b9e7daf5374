"""`peerbot scan`: one message per line in, the contract's JSON per line out, with the configured lexicon."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import peerbot


def scan(lines: list[str], *args: str) -> list[dict[str, object]]:
    result = peerbot("scan", *args, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_scan_answers_one_json_object_per_line_in_the_contract_shape() -> None:
    out = scan(["my back is killing me today", "i want to kill myself tonight", ""])
    assert len(out) == 3
    for entry in out:
        assert set(entry) == {"escalate", "severity", "categories", "matches"}
    calm, crisis, empty = out
    assert calm == {"escalate": False, "severity": "none", "categories": [], "matches": []}
    assert crisis["escalate"] is True and crisis["severity"] == "imminent"
    assert "suicidal_ideation" in crisis["categories"] and crisis["matches"]
    assert empty["escalate"] is False


def test_scan_uses_the_configured_lexicon(tmp_path: Path) -> None:
    lexicon = tmp_path / "site.toml"
    lexicon.write_text('version = 7\nmode = "extend"\n\n[[entry]]\nid = "site_codeword"\n'
                       'category = "suicidal_ideation"\nseverity = "high"\nphrases = ["purple elephant protocol"]\n',
                       encoding="utf-8")
    config = tmp_path / "site-config.toml"  # not peerbot.toml: that one is read by default from the cwd
    config.write_text(f'[safety]\nlexicon_path = "{lexicon}"\n', encoding="utf-8")
    (builtin,) = scan(["starting the purple elephant protocol"])
    (custom,) = scan(["starting the purple elephant protocol"], "--config", str(config))
    assert builtin["escalate"] is False
    assert custom["escalate"] is True and custom["severity"] == "high"


def test_a_broken_lexicon_is_a_clear_error(tmp_path: Path) -> None:
    lexicon = tmp_path / "broken.toml"
    lexicon.write_text('version = 1\n[[entry]]\nid = "x"\ncategory = "nonsense"\nseverity = "high"\n'
                       'phrases = ["a"]\n', encoding="utf-8")
    result = peerbot("scan", stdin="hello\n", env={"PEERBOT_SAFETY__LEXICON_PATH": str(lexicon)})
    assert result.returncode == 2
    assert result.stderr.startswith("peerbot: safety.lexicon_path:") and "Traceback" not in result.stderr
