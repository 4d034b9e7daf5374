"""Detection quality on a labelled set the lexicon was never tuned on (default: bench/data/blind_set_3.tsv).

Prints recall, false-alarm rate, and per-category figures. Keep blind sets out of tests/data and never tune the
lexicon against them: their only use is an honest estimate of how the detector does on unseen wording.
Run: .venv/bin/python bench/bench_detector_quality.py [FILE.tsv ...]   (format: label<TAB>category<TAB>text)
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.safety.detector import Detector

DEFAULT = Path(__file__).resolve().parent / "data" / "blind_set_3.tsv"


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
    detector = Detector.load()
    for name in sys.argv[1:] or [str(DEFAULT)]:
        measure(detector, Path(name))
