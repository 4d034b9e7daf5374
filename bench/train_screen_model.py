"""Train the screen's learned second opinion (bot/safety/screen_model.tsv) from labelled TSV sets.

Logistic regression over ``bot.safety.model.windows`` (words, word pairs, skip pairs, negated words and the
lexicon's concepts of the normalized text, per window of two sentences; a message is as alarming as its most alarming
window, and training follows that: multiple-instance learning on the top window), fitted with AdaGrad and L2 in pure
Python (no dependencies), deterministic. The escalation threshold is chosen out of fold: the lowest threshold whose
out-of-fold false alarms stay within --max-false-alarms (default 0.08, the project's bar). A one-vs-rest model per
category names the category when only the model fires. Letter n-grams (3-5), stems and concept pairs were tried and
did no better out of fold.

Run: .venv/bin/python bench/train_screen_model.py [--out PATH] [TRAIN.tsv ...]
(default training data: every tests/data/*.tsv). Never pass a blind set or bench/data/dev_holdout.tsv as training data.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.safety.detector import CATEGORIES, Detector  # noqa: E402
from bot.safety.model import BUILTIN_MODEL, FEATURES, Feature, feature_name, windows  # noqa: E402

Row = tuple[int, str, list[set[Feature]]]  # label (1 = escalate), category, the features of each window


def read(paths: list[Path], detector: Detector) -> tuple[list[Row], list[str]]:
    tags = detector.concept_tags()
    rows: list[Row] = []
    origin: list[str] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) != 3:
                continue
            label, category, text = parts
            wins = windows(detector.normalize(text), tags)
            if wins:
                rows.append((1 if label == "pos" else 0, category, wins))
                origin.append(path.name)
    return rows, origin


def fit(
    rows: list[Row], target: list[int], epochs: int, l2: float, rate: float, seed: int
) -> tuple[dict[Feature, float], float]:
    """Weighted logistic regression (both classes weigh the same in total), AdaGrad, L2 on the weights."""
    pos = sum(target) or 1
    neg = (len(target) - sum(target)) or 1
    cw = {1: len(target) / (2 * pos), 0: len(target) / (2 * neg)}
    w: dict[Feature, float] = {}
    g2: dict[Feature, float] = {}
    b, gb2 = 0.0, 1e-8
    order = list(range(len(rows)))
    rnd = random.Random(seed)
    for _ in range(epochs):
        rnd.shuffle(order)
        for i in order:
            y = target[i]
            # multiple-instance learning: the message is as alarming as its most alarming window
            z, feats = max(((b + sum(w.get(f, 0.0) for f in win), win) for win in rows[i][2]), key=lambda x: x[0])
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            g = (p - y) * cw[y]
            for f in feats:
                wf = w.get(f, 0.0)
                gf = g + l2 * wf
                acc = g2.get(f, 1e-8) + gf * gf
                g2[f] = acc
                w[f] = wf - rate * gf / math.sqrt(acc)
            gb2 += g * g
            b -= rate * g / math.sqrt(gb2)
    return w, b


def prob(w: dict[Feature, float], b: float, wins: list[set[Feature]]) -> float:
    z = max(b + sum(w.get(f, 0.0) for f in win) for win in wins)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=BUILTIN_MODEL)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--rate", type=float, default=0.2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--max-false-alarms", type=float, default=0.08)
    ap.add_argument("--veto", type=float, default=0.05,
                    help="a lexicon finding below imminent is dropped when the model's probability is below this")
    ap.add_argument("--override", type=float, default=0.9,
                    help="the probability the model needs to overrule a lexicon context rule (idiom, negation...)")
    ap.add_argument("--calibrate-on", nargs="*", metavar="NAME", default=[],
                    help="training file names whose out-of-fold false alarms set the threshold (default: all)")
    ap.add_argument("--prune", type=float, default=0.002)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    paths = args.train or sorted((ROOT / "tests" / "data").glob("*.tsv"))
    detector = Detector.load(use_model=False)
    rows, origin = read(paths, detector)
    target = [r[0] for r in rows]
    print(f"training on {len(rows)} lines ({sum(target)} positive) from {len(paths)} files")
    # out-of-fold probabilities choose the threshold honestly
    rnd = random.Random(args.seed)
    fold = [rnd.randrange(args.folds) for _ in rows]
    oof = [0.0] * len(rows)
    for k in range(args.folds):
        train = [i for i in range(len(rows)) if fold[i] != k]
        w, b = fit([rows[i] for i in train], [target[i] for i in train], args.epochs, args.l2, args.rate, args.seed)
        for i in range(len(rows)):
            if fold[i] == k:
                oof[i] = prob(w, b, rows[i][2])
    # optionally calibrated on some files only (e.g. sets written independently, the way people chat)
    calib = [i for i in range(len(rows)) if origin[i] in args.calibrate_on] or list(range(len(rows)))
    negs = sorted((oof[i] for i in calib if not target[i]), reverse=True)
    allowed = int(args.max_false_alarms * len(negs))
    threshold = max(0.05, min(0.999, negs[allowed] + 1e-6 if allowed < len(negs) else 0.05))
    for name, idx in (("calibration sets", calib), ("all", range(len(rows)))):
        pos = [oof[i] for i in idx if target[i]]
        neg = [oof[i] for i in idx if not target[i]]
        recall = sum(p >= threshold for p in pos) / len(pos)
        alarms = sum(p >= threshold for p in neg) / len(neg)
        print(f"threshold {threshold:.3f} out of fold on {name}: recall {recall:.3f}, false alarms {alarms:.3f}")
    w, b = fit(rows, target, args.epochs, args.l2, args.rate, args.seed)
    # per-category one-vs-rest among the positives
    pos_rows: list[Row] = [(r[0], r[1], [set().union(*r[2])]) for r in rows if r[0]]
    cat_w: dict[str, dict[Feature, float]] = {}
    cat_b: dict[Feature, float] = {}
    for cat in CATEGORIES:
        t = [1 if r[1] == cat else 0 for r in pos_rows]
        if sum(t):
            cat_w[cat], cat_b[cat] = fit(pos_rows, t, args.epochs, args.l2, args.rate, args.seed)
    keep = {f for f, v in w.items() if abs(v) >= args.prune}
    for cw in cat_w.values():
        keep |= {f for f, v in cw.items() if abs(v) >= args.prune * 5}
    counts = Counter[str]()
    with args.out.open("w", encoding="utf-8") as out:
        out.write("# version 1\n")
        out.write(f"# trained_on {' '.join(p.name for p in paths)}\n")
        out.write(f"# features {' '.join(sorted(FEATURES))}\n")
        out.write(f"# veto {args.veto}\n# override {args.override}\n")
        out.write(f"# bias {b:.5f}\n# threshold {threshold:.4f}\n")
        out.write("# category_bias " + " ".join(f"{c}={v:.4f}" for c, v in cat_b.items()) + "\n")
        for f in sorted(keep, key=feature_name):
            v = w.get(f, 0.0)
            cols = [feature_name(f), f"{v:.4f}" if abs(v) >= args.prune else ""]
            for cat, cw in cat_w.items():
                cv = cw.get(f, 0.0)
                if abs(cv) >= args.prune * 5:
                    cols.append(f"{cat}={cv:.4f}")
                    counts[cat] += 1
            out.write("\t".join(cols) + "\n")
    print(f"wrote {args.out} ({len(keep)} features)")


if __name__ == "__main__":
    main()
