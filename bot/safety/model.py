"""A learned second opinion for the crisis screen: logistic regression over words, word pairs and letter groups.

The lexicon finds explicit phrases and says why; this model scores the wording as a whole, so that phrasings no
rule lists ("don't intend to stick around much longer") are still escalated. It is trained by
``bench/train_screen_model.py`` on the labelled sets in ``tests/data`` and ships as a plain-text weight file
(``screen_model.tsv``); inference is a few set operations and one sum, in pure Python.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from bot.safety.normalize import split_words

BUILTIN_MODEL = Path(__file__).with_name("screen_model.tsv")

_WORD_RX = re.compile(r"[a-z0-9]+")
# a word right after one of these (up to three words on, within the clause) is marked as negated: "not ... hurt"
NEGATORS = frozenset(
    "not never no dont didnt doesnt wont wouldnt isnt arent wasnt havent hasnt nothing none nor without".split()
)


_SENTENCE_RX = re.compile(r"[.!?\n]+")


_EMPTY: frozenset[str] = frozenset()
_NO_TAGS: dict[str, frozenset[str]] = {}
_JOIN = " ".join
_ZEROS = itertools.repeat(0.0)  # the weight of a feature the model has none for
_NONES = (None, None, None)  # blanks for the pairs and skip pairs that span a clause break
Feature = str | tuple[str, str]


def feature(name: str) -> Feature:
    """A feature from its name in a weight file ("want _ die" is the skip pair ("want", "die"))."""
    a, sep, b = name.partition(" _ ")
    return (a, b) if sep else name


def feature_name(feat: Feature) -> str:
    return feat if isinstance(feat, str) else " _ ".join(feat)


FEATURES = frozenset({"concepts", "skip"})  # what the feature function below computes (checked on loading)


_XWORDS = frozenset({"but", "and", "though", "because"})  # the words that break clauses
_SENTENCE_CHARS = frozenset(".!?\n")
_CLAUSE_CHARS = frozenset(",;:")
_SPACE = " "


def _cuts(toks: list[str], seps: list[str]) -> tuple[list[tuple[int, int]], list[int]]:
    """Where the clauses of a text end, from its ``split_words`` parts (``toks``: the words, ``seps``: the
    separators between them): the clause breaks within sentences (end of a clause, start of the next), and the
    ends of sentences (where the next one starts, too), each in order.

    The same clauses, with the same words, as the regex split the model was first written with (kept as the
    tests' reference, tests/test_detector.py), without another pass over the text: every word is a run of
    letters and digits, which no break can cut; a separator with one of ".!?" or a newline ends a sentence (and
    its clause), one with ",;:" a clause; and one of the words in _XWORDS, with a space right before and after
    it, is a clause break and no word -- unless the break just before it took that space (the regex's matches do
    not overlap: in "x and but y" only " and " breaks)."""
    clauses: list[tuple[int, int]] = []
    ends: list[int] = []
    # separators other than " " (one found by an identity test: a separator " " is the one cached 1-character
    # string; were it another object, the tests below would find no break in it: the same cuts, a little slower)
    for k in itertools.compress(itertools.count(), map(operator.is_not, seps, itertools.repeat(_SPACE))):
        sep = seps[k]
        if not _SENTENCE_CHARS.isdisjoint(sep):
            ends.append(k + 1)
        elif not _CLAUSE_CHARS.isdisjoint(sep):
            clauses.append((k + 1, k + 1))
    if not _XWORDS.isdisjoint(toks):
        last = len(seps)
        taken = -1  # the last word that was a break (it took the space after it)
        for k in itertools.compress(itertools.count(), map(_XWORDS.__contains__, toks)):
            if (
                0 < k < last
                and seps[k - 1][-1] == " "
                and seps[k][0] == " "
                and not (taken == k - 1 and seps[k - 1] == " ")
            ):
                clauses.append((k, k + 1))
                taken = k
        clauses.sort()
    return clauses, ends


def _segments(parts: list[str]) -> list[tuple[list[str], bool]]:
    """The clauses of a text from its ``split_words`` parts: (words, a sentence ends after it), in order
    (see ``_cuts``)."""
    toks = parts[::2]
    clauses, ends = _cuts(toks, parts[1::2])
    out: list[tuple[list[str], bool]] = []
    start = 0
    for end, nxt, sentence in sorted([*((e, n, False) for e, n in clauses), *((e, e, True) for e in ends)]):
        out.append((toks[start:end], sentence))
        start = nxt
    out.append((toks[start:], True))
    if not toks[0]:  # the text starts with a separator
        out[0] = (out[0][0][1:], out[0][1])
    if len(toks) > 1 and not toks[-1]:  # ends with one
        out[-1] = (out[-1][0][:-1], out[-1][1])
    return out


def _sentences(text: str, tags: Mapping[str, frozenset[str]], parts: list[str] | None = None) -> list[set[Feature]]:
    """The features of each sentence of the text that has words (``parts``: ``split_words(text)``, if known)."""
    sents: list[set[Feature]] = []
    out: set[Feature] = set()
    concepts: set[str] = set()
    for words, sentence_end in _segments(split_words(text) if parts is None else parts):
        if words:
            out.update(words)
            out.update(map(_JOIN, itertools.pairwise(words)))
            out.update(zip(words, words[2:], strict=False))  # skip pairs are tuples: cheaper than strings
            tagged = tags.keys() & words
            for w in tagged:
                concepts.update(tags[w])
            if not NEGATORS.isdisjoint(words):
                # the up to three words after each negation word, up to the next one, in order: the same
                # words, added in the same order, as a walk over every word (the regex reference in the tests)
                negs = [*itertools.compress(itertools.count(), map(NEGATORS.__contains__, words)), len(words)]
                for j in range(len(negs) - 1):
                    q = negs[j]
                    for w in words[q + 1 : min(q + 4, negs[j + 1])]:
                        out.add("!" + w)
                        if w in tagged:
                            out.update(["!@" + c for c in tags[w]])
        if sentence_end:
            if out:
                if concepts:
                    out.update(["@" + c for c in concepts])
                    concepts = set()
                sents.append(out)
                out = set()
    return sents


def _sentence_sets(
    parts: list[str], concept_features: Mapping[str, tuple[str, ...]], negated_concepts: Mapping[str, tuple[str, ...]]
) -> list[set[Feature]]:
    """``_sentences`` for inference: equal sets (in another insertion order, which the model's order-free sum
    does not see), with less work per clause. The words, word pairs and skip pairs of the whole text are built
    in one pass each; at each clause break the pairs and skip pairs that span it, and the break word itself
    ("but"), are blanked (None), and every sentence then takes its slice of the three lists at once (dropping
    the None). The concepts come from per-word tables built on loading (``concept_features``: a tagged word ->
    its "@C" features, and every negation word -> its own, if any; ``negated_concepts``: a tagged word -> its
    "!@C" ones) instead of a set and strings per clause."""
    toks = parts[::2]
    n = len(toks)
    clauses, ends = _cuts(toks, parts[1::2])
    pairs: list[str | None] = list(map(_JOIN, itertools.pairwise(toks)))  # pairs[i]: "toks[i] toks[i+1]"
    skips: list[tuple[str, str] | None] = list(zip(toks, toks[2:], strict=False))  # skips[i]: (toks[i], toks[i+2])
    words: list[str | None] = toks
    if clauses:
        n_skips = len(skips)
        for end, nxt in clauses:  # clause [.., end), next clause [nxt, ..): nxt is end, or end + 1 past a break word
            pairs[end - 1 : nxt] = _NONES[: nxt - end + 1]  # the pairs with one word on each side (end >= 1)
            lo = end - 2 if end > 1 else 0
            hi = nxt if nxt < n_skips else n_skips
            skips[lo:hi] = _NONES[: hi - lo]  # the skip pairs across it (the same number: the lists keep lengths)
            if nxt > end:
                if words is toks:
                    words = toks.copy()  # parts is shared: read-only
                words[end] = None
    sents: list[set[Feature]] = []
    start = 0 if toks[0] else 1  # the text starts with a separator (an empty first "word")
    stop = n - 1 if n > 1 and not toks[-1] else n  # ends with one
    for end in [*ends, stop]:  # the sentences: [start, end) (no pair or skip pair crosses a sentence end)
        if end > start:
            sentence = words[start:end]
            out: set[Feature | None] = {
                *sentence,
                *pairs[start : end - 1],
                *(skips[start : end - 2] if end - start > 2 else ()),
            }
            out.discard(None)
            if out:
                marked = concept_features.keys() & sentence  # the tagged words, and any negation word
                for w in marked:
                    out.update(concept_features[w])
                if not NEGATORS.isdisjoint(marked):
                    _add_negated(out, toks, start, end, clauses, negated_concepts)
                sents.append(out)  # type: ignore[arg-type]  # None discarded
        start = end
    return sents


def _add_negated(
    out: set[Feature | None],
    toks: list[str],
    start: int,
    end: int,
    clauses: list[tuple[int, int]],
    negated_concepts: Mapping[str, tuple[str, ...]],
) -> None:
    """Add the negated words and concepts of the sentence toks[start:end], clause by clause, as _sentences."""
    for c_end, c_next in [*[c for c in clauses if start <= c[0] < end], (end, end)]:
        words = toks[start:c_end]
        start = c_next
        if NEGATORS.isdisjoint(words):
            continue
        negs = [*itertools.compress(itertools.count(), map(NEGATORS.__contains__, words)), len(words)]
        for j in range(len(negs) - 1):
            q = negs[j]
            for w in words[q + 1 : min(q + 4, negs[j + 1])]:
                out.add("!" + w)
                if w in negated_concepts:
                    out.update(negated_concepts[w])


def windows(
    text: str, tags: Mapping[str, frozenset[str]] | None = None, parts: list[str] | None = None
) -> list[set[Feature]]:
    """The features of each window of two neighbouring sentences (the whole text when it is one sentence):
    words, word pairs ("a b"), skip pairs (("want", "die"), "want _ die" in a weight file), words seen up to
    three words after a negation in the same clause ("!word"), and, with ``tags`` (word -> lexicon concepts),
    the concepts present ("@DEATH") and negated ("!@DEATH"). A message scores as its most alarming window,
    so that a risk sentence in a long chatty post is not diluted by the rest."""
    sents = _sentences(text, tags or _NO_TAGS, parts)
    if len(sents) <= 1:
        return sents
    return [a | b for a, b in itertools.pairwise(sents)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where the sentences that ``windows`` reads lie in the text (start, end), in order."""
    out: list[tuple[int, int]] = []
    start = 0
    for m in [*_SENTENCE_RX.finditer(text), None]:
        end = m.start() if m is not None else len(text)
        if _WORD_RX.search(text, start, end) is not None:
            out.append((start, end))
        if m is not None:
            start = m.end()
    return out


def features(text: str) -> set[Feature]:
    """All features of the text (the union of its windows)."""
    return set().union(*windows(text))


class Assessment(NamedTuple):
    probability: float
    window: int  # the most alarming window
    windows: list[set[Feature]]


_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class Opinion:
    probability: float
    category: str  # the likeliest category, for messages the lexicon found nothing in
    span: tuple[int, int]  # the most alarming sentence, as a span of the normalized text


class ScreenModel:
    """Immutable after loading; ``probability`` is thread-safe."""

    __slots__ = (
        "_concept_features",
        "_negated_concepts",
        "bias",
        "categories",
        "category_bias",
        "category_weights",
        "override",
        "tags",
        "threshold",
        "version",
        "veto",
        "weights",
    )  # fmt: skip

    def __init__(
        self,
        weights: Mapping[Feature, float],
        bias: float,
        threshold: float,
        category_weights: Mapping[str, Mapping[Feature, float]],
        category_bias: Mapping[str, float],
        version: str,
        tags: Mapping[str, frozenset[str]] | None = None,
        veto: float = 0.0,
        override: float = 1.0,
    ) -> None:
        self.override = override
        self.veto = veto
        self.tags = tags or {}
        self.weights = dict(weights)
        self.bias = bias
        self.threshold = threshold
        self.categories = tuple(category_bias)
        self.category_weights = {c: dict(w) for c, w in category_weights.items()}
        self.category_bias = dict(category_bias)
        self.version = version
        # per tagged word, the concept features it brings (sorted: the same tuple whatever the string hashing)
        # (and every negation word, with none if it has no tag: one pass over a sentence finds both)
        self._concept_features = dict.fromkeys(NEGATORS, ()) | {
            w: tuple(sorted("@" + c for c in cs)) for w, cs in self.tags.items()
        }
        self._negated_concepts = {w: tuple(sorted("!@" + c for c in cs)) for w, cs in self.tags.items()}

    @classmethod
    def load(cls, path: Path = BUILTIN_MODEL, tags: Mapping[str, frozenset[str]] | None = None) -> ScreenModel:
        """Read a weight file: ``# key value`` header lines, then ``feature<TAB>weight[<TAB>category=weight...]``.
        ``tags`` maps words to the lexicon's concepts, for a model trained with concept features."""
        meta: dict[str, str] = {}
        weights: dict[Feature, float] = {}
        cats: dict[str, dict[Feature, float]] = {}
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                line = line.rstrip("\n")
                if line.startswith("# "):
                    key, _, value = line[2:].partition(" ")
                    meta[key] = value
                    continue
                if not line:
                    continue
                try:
                    name, w, *rest = line.split("\t")
                    feat = feature(name)
                    if w:
                        weights[feat] = float(w)
                    for item in rest:
                        cat, _, cw = item.partition("=")
                        cats.setdefault(cat, {})[feat] = float(cw)
                except ValueError:
                    raise ValueError(f"{path}: line {n} is not feature<TAB>weight") from None
        try:
            bias = float(meta["bias"])
            threshold = float(meta["threshold"])
            cat_bias = {k: float(v) for k, v in (p.split("=") for p in meta["category_bias"].split())}
        except (KeyError, ValueError):
            raise ValueError(f"{path}: needs '# bias', '# threshold' and '# category_bias' header lines") from None
        if frozenset(meta.get("features", "").split()) != FEATURES:
            raise ValueError(f"{path}: '# features' must be {' '.join(sorted(FEATURES))} (what this code computes)")
        veto, override = float(meta.get("veto", "0")), float(meta.get("override", "1"))
        return cls(weights, bias, threshold, cats, cat_bias, meta.get("version", "?"), tags, veto, override)

    def windows(self, normalized: str, parts: list[str] | None = None) -> list[set[Feature]]:
        return windows(normalized, self.tags, parts)

    def assess(self, normalized: str, parts: list[str] | None = None) -> Assessment:
        """The probability that the text needs a moderator: that of its most alarming window. ``parts`` is
        ``split_words(normalized)`` when the caller has it already.

        A window scores ``bias`` plus the weights of its features, summed with ``math.fsum``: the correctly
        rounded sum, whatever order a set gives them in (a feature without a weight adds an exact 0.0)."""
        get = self.weights.get
        sents = _sentence_sets(
            split_words(normalized) if parts is None else parts, self._concept_features, self._negated_concepts
        )
        best_k = 0
        if len(sents) == 1:  # one sentence, one window (most messages)
            wins = sents
            best = self.bias + math.fsum(map(get, sents[0], _ZEROS))
        else:
            wins = list(map(set.union, sents, sents[1:]))  # a | b for each two neighbours (none for no sentence)
            best = -math.inf if wins else self.bias
            for k, win in enumerate(wins):
                z = self.bias + math.fsum(map(get, win, _ZEROS))
                if z > best:
                    best, best_k = z, k
        z = 30.0 if best > 30.0 else -30.0 if best < -30.0 else best  # max(-30.0, min(30.0, best)), without calls
        # tuple.__new__: the NamedTuple's own __new__ is a Python function, a frame per message
        return _new_tuple(Assessment, (1.0 / (1.0 + math.exp(-z)), best_k, wins))

    def probability(self, normalized: str) -> float:
        return self.assess(normalized).probability

    def opinion(self, normalized: str, assessment: Assessment | None = None) -> Opinion:
        """What the model would say about the text: its probability, likeliest category and sentence."""
        a = assessment or self.assess(normalized)
        feats = set().union(*a.windows)
        best, best_score = "suicidal_ideation", -math.inf
        for cat in self.categories:
            cw = self.category_weights.get(cat, {})
            s = self.category_bias[cat] + sum(map(cw.__getitem__, cw.keys() & feats))
            if s > best_score:
                best, best_score = cat, s
        spans = sentence_spans(normalized)
        if len(spans) > 1:  # of the two sentences of the window, the one that weighs more on its own
            w = self.weights
            pair = spans[a.window : a.window + 2]
            scores = [sum(map(w.__getitem__, w.keys() & self.windows(normalized[i:j])[0])) for i, j in pair]
            span = pair[scores.index(max(scores))]
        else:
            span = spans[0] if spans else (0, len(normalized))
        return Opinion(a.probability, best, span)
