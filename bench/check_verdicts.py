"""Verdict check for detector optimisations: the detector's answers must not change when only its speed does.

Screens every line of every ``.tsv`` under ``tests/data/`` and ``bench/data/`` and the benchmark's messages, each as
written and in a set of deterministic variants that drive the other code paths (upper case, leetspeak, spaced-out
letters, letter runs, look-alike letters, zero-width characters, curly apostrophes, emoji, a chatty sentence before,
two lines run together), with and without the learned model, and records ``(escalate, severity, categories,
matches)`` per message plus the normalized text.

    python bench/check_verdicts.py --record [--out FILE]   # write the reference (default bench/data/verdicts.jsonl.gz)
    python bench/check_verdicts.py [--against FILE]        # compare with it: exit 1 and list every difference

The reference is made from the code before an optimisation and committed with it, so any later change can be
checked against it too. The script runs itself with ``PYTHONHASHSEED=0``: which supporting words a concept rule
quotes (and, for a very few messages, whether an idiom shields it) depends on the iteration order of sets of strings,
so runs under different hash seeds differ and only runs under the same seed can be compared.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_detector import MESSAGES  # noqa: E402
from bot.safety.detector import Detector  # noqa: E402

DEFAULT = ROOT / "bench" / "data" / "verdicts.jsonl.gz"
_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7"})
_CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "i": "і"})
_CHATTY = "Had a long day at the clinic, the rota is a mess again. "


def _lines() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path in sorted([*(ROOT / "tests" / "data").glob("*.tsv"), *(ROOT / "bench" / "data").glob("*.tsv")]):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            text = line.split("\t", 2)[-1]
            out.append((f"{path.relative_to(ROOT)}:{n}", text))
    out.extend((f"bench_detector:{k}", text) for k, text in enumerate(dict.fromkeys(MESSAGES)))
    return out


def _spaced(text: str) -> str:
    words = text.split(" ")
    longest = max(range(len(words)), key=lambda k: len(words[k]))
    words[longest] = " ".join(words[longest])
    return " ".join(words)


def _dotted(text: str) -> str:
    return " ".join(".".join(w) if 3 <= len(w) <= 6 and w.isalpha() else w for w in text.split(" "))


def _runs(text: str) -> str:
    return " ".join(w + w[-1] * 3 if w[-1:].isalpha() else w for w in text.split(" "))


def _zero_width(text: str) -> str:
    return "\u200b".join(text[i : i + 3] for i in range(0, len(text), 3))


def _variants(key: str, text: str, following: str, rng: random.Random) -> Iterator[tuple[str, str]]:
    yield key, text
    yield f"{key}/upper", text.upper()
    yield f"{key}/leet", text.lower().translate(_LEET)
    yield f"{key}/spaced", _spaced(text)
    yield f"{key}/dotted", _dotted(text)
    yield f"{key}/runs", _runs(text)
    yield f"{key}/cyrillic", text.lower().translate(_CYRILLIC)
    yield f"{key}/zw", _zero_width(text)
    yield f"{key}/curly", text.replace("'", "’") + " 💊"
    yield f"{key}/chatty", _CHATTY + text
    yield f"{key}/joined", f"{text} {following}"
    yield f"{key}/sentences", f"{text}. {following}"
    words = text.split()
    if len(words) > 3:  # a random stretch of the words: phrasings no line has
        a = rng.randrange(len(words) - 2)
        yield f"{key}/cut", " ".join(words[a : a + rng.randrange(3, 9)])


def messages() -> list[tuple[str, str]]:
    lines = _lines()
    rng = random.Random(5)
    out: list[tuple[str, str]] = []
    for k, (key, text) in enumerate(lines):
        out.extend(_variants(key, text, lines[(k * 7 + 1) % len(lines)][1], rng))
    return out


def run() -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    msgs = messages()
    for mode, use_model in (("model", True), ("lexicon", False)):
        detector = Detector.load(use_model=use_model)
        for key, text in msgs:
            verdict = detector.screen(text).to_json()
            verdict["normalized"] = detector.normalize(text)
            results[f"{mode}|{key}"] = verdict
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--record", action="store_true", help="write the reference instead of comparing")
    ap.add_argument("--out", type=Path, default=DEFAULT)
    ap.add_argument("--against", type=Path, default=DEFAULT)
    args = ap.parse_args()
    results = run()
    if args.record:
        with gzip.open(args.out, "wt", encoding="utf-8") as fh:
            for key, verdict in results.items():
                fh.write(json.dumps({"key": key, **verdict}, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"recorded {len(results)} verdicts to {args.out}")
        return 0
    with gzip.open(args.against, "rt", encoding="utf-8") as fh:
        reference = {(row := json.loads(line)).pop("key"): row for line in fh}
    verdict_diffs = norm_diffs = 0
    for key in sorted(reference.keys() | results.keys()):
        ref, got = reference.get(key), results.get(key)
        if ref is None or got is None:
            print(f"MISSING {key}: reference {ref is not None}, now {got is not None}")
            verdict_diffs += 1
            continue
        if {k: v for k, v in ref.items() if k != "normalized"} != {k: v for k, v in got.items() if k != "normalized"}:
            verdict_diffs += 1
            was, now = json.dumps(ref, ensure_ascii=False), json.dumps(got, ensure_ascii=False)
            print(f"VERDICT {key}\n  was {was}\n  now {now}")
        elif ref["normalized"] != got["normalized"]:
            norm_diffs += 1
            print(f"NORMALIZED {key}\n  was {ref['normalized']!r}\n  now {got['normalized']!r}")
    escalated = sum(1 for v in results.values() if v["escalate"])
    print(f"{len(results)} messages screened ({escalated} escalated): {verdict_diffs} verdict differences, "
          f"{norm_diffs} normalized-text differences")  # fmt: skip
    return 1 if verdict_diffs or norm_diffs else 0


if __name__ == "__main__":
    if os.environ.get("PYTHONHASHSEED") != "0":  # string hashing decides some set orders: fix it (see above)
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    sys.exit(main())
