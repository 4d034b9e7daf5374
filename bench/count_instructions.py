"""Instructions per message of the detector bench mix, counted by valgrind's callgrind: deterministic, unlike the
wall clock of a shared machine, so two versions of the detector compare reliably.

Run: ``python bench/count_instructions.py [screen|norm|assess|lexicon]`` (valgrind must be installed; two runs
under callgrind take a few minutes). It runs the chosen part over the mix of ``bench/bench_detector.py`` with 0 and
with 10 rounds and prints the difference per message, so loading the lexicon is not counted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARTS = ("screen", "norm", "assess", "lexicon")
ROUNDS = 10


def run_part(part: str, rounds: int) -> None:
    """The measured work (run under valgrind by ``main``)."""
    from bench.bench_detector import MESSAGES
    from bot.safety.detector import Detector

    detector = Detector.load()
    normalizer, model = detector._normalizer, detector._model
    assert model is not None
    norms = [normalizer.normalize(text) for text in MESSAGES]
    benign = [model.assess(n.text, n.parts).probability < model.veto for n in norms]
    for text in MESSAGES:  # warm the per-word caches, as in a running bot
        detector.screen(text)
    for _ in range(rounds):
        if part == "screen":
            for text in MESSAGES:
                detector.screen(text)
        elif part == "norm":
            for text in MESSAGES:
                normalizer.normalize(text).parts  # noqa: B018 - the parts are part of the work
        elif part == "assess":
            for n in norms:
                model.assess(n.text, n.parts)
        else:
            for n, b in zip(norms, benign, strict=True):
                detector._screen_lexicon(n, b)
    sys.stdout.flush()
    os._exit(0)  # interpreter teardown is not part of the measurement


def count(part: str, rounds: int) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__, "--run", part,
         str(rounds)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"}, timeout=1800,
    )
    for line in result.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    raise SystemExit("callgrind printed no instruction count")


def main() -> None:
    if sys.argv[1:2] == ["--run"]:
        run_part(sys.argv[2], int(sys.argv[3]))
    part = sys.argv[1] if len(sys.argv) > 1 else "screen"
    if part not in PARTS:
        raise SystemExit(f"usage: python bench/count_instructions.py [{'|'.join(PARTS)}]")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt install valgrind)")
    from bench.bench_detector import MESSAGES

    per_message = (count(part, ROUNDS) - count(part, 0)) / (ROUNDS * len(MESSAGES))
    print(f"{part}: {per_message:,.0f} instructions per message of the bench mix")


if __name__ == "__main__":
    main()
