"""Detection quality on labelled sets the detector was never trained or tuned on.

Default sets: bench/data/blind_set_5.tsv (400 lines written independently, without sight of the detector) and
bench/data/dev_holdout.tsv (the 200 lines of an independent 600-line dev set kept out of training; the other 400 are
tests/data/screening_dev_train.tsv). Earlier blind sets were measured the same way, then moved into tests/data as
training data (screening_heldout1/2.tsv, screening_blind3/4.tsv).
Prints recall, false-alarm rate, and per-category figures for the detector as the bot runs it (lexicon plus learned
model) and, with --lexicon-only, for the lexicon alone. Keep these sets out of tests/data and out of
bench/train_screen_model.py, and never tune against them: their only use is an honest estimate on unseen wording.
Run: .venv/bin/python bench/bench_detector_quality.py [--lexicon-only] [FILE.tsv ...]
(format: label<TAB>category<TAB>text)
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.safety.detector import Detector

DATA = Path(__file__).resolve().parent / "data"
DEFAULTS = (DATA / "blind_set_5.tsv", DATA / "dev_holdout.tsv")


def measure(detector: Detector, path: Path) -> None:
    caught, positives, alarms, negatives = Counter(), Counter(), Counter(), Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        label, category, text = parts
        escalated = detector.screen(text).escalate
        if label == "pos":
            positives[category] += 1
            caught[category] += escalated
        else:
            negatives[category] += 1
            alarms[category] += escalated
    recall = sum(caught.values()) / max(1, sum(positives.values()))
    false_alarms = sum(alarms.values()) / max(1, sum(negatives.values()))
    print(f"{path.name}: recall {recall:.3f} ({sum(caught.values())}/{sum(positives.values())}), "
          f"false alarms {false_alarms:.3f} ({sum(alarms.values())}/{sum(negatives.values())})")
    for category in sorted(positives):
        print(f"  {category:<18} caught {caught[category]}/{positives[category]}")
    for category in sorted(negatives):
        print(f"  {category:<18} false alarms {alarms[category]}/{negatives[category]}")


if __name__ == "__main__":
    args = sys.argv[1:]
    detector = Detector.load(use_model="--lexicon-only" not in args)
    for name in [a for a in args if a != "--lexicon-only"] or [str(p) for p in DEFAULTS]:
        measure(detector, Path(name))
