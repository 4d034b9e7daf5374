"""Crisis-language detector: screens one chat message for suicide, self-harm, overdose and violence risk.

The lexicon (phrases in a small pattern syntax, context rules) is TOML data compiled once at load time;
``Detector.screen`` is then pure, thread-safe and fast. It never logs or prints message text.
"""

from __future__ import annotations

import bisect
import enum
import functools
import itertools
import operator
import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from bot.safety.model import BUILTIN_MODEL as BUILTIN_MODEL_PATH
from bot.safety.model import Assessment, ScreenModel
from bot.safety.normalize import Normalized, Normalizer, filler_regex, fuzzy_variants, squeeze, trie_regex

BUILTIN_LEXICON = Path(__file__).with_name("lexicon.toml")

CATEGORIES = (
    "suicidal_ideation",
    "self_harm",
    "plan_means",
    "overdose_medical",
    "harm_to_others",
    "goodbye_finality",
    "third_party",
)
# Categories that, with a time or means mention in the same message, raise the severity.
_INTENT = frozenset(CATEGORIES) - {"third_party"}


class Severity(enum.IntEnum):
    """How urgently a message needs a human: ordered, so ``max()`` and comparisons work."""

    NONE = 0
    CONCERN = 1
    HIGH = 2
    IMMINENT = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, s: str) -> Severity:
        try:
            return cls[s.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {s!r} (expected none, concern, high or imminent)") from None


@dataclass(frozen=True, slots=True)
class Screening:
    """The verdict on one message. ``matches`` are excerpts of the original text."""

    severity: Severity
    categories: tuple[str, ...]
    matches: tuple[str, ...]

    @property
    def escalate(self) -> bool:
        return self.severity >= Severity.CONCERN

    def to_json(self) -> dict[str, Any]:
        return {
            "escalate": self.escalate,
            "severity": self.severity.label,
            "categories": list(self.categories),
            "matches": list(self.matches),
        }


_NOTHING = Screening(Severity.NONE, (), ())
_QUOTE_MAX = 200  # characters of the sentence quoted for a finding of the learned model
# the lexicon found candidate phrases but its context rules (idiom, negation, talk about the topic, someone
# else) set them all aside: told apart from _NOTHING by identity, inside the detector only
_SUPPRESSED = Screening(Severity.NONE, (), ())


class LexiconError(ValueError):
    """A lexicon file is malformed; the message names the file and the entry or key at fault."""


# --------------------------------------------------------------------------------------------------
# Pattern syntax (documented in lexicon.toml): words, {a|b} choice, [a|b] optional, <slot>, word*,
# ... (a gap of a few words) and # (a number).


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    prefix: bool


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str


@dataclass(frozen=True, slots=True)
class _Gap:
    pass


@dataclass(frozen=True, slots=True)
class _Num:
    big: bool


@dataclass(frozen=True, slots=True)
class _End:
    pass


@dataclass(frozen=True, slots=True)
class _Group:
    options: tuple[tuple[_Node, ...], ...]
    optional: bool


_Node = _Word | _Slot | _Gap | _Num | _End | _Group
_Seq = tuple[_Node, ...]


class _PatternError(Exception):
    pass


_PHRASE_CHARS = re.compile(r"[a-z0-9 {}\[\]|<>_*.#$]*")
_WORD_TOKEN = re.compile(r"[a-z0-9]+(\*)?")
_SLOT_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _clean(phrase: str) -> str:
    return phrase.lower().replace("'", "").replace("’", "").replace("-", " ")


def _parse(phrase: str, drop: re.Pattern[str] | None = None) -> _Seq:
    """Parse a phrase; with ``drop``, filler words are removed first (as they are from messages)."""
    src = _clean(phrase)
    if _PHRASE_CHARS.fullmatch(src) is None:
        char = next(c for c in src if not _PHRASE_CHARS.fullmatch(c))
        raise _PatternError(f"character {char!r} is not allowed")
    lenient = drop is not None
    if drop is not None:
        _parse(phrase)  # report syntax errors against what the author wrote
        src = drop.sub("", src)
    seq, i = _parse_seq(src, 0, "", lenient)
    if i != len(src):
        raise _PatternError(f"unexpected {src[i]!r} at position {i} (use {{a|b}} for a choice)")
    if not seq and not lenient:
        raise _PatternError("empty phrase")
    return seq


def _parse_seq(src: str, i: int, closer: str, lenient: bool = False) -> tuple[_Seq, int]:
    items: list[_Node] = []
    n = len(src)
    while i < n:
        c = src[i]
        if c == " ":
            i += 1
        elif c == "|" or (closer and c == closer):
            break
        elif c in "{[":
            close = "}" if c == "{" else "]"
            options: list[_Seq] = []
            emptied = False
            i += 1
            while True:
                seq, i = _parse_seq(src, i, close, lenient)
                if i >= n:
                    raise _PatternError(f"missing {close!r}")
                if not seq and not lenient:
                    raise _PatternError(f"empty choice inside {c}...{close}")
                if seq:
                    options.append(seq)
                else:
                    emptied = True  # a choice that was only filler words: the group becomes optional
                if src[i] == "|":
                    i += 1
                    continue
                if src[i] == close:
                    i += 1
                    break
                raise _PatternError(f"unexpected {src[i]!r} inside {c}...{close}")
            if options:
                items.append(_Group(tuple(options), optional=c == "[" or emptied))
        elif c == "<":
            j = src.find(">", i)
            name = src[i + 1 : j].strip() if j > 0 else ""
            if j < 0 or not _SLOT_NAME.fullmatch(name):
                raise _PatternError("a slot is written <name>")
            items.append(_Slot(name))
            i = j + 1
        elif src.startswith("...", i):
            items.append(_Gap())
            i += 3
        elif c == "#":
            big = src.startswith("##", i)
            items.append(_Num(big))
            i += 2 if big else 1
        elif c == "$":
            items.append(_End())
            i += 1
        else:
            m = _WORD_TOKEN.match(src, i)
            if m is None:
                raise _PatternError(f"unexpected {c!r} at position {i}")
            items.append(_Word(m.group(0).rstrip("*"), m.group(1) is not None))
            i = m.end()
    return tuple(items), i


_TENS = (
    "(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[ ]?(?:one|two|three|four|five|six|seven|eight|nine))?"
)
_BIG_WORDS = (
    "five|six|seven|eight|nine|ten|eleven|twelve|fifteen|a dozen|dozens of|a hundred|hundred|several|a handful of|"
    "handful of|a bunch of|loads of|a load of|a ton of|tons of|lots of|a lot of|all|half a|"
    "(?:a|one|two|three) (?:box|boxes|pack|packs|packet|packets|strips?|sheets?|bottles?) of|" + _TENS
)
_NUM_RE = rf"(?:\d+(?:[.,]\d+)?\+?|one|two|three|four|a few|a couple of|a couple|couple of|some|{_BIG_WORDS})"
_BIG_NUM_RE = rf"(?:(?:[5-9]|[1-9]\d+)(?:[.,]\d+)?\+?|{_BIG_WORDS})"
_END_RE = r"(?=[ ]*(?:[.!?,;:)\n]|$))"
_GAP_RE = r"(?:[ ,]+[^ .!?\n]+){0,4}"
_STOP = frozenset(
    "i im me my a an the to of and or in on at it is be am are was so just you your he she they his her "
    "their him them we us our not no do dont for with".split()
)
# everyday chat words (squeezed): a rule is better indexed under a part without them, so that ordinary
# messages wake few rules (only the choice of index changes: every part of a rule is still required)
_COMMON = frozenset(
    "this that these those about had has have having ive been was were what when where who why how its thats "
    "there here want wanted need needed like get got getting can cant could would wil wont shoud know think "
    "thinking make made time day days night today going go back again anyone someone everyone feel feling "
    "take took taken much many some any more most all out from into over after before still even one two "
    "work shift home thing things realy ok okay good bad new last first next way did doing done say said "
    "tel told see saw look also because but then than if as by up down off".split()
)


class _Compiler:
    """Turns parsed phrases into regular expressions over normalized text, and finds gating anchors."""

    def __init__(self, slots: Mapping[str, Sequence[str]], drop: re.Pattern[str] | None) -> None:
        self._raw = slots
        self._drop = drop
        self._parsed: dict[str, _Seq] = {}
        self._regex: dict[str, str] = {}
        self._anchor: dict[str, frozenset[str] | None] = {}
        self._busy: set[str] = set()
        self.sep = "[,.!;:]?[ ]?"  # neighbouring words may have a comma or a sentence break between them

    def parse(self, phrase: str) -> _Seq:
        return _parse(phrase, self._drop)

    @staticmethod
    def _word_re(word: str, prefix: bool = False) -> str:
        # each letter may be repeated ("kiiill"): written "kk*" rather than "k+" (the same strings, tried in the
        # same order), so that each choice of a branch opens with a plain letter, which the engine compares
        # before it enters the choice, and choices that open with the same letter share it (a trie, in effect)
        body = "".join(c + c + "*" if c.isalpha() else re.escape(c) for c in word)
        return body + ("[a-z]*" if prefix else "")

    def slot(self, name: str) -> _Seq:
        if name not in self._parsed:
            if name not in self._raw:
                raise _PatternError(f"unknown slot <{name}>")
            alts = self._raw[name]
            try:
                options = tuple(seq for seq in (self.parse(a) for a in alts) if seq)
            except _PatternError as exc:
                raise _PatternError(f"in slot <{name}>: {exc}") from None
            self._parsed[name] = (_Group(options, optional=len(options) < len(alts)),)
        return self._parsed[name]

    def regex(self, seq: _Seq) -> str:
        parts: list[str] = []
        placed = False
        gap = False
        leading: list[str] = []
        for item in seq:
            if isinstance(item, _End):
                parts.extend(leading)
                leading = []
                parts.append(_END_RE)
                placed = True
                continue
            if isinstance(item, _Gap):
                if not placed:
                    raise _PatternError("'...' cannot start a phrase")
                gap = True
                continue
            body = self._node_re(item)
            optional = self._optional(item)
            if not placed:
                if optional:
                    leading.append(f"(?:{body}{self.sep})?")
                    continue
                parts.extend(leading)
                parts.append(body)
                placed = True
                continue
            joint = f"{_GAP_RE},?[ ]" if gap else self.sep
            gap = False
            parts.append(f"(?:{joint}{body})?" if optional else f"{joint}{body}")
        if not placed:
            raise _PatternError("every part is optional, so it would match empty text")
        if gap:
            raise _PatternError("'...' cannot end a phrase")
        return "".join(parts)

    def _group_re(self, options: Sequence[_Seq]) -> str:
        words = [o[0] for o in options if len(o) == 1 and isinstance(o[0], _Word)]
        if len(words) < 2 or len(words) != len(options):
            return "(?:" + "|".join(self.regex(opt) for opt in options) + ")"
        # a choice of single words: a letter trie keeps big lists fast ("f+r+i+e+n+d+(?:s+)?")
        root: dict[str, Any] = {}
        for w in words:
            node = root
            for c in w.text:
                node = node.setdefault(c, {})
            node["*" if w.prefix else ""] = {}

        def build(node: dict[str, Any]) -> str:
            alts = [self._word_re(c) + build(child) for c, child in sorted(node.items()) if c not in ("", "*")]
            if "*" in node:
                alts.append("[a-z]*")
            if not alts:
                return ""
            body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
            return f"(?:{body})?" if "" in node and "*" not in node else body

        return "(?:" + build(root) + ")"

    def _optional(self, node: _Node) -> bool:
        if isinstance(node, _Slot):
            group = self.slot(node.name)[0]
            return isinstance(group, _Group) and group.optional
        return isinstance(node, _Group) and node.optional

    def _node_re(self, node: _Node) -> str:
        if isinstance(node, _Word):
            return self._word_re(node.text, node.prefix)
        if isinstance(node, _Num):
            return _BIG_NUM_RE if node.big else _NUM_RE
        if isinstance(node, _Slot):
            if node.name not in self._regex:
                if node.name in self._busy:
                    raise _PatternError(f"slot <{node.name}> refers to itself")
                self._busy.add(node.name)
                try:
                    group = self.slot(node.name)[0]
                    assert isinstance(group, _Group)
                    self._regex[node.name] = self._group_re(group.options)
                finally:
                    self._busy.discard(node.name)
            return self._regex[node.name]
        if isinstance(node, _Group):
            return self._group_re(node.options)
        raise _PatternError("'...' must stand between two words")

    def first_words(self, seq: _Seq) -> set[_Word] | None:
        """Words that can start a match (None when a number or similar can start it)."""
        out: set[_Word] = set()
        for item in seq:
            if isinstance(item, _Word):
                out.add(item)
                return out
            if isinstance(item, _Slot | _Group):
                group = self.slot(item.name)[0] if isinstance(item, _Slot) else item
                assert isinstance(group, _Group)
                for opt in group.options:
                    sub = self.first_words(opt)
                    if sub is None:
                        return None
                    out |= sub
                if not self._optional(item):
                    return out
                continue
            return None
        return out

    def lead(self, seq: _Seq) -> str:
        """A cheap look-ahead on the first word, so the engine skips hopeless positions quickly."""
        words = self.first_words(seq)
        if not words or len(words) < 2:
            return ""
        return "(?=" + self._group_re([(w,) for w in sorted(words, key=lambda w: (w.text, w.prefix))]) + ")"

    def requirements(self, seq: _Seq) -> list[frozenset[str]]:
        """For each required part of the phrase, the squeezed words of which one must occur."""
        out = [a for a in map(self._node_anchors, seq) if a is not None]
        out.sort(
            key=lambda a: (
                not any(w in _STOP or len(w) < 3 for w in a),
                not any(w in _COMMON for w in a),
                min(len(w) for w in a),
                -len(a),
            )
        )
        return out[::-1]  # best (rarest-looking) first

    def anchors(self, seq: _Seq) -> frozenset[str] | None:
        """Squeezed literals of which at least one must occur in any match (None: none is required)."""
        best: frozenset[str] | None = None
        best_score: tuple[int, int, int] = (-1, 0, 0)
        for item in seq:
            cand = self._node_anchors(item)
            if cand is None:
                continue
            common = any(w in _STOP or len(w) < 3 for w in cand)
            score = (0 if common else 1, min(len(w) for w in cand), -len(cand))
            if score > best_score:
                best, best_score = cand, score
        return best

    def _node_anchors(self, node: _Node) -> frozenset[str] | None:
        if isinstance(node, _Word):
            return frozenset({squeeze(node.text)})
        if isinstance(node, _Slot):
            if self._optional(node):
                return None
            if node.name not in self._anchor:
                group = self.slot(node.name)[0]
                self._anchor[node.name] = self._node_anchors(_Group(group.options, False))
            return self._anchor[node.name]
        if isinstance(node, _Group) and not node.optional:
            out: set[str] = set()
            for opt in node.options:
                sub = self.anchors(opt)
                if sub is None:
                    return None
                out |= sub
            return frozenset(out)
        return None

    def words(self, seq: _Seq) -> Iterable[str]:
        for item in seq:
            if isinstance(item, _Word):
                yield item.text
            elif isinstance(item, _Group):
                for opt in item.options:
                    yield from self.words(opt)


def _third_person(seq: _Seq, swap: Mapping[str, str]) -> _Seq | None:
    """The same phrase said about someone else (<i> -> <they> ...), or None if it has no first person."""

    def has_first(node: _Node) -> bool:
        if isinstance(node, _Slot):
            return node.name in swap
        if isinstance(node, _Group):
            return any(has_first(n) for opt in node.options for n in opt)
        return False

    def sub(items: _Seq) -> _Seq:
        out: list[_Node] = []
        for n in items:
            if isinstance(n, _Slot) and n.name in swap:
                out.append(_Slot(swap[n.name]))
            elif isinstance(n, _Group):
                options = n.options
                if not n.optional:  # a required choice keeps only the ways that name the person
                    options = tuple(o for o in options if any(has_first(x) for x in o)) or options
                out.append(_Group(tuple(sub(o) for o in options), n.optional))
            else:
                out.append(n)
        return tuple(out)

    if not any(has_first(n) for n in seq):
        return None
    mandatory = any(has_first(n) and not (isinstance(n, _Group) and n.optional) for n in seq)
    items = sub(seq)
    if not mandatory:  # "[<i>] want to die" must name the other person: "<they> want to die"
        items = tuple(
            _Group(tuple(sub(opt) for opt in o.options if any(has_first(x) for x in opt)), False)
            if isinstance(o, _Group) and o.optional and has_first(o)
            else n
            for n, o in zip(items, seq, strict=True)
        )
    return items


# --------------------------------------------------------------------------------------------------
# The concept layer: words are tagged with concepts (SELF, DEATH, MEANS, ...), and rules fire on
# combinations of concepts near each other. Everything is plain dict lookups over word tokens.

_new_tuple = tuple.__new__
_CSPLIT = re.compile(r"([^a-z0-9][^a-z0-9]*)")  # as split_words: "[^a-z0-9]+", written so the engine skips faster
_DIGIT_RX = re.compile(r"[0-9]")


def _numbers(toks: list[str], seps: list[str]) -> Iterable[tuple[int, float, bool]]:
    """The numbers among the words: (k, value, decimal) for a number starting at word k; a decimal is
    written "2.4" (a point between two runs of digits, the second one or two long) and spans two words."""
    n = len(toks)
    skip = -1
    for k, tok in enumerate(toks):
        if k == skip or not tok.isdigit():
            continue
        if k + 1 < n and seps[k] == "." and toks[k + 1].isdigit() and len(toks[k + 1]) <= 2:
            skip = k + 1
            yield k, float(f"{tok}.{toks[k + 1]}"), True
        else:
            yield k, float(tok), False


_SENTENCE_CHARS = frozenset(".!?\n")  # a separator with one of these ends a sentence
_BREAK_CHARS = frozenset('.!?\n,;:()"')  # ... and with one of these a clause
_VOWELS = frozenset("aeiou")


def _inflect(word: str) -> set[str]:
    """Regular English endings of a word: cut -> cuts, cutting; die -> died, dying; hope -> hoping."""
    out = {word}
    if len(word) < 3 or not word.isalpha():
        return out
    out |= {word + "s", word + "ed", word + "ing"}
    if word.endswith("e"):
        out |= {word + "d", word[:-1] + "ing"}
    if word.endswith("ie"):
        out.add(word[:-2] + "ying")
    if word.endswith("y") and word[-2] not in _VOWELS:
        out |= {word[:-1] + "ies", word[:-1] + "ied"}
    if word.endswith(("s", "x", "ch", "sh")):
        out.add(word + "es")
    if word[-1] not in _VOWELS and word[-1] not in "wxy" and word[-2] in _VOWELS and word[-3] not in _VOWELS:
        out |= {word + word[-1] + "ed", word + word[-1] + "ing"}  # cut -> cutting, plan -> planned
    return out


def _expand(seq: _Seq, compiler: _Compiler, limit: int = 50000) -> list[tuple[str, ...]]:
    """All word sequences a phrase stands for (words, choices, options and slots only)."""
    outs: list[tuple[str, ...]] = [()]
    for node in seq:
        if isinstance(node, _Word):
            if node.prefix:
                raise _PatternError("concept words list their endings (or use inflect = true) instead of word*")
            alts: list[tuple[str, ...]] = [(node.text,)]
        elif isinstance(node, _Group | _Slot):
            group = compiler.slot(node.name)[0] if isinstance(node, _Slot) else node
            assert isinstance(group, _Group)
            alts = [a for opt in group.options for a in _expand(opt, compiler, limit)]
            if compiler._optional(node):
                alts.append(())
        else:
            raise _PatternError("concept words may use only words, {a|b}, [a|b] and <slot>")
        outs = [o + a for o in outs for a in alts]
        if len(outs) > limit:
            raise _PatternError(f"expands to more than {limit} word sequences")
    return [o for o in outs if o]


class _Mark(NamedTuple):
    """A word or phrase of the message tagged with concepts (a tuple: built for every tagged word)."""

    concepts: frozenset[str]
    first: int  # token index of the first word
    last: int  # token index of the last word
    start: int  # character span in the normalized text
    end: int
    clause: int
    sentence: int
    index: int  # its place in the message's marks


def _distinct_support(options: list[list[_Mark]]) -> list[_Mark] | None:
    """One different mark per need (the needs in the order given), or None if no such choice exists."""
    order = sorted(range(len(options)), key=lambda i: len(options[i]))
    chosen: list[_Mark | None] = [None] * len(options)

    def place(k: int) -> bool:
        if k == len(order):
            return True
        i = order[k]
        for m in options[i]:
            if not any(c is m for c in chosen):
                chosen[i] = m
                if place(k + 1):
                    return True
                chosen[i] = None
        return False

    return [m for m in chosen if m is not None] if place(0) else None


@dataclass(frozen=True, slots=True)
class _ConceptRule:
    ident: str
    category: str
    severity: Severity
    trigger: frozenset[str]
    subject: str  # "self" (first person or nobody named), "other", or "any"
    needs: tuple[tuple[str, frozenset[str]], ...]  # (where: "near" | "before" | "after", concepts)
    window: int
    scope: str  # "sentence" or "message"
    unless: frozenset[str]
    negatable: bool
    # the trigger and each need's concepts, sorted: marks are looked at in an order that never depends on
    # Python's string hashing (PYTHONHASHSEED), which differs from one process to the next
    trigger_order: tuple[str, ...] = ()
    need_order: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class _Guard:
    ident: str
    concepts: frozenset[str]
    scope: str  # "clause" | "sentence" | "message"
    unless: frozenset[str]
    categories: frozenset[str]  # empty: every category
    below: int  # only matches below this severity are dropped


class _Gate(NamedTuple):
    heads: frozenset[str]
    pairs: frozenset[tuple[str, ...]]
    numbers: tuple[tuple[float, float, bool], ...]
    pair_heads: frozenset[str]  # the first words of the pairs (and threes)
    whole: tuple[tuple[float, float], ...]  # the ranges of ``numbers`` that whole numbers can meet
    pair_starts: frozenset[tuple[str, str]]  # the first two words of the pairs and threes


class _Tagged(NamedTuple):
    marks: tuple[_Mark, ...]
    by_concept: dict[str, list[_Mark]]
    words: list[str]  # the words of the message (the first and last may be empty)
    token_starts: list[int]  # character offset of every word
    clause_breaks: list[int]  # word numbers where a new clause starts (sorted)
    sentence_breaks: list[int]  # word numbers where a new sentence starts (sorted)

    def clause_of(self, k: int) -> int:
        return bisect.bisect_right(self.clause_breaks, k)

    def sentence_of(self, k: int) -> int:
        return bisect.bisect_right(self.sentence_breaks, k)


_ABOVE_ALL = int(Severity.IMMINENT) + 1
_CONCEPT_RULE_KEYS = {"id", "category", "severity", "trigger", "subject", "with", "before", "after", "window",
                      "scope", "unless", "negatable", "note"}  # fmt: skip
_GUARD_KEYS = {"id", "concepts", "scope", "unless", "categories", "below", "note"}
_CONCEPT_KEYS = {"words", "inflect", "note"}
_NUMBER_KEYS = {"concept", "min", "max", "decimal", "note"}


class _Concepts:
    """Compiled concept lists, rules and guards (immutable after construction)."""

    __slots__ = (
        "breakers",
        "gate",
        "guard_concepts",
        "guards",
        "imminent_gate",
        "jokes",
        "negators",
        "neutral",
        "numbers",
        "others",
        "persons",
        "phrase_starts",
        "phrases",
        "rules",
        "rules_by_trigger",
        "selves",
        "serious",
        "vocab",
        "words",
    )  # fmt: skip

    def __init__(self, lex: _Lexicon, compiler: _Compiler) -> None:
        self.words: dict[str, frozenset[str]] = {}
        self.phrases: dict[str, Any] = {}  # a word trie: word -> {next word -> ..., "": concepts}
        for name, table in lex.concepts.items():
            label = lex.origin.get(id(table), f"[concept.{name}]")
            inflect = table.get("inflect", False)
            if not isinstance(inflect, bool):
                raise LexiconError(f"{label}: 'inflect' must be true or false")
            for phrase in _str_list(table.get("words", []), f"{label}: words"):
                try:
                    for words in _expand(compiler.parse(phrase), compiler):
                        self._add(words, name, inflect)
                except _PatternError as exc:
                    raise LexiconError(f"{label}: word {phrase!r}: {exc}") from None
        # (concept, min, max, decimal): with decimal = true only numbers written with a point ("2.4") count
        self.numbers: list[tuple[str, float, float, bool]] = []
        for item in lex.concept_numbers:
            label = lex.origin.get(id(item), "[[concept_number]]")
            lo, hi = item.get("min", float("-inf")), item.get("max", float("inf"))
            if not isinstance(item.get("concept"), str) or not all(isinstance(v, int | float) for v in (lo, hi)):
                raise LexiconError(f"{label}: needs 'concept' (a name) and numbers 'min' / 'max'")
            decimal = item.get("decimal", False)
            if not isinstance(decimal, bool):
                raise LexiconError(f"{label}: 'decimal' must be true or false")
            self.numbers.append((item["concept"], float(lo), float(hi), decimal))
        sub = lex.concept_subjects
        self.selves = frozenset(sub.get("self", []))
        self.others = frozenset(sub.get("other", []))
        self.persons = self.selves | self.others
        self.negators = frozenset(sub.get("negation", []))
        self.breakers = frozenset(sub.get("clause_break", []))
        self.neutral = frozenset(sub.get("neutral", []))
        # "not jk", "she never jokes": a SERIOUS word anywhere in the message voids the banter markers
        self.serious = frozenset(sub.get("serious", []))
        self.jokes = frozenset(sub.get("joke", []))
        self.words = {k: frozenset(v) for k, v in self.words.items()}
        self.vocab = frozenset(self.words) | frozenset(self.phrases)  # words that can start a concept entry
        # the first two words of every phrase: a phrase can only start at a word followed by its second word
        self.phrase_starts = frozenset((w, w2) for w, node in self.phrases.items() for w2 in node if w2)
        self.rules: list[_ConceptRule] = []
        for item in lex.concept_rules:
            self.rules.append(self._rule(item, lex.origin.get(id(item), "[[concept_rule]]")))
        by_trigger: dict[str, list[_ConceptRule]] = {}
        for rule in self.rules:
            for concept in rule.trigger:
                by_trigger.setdefault(concept, []).append(rule)
        self.rules_by_trigger = {k: tuple(v) for k, v in by_trigger.items()}
        # what can start a rule at all, and a rule of imminent severity (the only kind that survives the
        # learned model's veto, so it is all that must be looked for in text the model finds clearly benign)
        self.gate = self._gate(set(by_trigger))
        # the concept rules a "clearly benign" verdict of the model can never overrule (high and imminent)
        self.imminent_gate = self._gate({c for r in self.rules if r.severity >= Severity.HIGH for c in r.trigger})
        self.guards: list[_Guard] = []
        for item in lex.concept_guards:
            label = lex.origin.get(id(item), "[[concept_guard]]")
            scope = item.get("scope", "clause")
            if scope not in ("clause", "sentence", "message"):
                raise LexiconError(f"{label}: scope must be clause, sentence or message")
            cats = frozenset(_str_list(item.get("categories", []), f"{label}: categories"))
            if not cats <= set(CATEGORIES):
                raise LexiconError(f"{label}: unknown category in {sorted(cats)}")
            try:  # without 'below' the guard drops findings of every severity
                below = Severity.parse(str(item["below"])) if "below" in item else _ABOVE_ALL
            except ValueError:
                raise LexiconError(f"{label}: 'below' must be concern, high or imminent") from None
            self.guards.append(_Guard(item["id"], frozenset(_str_list(item.get("concepts", []), f"{label}: concepts")),
                                      scope, frozenset(_str_list(item.get("unless", []), f"{label}: unless")),
                                      cats, below))  # fmt: skip
        self.guard_concepts = frozenset(c for g in self.guards for c in g.concepts)

    def _gate(self, triggers: set[str]) -> _Gate:
        """Words that can start an entry of one of the trigger concepts, the first two words of two-word
        trigger phrases and the first three of longer ones, and the number ranges that are triggers."""
        heads = {w for w, cs in self.words.items() if not triggers.isdisjoint(cs)}

        def walk(node: dict[str, Any]) -> bool:
            return any(not triggers.isdisjoint(v) if k == "" else walk(v) for k, v in node.items())

        pairs: set[tuple[str, ...]] = set()
        for w, node in self.phrases.items():
            for w2, sub in node.items():
                if not w2:
                    continue
                if not triggers.isdisjoint(sub.get("", ())):
                    pairs.add((w, w2))
                pairs.update((w, w2, w3) for w3, sub3 in sub.items() if w3 and walk(sub3))
        numbers = tuple((lo, hi, dec) for name, lo, hi, dec in self.numbers if name in triggers)
        whole = tuple((lo, hi) for lo, hi, dec in numbers if not dec)
        return _Gate(frozenset(heads), frozenset(pairs), numbers, frozenset(p[0] for p in pairs), whole,
                     frozenset((p[0], p[1]) for p in pairs))  # fmt: skip

    def _add(self, words: tuple[str, ...], concept: str, inflect: bool) -> None:
        head = words[0]
        for h in _inflect(head) if inflect else {head}:
            if len(words) == 1:
                self.words[h] = self.words.get(h, frozenset()) | {concept}
                continue
            node = self.phrases.setdefault(h, {})
            for w in words[1:]:
                node = node.setdefault(w, {})
            node[""] = node.get("", frozenset()) | {concept}

    def _rule(self, item: dict[str, Any], label: str) -> _ConceptRule:
        category = item.get("category")
        if category not in CATEGORIES:
            raise LexiconError(f"{label}: category {category!r} is not one of {', '.join(CATEGORIES)}")
        try:
            severity = Severity.parse(str(item.get("severity", "")))
        except ValueError:
            severity = Severity.NONE
        if severity == Severity.NONE:
            raise LexiconError(f"{label}: severity {item.get('severity')!r} must be concern, high or imminent")
        subject = item.get("subject", "any")
        if subject not in ("self", "other", "any"):
            raise LexiconError(f"{label}: subject must be self, other or any")
        scope = item.get("scope", "sentence")
        if scope not in ("sentence", "message"):
            raise LexiconError(f"{label}: scope must be sentence or message")
        window = item.get("window", 8)
        negatable = item.get("negatable", True)
        if not isinstance(window, int) or isinstance(window, bool) or window < 1 or not isinstance(negatable, bool):
            raise LexiconError(f"{label}: 'window' must be a positive number of words, 'negatable' true or false")
        if not isinstance(item.get("trigger"), str):
            raise LexiconError(f"{label}: needs a 'trigger' concept")
        needs: list[tuple[str, frozenset[str]]] = []
        for where, key in (("near", "with"), ("before", "before"), ("after", "after")):
            for group in _str_list(item.get(key, []), f"{label}: {key}"):
                needs.append((where, frozenset(g.strip() for g in group.split("|"))))
        trigger = frozenset(t.strip() for t in item["trigger"].split("|"))
        return _ConceptRule(item["id"], category, severity, trigger, subject, tuple(needs), window, scope,
                            frozenset(_str_list(item.get("unless", []), f"{label}: unless")), negatable,
                            tuple(sorted(trigger)), tuple((where, tuple(sorted(g))) for where, g in needs))  # fmt: skip

    def check(self, lex: _Lexicon) -> None:
        """Every concept a rule, guard or subject list names must be defined somewhere."""
        known = set(lex.concepts) | {n for n, *_ in self.numbers}
        for rule in self.rules:
            used = set(rule.trigger) | rule.unless | {c for _, g in rule.needs for c in g}
            missing = sorted(used - known)
            if missing:
                raise LexiconError(f"[[concept_rule]] {rule.ident!r}: unknown concept {missing[0]!r}")
        for guard in self.guards:
            missing = sorted((guard.concepts | guard.unless) - known)
            if missing:
                raise LexiconError(f"[[concept_guard]] {guard.ident!r}: unknown concept {missing[0]!r}")
        for key in ("self", "other", "negation", "neutral", "serious", "joke"):
            missing = sorted(set(lex.concept_subjects.get(key, [])) - known)
            if missing:
                raise LexiconError(f"[concept_roles] {key}: unknown concept {missing[0]!r}")

    def may_fire(
        self, words: set[str], parts: list[str], text: str = "", gate: _Gate | None = None, digits: bool | None = None
    ) -> bool:
        """Could any rule (of ``gate``: default, every rule) fire? False when no word or pair of words can start
        a trigger: most chat. ``text`` (the words and separators joined) lets numbers be skipped at once when it
        has no digit; ``digits``, when the caller knows whether it has one, saves even that look."""
        heads, pairs, numbers, pair_heads, whole, pair_starts = gate or self.gate
        if not heads.isdisjoint(words):
            return True
        toks = parts[::2]
        if digits is None:
            digits = _DIGIT_RX.search(text or "".join(parts)) is not None
        if numbers and digits:
            for w in words:
                if w.isdigit() and any(lo <= float(w) <= hi for lo, hi in whole):
                    return True
            if len(whole) < len(numbers) and "." in (text or "".join(parts)):
                for _, value, decimal in _numbers(toks, parts[1::2]):
                    if decimal and any(lo <= value <= hi for lo, hi, _ in numbers):
                        return True
        if pair_heads.isdisjoint(words):  # no word can start a pair: none of the message's pairs is one
            return False
        if pair_starts.isdisjoint(itertools.pairwise(toks)):  # no pair, nor the start of a three (the usual case)
            return False
        if not pairs.isdisjoint(itertools.pairwise(toks)):
            return True
        return not pairs.isdisjoint(zip(toks, toks[1:], toks[2:], strict=False))

    def tag(self, t: str, parts: list[str] | None = None, digits: bool | None = None) -> _Tagged:
        """Tag the words of normalized text with concepts (longest phrase first). ``digits``: whether ``t`` has
        a digit, when the caller knows (else it is looked for).

        Written for speed: the words are split off in one regex call, and only words that start some
        concept entry are looked at in Python."""
        if parts is None:
            parts = _CSPLIT.split(t)  # word, separator, word, ... (the first and last word may be empty)
        toks = parts[::2]
        seps = parts[1::2]
        offsets = list(itertools.accumulate(map(len, parts), initial=0))
        starts = offsets[0::2]
        # word k is followed by seps[k]: a sentence or clause break there starts a new one at word k + 1
        # (the point of a decimal number, "2.4", is neither)
        values: dict[int, tuple[float, bool]] = {}
        if digits is None:
            digits = _DIGIT_RX.search(t) is not None
        if self.numbers and digits:
            values = {k: (v, dec) for k, v, dec in _numbers(toks, seps)}
        points = {k + 1 for k, (_, dec) in values.items() if dec}  # "2.4": no break after the "2"
        sentence_breaks: list[int] = []
        clause_breaks: list[int] = []
        # (the separators that are more than one space, picked out in C: most are one space)
        for k in itertools.compress(range(len(seps)), map(" ".__ne__, seps)):
            sep = seps[k]
            if not _BREAK_CHARS.isdisjoint(sep) and k + 1 not in points:
                clause_breaks.append(k + 1)
                if not _SENTENCE_CHARS.isdisjoint(sep):  # every sentence break is a clause break too
                    sentence_breaks.append(k + 1)
        extra_breaks = list(itertools.compress(range(len(toks)), map(self.breakers.__contains__, toks)))
        if extra_breaks:
            clause_breaks = sorted(clause_breaks + extra_breaks)
        marks: list[_Mark] = []
        by: dict[str, list[_Mark]] = {}
        words, phrases, numbers, neutral = self.words, self.phrases, self.numbers, self.neutral
        n = len(toks)
        sentence_set = set(sentence_breaks)
        nxt = -1
        # The words that can be tagged: a concept word, a number, or the start of a phrase, which needs its second
        # word next ("want" followed by "to"; most words that start a phrase do not start one here). Any other
        # word tags nothing and moves nothing on, so skipping it changes nothing; the pairs are tested in C.
        found_at = set(itertools.compress(range(n), map(words.__contains__, toks)))
        starts_phrase = map(self.phrase_starts.__contains__, itertools.pairwise(toks))
        found_at.update(itertools.compress(itertools.count(), starts_phrase))
        if values:
            found_at.update(values)
        candidates = sorted(found_at)
        for i in candidates:
            if i < nxt:
                continue  # inside a phrase already tagged
            tok = toks[i]
            found: frozenset[str] | None = None
            last = j = i
            node = phrases.get(tok)
            while node is not None:
                j += 1
                if j >= n or j in sentence_set or not toks[j]:
                    break
                node = node.get(toks[j])
                if node is not None:
                    got = node.get("")
                    if got is not None:
                        found, last = got, j
            if found is None:
                found = words.get(tok)
                if i in values:
                    value, decimal = values[i]
                    extra = {name for name, lo, hi, dec in numbers if lo <= value <= hi and (decimal or not dec)}
                    if extra:
                        found = frozenset(found or ()) | extra
                    if decimal:
                        last = i + 1  # "2.4" is one mark
            if found:
                if not neutral.isdisjoint(found):
                    found = neutral.intersection(found)
                # (tuple.__new__ builds the same _Mark as _Mark(...) without the Python frame of its __new__)
                mark = _new_tuple(_Mark, (
                    found, i, last, starts[i], starts[last] + len(toks[last]),
                    bisect.bisect_right(clause_breaks, i), bisect.bisect_right(sentence_breaks, i), len(marks),
                ))  # fmt: skip
                marks.append(mark)
                for concept in mark.concepts:
                    by.setdefault(concept, []).append(mark)
                nxt = last + 1
        if self.serious and not self.serious.isdisjoint(by):
            for concept in self.jokes:
                by.pop(concept, None)
        return _new_tuple(_Tagged, (tuple(marks), by, toks, starts, clause_breaks, sentence_breaks))

    def subject(self, tagged: _Tagged, mark: _Mark) -> str:
        """Who the clause of ``mark`` is about: the first person named in it, else in the nearest earlier
        clause of the sentence that names one; "none" when nobody is named (chat often drops the "I")."""
        if mark.concepts & self.selves:
            return "self"
        if mark.concepts & self.others:
            return "other"
        clause = -1
        who = "none"
        for m in tagged.marks:
            if m.first >= mark.first:
                break
            if m.sentence != mark.sentence or m.clause <= clause:
                continue
            if m.concepts & self.selves:
                clause, who = m.clause, "self"
            elif m.concepts & self.others:
                clause, who = m.clause, "other"
        return who

    def negated(self, tagged: _Tagged, mark: _Mark) -> bool:
        """A negation word at most three words before, in the same clause, with no person named between."""
        marks = tagged.marks
        for k in range(mark.index - 1, -1, -1):
            m = marks[k]
            if m.clause != mark.clause or mark.first - m.last > 3:
                return False
            if not self.negators.isdisjoint(m.concepts):
                return True
            if not self.persons.isdisjoint(m.concepts):
                return False
        return False

    def hits(self, tagged: _Tagged) -> list[tuple[_ConceptRule, _Mark, list[_Mark]]]:
        out: list[tuple[_ConceptRule, _Mark, list[_Mark]]] = []
        by = tagged.by_concept
        seen: set[int] = set()
        for concept in by:
            for rule in self.rules_by_trigger.get(concept, ()):
                if id(rule) in seen:
                    continue
                seen.add(id(rule))
                for _, group in rule.needs:  # cheap test first: every needed concept occurs somewhere
                    if group.isdisjoint(by):
                        break
                else:
                    out.extend(self._fire(rule, tagged))
        return out

    def _fire(self, rule: _ConceptRule, tagged: _Tagged) -> list[tuple[_ConceptRule, _Mark, list[_Mark]]]:
        by = tagged.by_concept
        found: list[tuple[_ConceptRule, _Mark, list[_Mark]]] = []
        # Sets are iterated in sorted order and marks by position: the verdict must never depend on Python's
        # string hashing (PYTHONHASHSEED), which differs from one process to the next.
        if len(rule.trigger_order) == 1:  # the marks of one concept are already in order, each once
            marks: Iterable[_Mark] = by.get(rule.trigger_order[0], ())
        else:
            triggers = {id(m): m for c in rule.trigger_order for m in by.get(c, ())}
            marks = sorted(triggers.values(), key=lambda m: (m.first, m.last))
        for mark in marks:
            if rule.unless and any(m.sentence == mark.sentence for c in rule.unless for m in by.get(c, ())):
                continue
            if rule.negatable and self.negated(tagged, mark):
                continue
            if rule.subject != "any":
                who = self.subject(tagged, mark)
                if (rule.subject == "self" and who == "other") or (rule.subject == "other" and who != "other"):
                    continue
            options: list[list[_Mark]] = []
            for where, group in rule.need_order:
                near: list[_Mark] = []
                for c in group:
                    for m in by.get(c, ()):
                        if m is mark or (rule.scope == "sentence" and m.sentence != mark.sentence):
                            continue
                        if (where == "before" and m.first >= mark.first) or (where == "after" and m.first <= mark.last):
                            continue
                        gap = mark.first - m.last if m.first < mark.first else m.first - mark.last
                        if gap <= rule.window:
                            near.append(m)
                if not near:
                    break
                options.append(near)
            else:
                # each need is met by a different word: any such choice will do (a search, not a greedy pick
                # that could miss one); the nearest words are tried first
                support = _distinct_support([sorted(near, key=lambda m: (abs(m.first - mark.first), m.first))
                                             for near in options])
                if support is not None:
                    found.append((rule, mark, support))
                    break  # one firing per rule is enough
        return found

    def guarded(self, tagged: _Tagged, start: int, category: str, severity: Severity) -> bool:
        """Is a match starting at character ``start`` inside a guarded context (talk about the topic...)?"""
        if self.guard_concepts.isdisjoint(tagged.by_concept):
            return False
        k = max(0, bisect.bisect_right(tagged.token_starts, start) - 1)
        clause, sentence = tagged.clause_of(k), tagged.sentence_of(k)
        by = tagged.by_concept
        for g in self.guards:
            if severity >= g.below or (g.categories and category not in g.categories):
                continue

            def inside(m: _Mark, g: _Guard = g) -> bool:
                if g.scope == "clause":
                    return m.clause == clause
                return g.scope == "message" or m.sentence == sentence

            if any(inside(m) for c in g.concepts for m in by.get(c, ())) and not any(
                m.clause == clause for c in g.unless for m in by.get(c, ())
            ):
                return True
        return False


# --------------------------------------------------------------------------------------------------
# Lexicon loading


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str  # "entry" | "suppress" | "modifier"
    ident: str
    category: str
    severity: Severity
    rx: re.Pattern[str]
    negatable: bool
    third: bool
    # rx is a scanner: it matches the first letter of each place the phrase matches, with the match as group 1
    scanner: bool = False


@dataclass(slots=True)
class _Lexicon:
    version: int
    syntax: dict[str, Any] = field(default_factory=dict)
    slots: dict[str, list[str]] = field(default_factory=dict)
    third_party: dict[str, Any] = field(default_factory=dict)
    negation: dict[str, list[str]] = field(default_factory=dict)
    normalize: dict[str, Any] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    suppress: list[dict[str, Any]] = field(default_factory=list)
    modifiers: list[dict[str, Any]] = field(default_factory=list)
    concepts: dict[str, dict[str, Any]] = field(default_factory=dict)
    concept_subjects: dict[str, list[str]] = field(default_factory=dict)
    concept_numbers: list[dict[str, Any]] = field(default_factory=list)
    concept_rules: list[dict[str, Any]] = field(default_factory=list)
    concept_guards: list[dict[str, Any]] = field(default_factory=list)
    origin: dict[int, str] = field(default_factory=dict)  # id(table) -> file name, for messages


_TOP_KEYS = {"version", "mode", "description", "syntax", "slots", "third_party", "negation", "normalize",
             "entry", "suppress", "modifier", "concept", "concept_roles", "concept_number", "concept_rule",
             "concept_guard"}  # fmt: skip
_ENTRY_KEYS = {"id", "category", "severity", "phrases", "regex", "negatable", "third_party", "note"}
_SUPPRESS_KEYS = {"id", "kind", "phrases", "regex", "note"}
_MODIFIER_KEYS = {"id", "kind", "phrases", "regex", "note"}


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LexiconError(f"{where}: must be a list of strings")
    return list(value)


def _read(path: Path) -> tuple[dict[str, Any], str]:
    name = str(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise LexiconError(f"{name}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"{name}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise LexiconError(f"{name}: cannot read: {exc.strerror}") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise LexiconError(f"{name}: unknown top-level key {unknown[0]!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise LexiconError(f"{name}: key 'version' must be a positive integer at the top of the file")
    mode = data.get("mode", "extend")
    if mode not in ("extend", "replace"):
        raise LexiconError(f'{name}: key \'mode\' must be "extend" or "replace", not {mode!r}')
    return data, name


def _merge(base: _Lexicon | None, data: dict[str, Any], name: str) -> _Lexicon:
    lex = base or _Lexicon(version=data["version"])
    for key in ("syntax", "slots", "third_party", "negation", "normalize"):
        table = data.get(key, {})
        if not isinstance(table, dict):
            raise LexiconError(f"{name}: [{key}] must be a table")
    syntax = data.get("syntax", {})
    for key, value in syntax.items():
        if key != "fillers":
            raise LexiconError(f"{name}: unknown key 'syntax.{key}'")
        lex.syntax.setdefault("fillers", []).extend(_str_list(value, f"{name}: syntax.fillers"))
    for key, value in data.get("slots", {}).items():
        if not _SLOT_NAME.fullmatch(key):
            raise LexiconError(f"{name}: slot name {key!r} must be lowercase letters, digits and _")
        lex.slots[key] = _str_list(value, f"{name}: slots.{key}")
    for key, value in data.get("third_party", {}).items():
        if key == "swap":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise LexiconError(f"{name}: third_party.swap must map slot names to slot names")
            lex.third_party.setdefault("swap", {}).update(value)
        elif key == "reporters":
            lex.third_party.setdefault("reporters", []).extend(_str_list(value, f"{name}: third_party.{key}"))
        else:
            raise LexiconError(f"{name}: unknown key 'third_party.{key}'")
    for key, value in data.get("negation", {}).items():
        if key not in ("cues", "bridges", "cancel", "asked", "answered"):
            raise LexiconError(f"{name}: unknown key 'negation.{key}'")
        lex.negation.setdefault(key, []).extend(_str_list(value, f"{name}: negation.{key}"))
    for key, value in data.get("normalize", {}).items():
        if key in ("fuzzy", "protect"):
            lex.normalize.setdefault(key, []).extend(_str_list(value, f"{name}: normalize.{key}"))
        elif key in ("spelling", "emoji"):
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise LexiconError(f"{name}: normalize.{key} must map strings to words")
            lex.normalize.setdefault(key, {}).update(value)
        else:
            raise LexiconError(f"{name}: unknown key 'normalize.{key}'")
    concepts = data.get("concept", {})
    if not isinstance(concepts, dict):
        raise LexiconError(f"{name}: concepts must be written as [concept.NAME] tables")
    for key, table in concepts.items():
        label = f"{name}: [concept.{key}]"
        if not isinstance(table, dict):
            raise LexiconError(f"{label}: must be a table")
        unknown = sorted(set(table) - _CONCEPT_KEYS)
        if unknown:
            raise LexiconError(f"{label}: unknown key {unknown[0]!r}")
        merged = dict(lex.concepts.get(key, {}))  # a site file adds words to a built-in concept
        merged["words"] = list(merged.get("words", [])) + _str_list(table.get("words", []), f"{label}: words")
        if "inflect" in table:
            merged["inflect"] = table["inflect"]
        lex.concepts[key] = merged
        lex.origin[id(merged)] = label
    roles = data.get("concept_roles", {})
    if not isinstance(roles, dict):
        raise LexiconError(f"{name}: [concept_roles] must be a table")
    for key, value in roles.items():
        if key not in ("self", "other", "negation", "neutral", "clause_break", "serious", "joke"):
            raise LexiconError(f"{name}: unknown key 'concept_roles.{key}'")
        lex.concept_subjects.setdefault(key, []).extend(_str_list(value, f"{name}: concept_roles.{key}"))
    for table, allowed, target in (
        ("entry", _ENTRY_KEYS, lex.entries),
        ("suppress", _SUPPRESS_KEYS, lex.suppress),
        ("modifier", _MODIFIER_KEYS, lex.modifiers),
        ("concept_rule", _CONCEPT_RULE_KEYS, lex.concept_rules),
        ("concept_guard", _GUARD_KEYS, lex.concept_guards),
        ("concept_number", _NUMBER_KEYS | {"id"}, lex.concept_numbers),
    ):
        items = data.get(table, [])
        if not isinstance(items, list):
            raise LexiconError(f"{name}: {table} must be written as [[{table}]] tables")
        for n, item in enumerate(items, 1):
            label = f"{name}: [[{table}]] #{n}" + (f" (id {item.get('id')!r})" if isinstance(item, dict) else "")
            if not isinstance(item, dict):
                raise LexiconError(f"{label}: must be a table")
            unknown = sorted(set(item) - allowed)
            if unknown:
                raise LexiconError(f"{label}: unknown key {unknown[0]!r}")
            if table == "concept_number":
                item = {"id": item.get("concept"), **item}
            if not isinstance(item.get("id"), str) or not item["id"]:
                raise LexiconError(f"{label}: needs an 'id' string")
            if table in ("entry", "suppress", "modifier") and "phrases" not in item and "regex" not in item:
                raise LexiconError(f"{label}: needs 'phrases' (or 'regex')")
            clone = dict(item)
            lex.origin[id(clone)] = label
            existing = [i for i, e in enumerate(target) if e["id"] == item["id"]]
            if existing:  # a custom file may redefine a built-in entry by id
                target[existing[0]] = clone
            else:
                target.append(clone)
    return lex


# --------------------------------------------------------------------------------------------------
# The detector


# words that supported a concept rule: quoted in the matches, but not a finding of their own
_SUPPORT = _Rule("support", "support", "third_party", Severity.NONE, re.compile("(?!)"), False, False)


def _scanner(phrase_rx: str, first_letters: Iterable[str]) -> str:
    """A regex that finds where ``phrase_rx`` (which starts at a word boundary) matches, the match as group 1.

    It opens with the letters a match can start with ("[kd]"), so the engine skips the rest of the text in C,
    then tries the phrase from the letter just read, in a look-behind one character wide ("(?<=(?=(RX))[kd])").
    One ``finditer`` call per rule then does in C what a Python loop calling ``match`` at every word starting
    with one of the letters did; the scanner moves on one character at a time, so it tries every such place."""
    letters = "".join(sorted(first_letters))
    return f"[{letters}](?<=(?=({phrase_rx}))[{letters}])"


class _Hit(NamedTuple):
    rule: _Rule
    start: int
    end: int
    third: bool


class Detector:
    """Screens messages against a compiled lexicon. Build with ``Detector.load()``."""

    __slots__ = (
        "_answer_rx",
        "_asked_rx",
        "_cancel_rx",
        "_concept_rules",
        "_concepts",
        "_context_index",
        "_digit_bit",
        "_entry_index",
        "_gate",
        "_met_by",
        "_model",
        "_needs",
        "_neg_rx",
        "_normalizer",
        "_prefixes",
        "_reporter_rx",
        "_rules",
        "_ungated",
        "_ungated_context",
        "_word_cache",
        "version",
    )  # fmt: skip

    version: str

    def __init__(self, lex: _Lexicon, version: str, model: ScreenModel | None = None) -> None:
        self.version = version
        self._model = model
        fillers = [_clean(f) for f in lex.syntax.get("fillers", []) if _clean(f).strip()]
        drop = filler_regex(fillers) if fillers else None
        compiler = _Compiler(lex.slots, drop)
        swap = lex.third_party.get("swap", {})
        rules: list[_Rule] = []
        anchors: list[list[frozenset[str]]] = []
        literal_words: set[str] = set()
        entry_words: Counter[str] = Counter()  # how often each word occurs in entry phrases

        def add(item: dict[str, Any], kind: str, category: str, severity: Severity) -> None:
            label = lex.origin.get(id(item), f"[[{kind}]] {item.get('id')!r}")
            phrases = _str_list(item.get("phrases", []), f"{label}: phrases")
            regexes = _str_list(item.get("regex", []), f"{label}: regex")
            negatable = item.get("negatable", True)
            third_ok = item.get("third_party", True)
            if not isinstance(negatable, bool) or not isinstance(third_ok, bool):
                raise LexiconError(f"{label}: 'negatable' and 'third_party' must be true or false")
            if not phrases and not regexes:
                raise LexiconError(f"{label}: has no phrases")
            for phrase in phrases:
                try:
                    seq = compiler.parse(phrase)
                    if not seq:
                        raise _PatternError("it has only filler words")
                    variants: list[tuple[_Seq, bool]] = [(seq, False)]
                    if kind == "entry" and third_ok and swap:
                        other = _third_person(seq, swap)
                        if other is not None:
                            variants.append((other, True))
                    for var, third in variants:
                        body = rf"(?<![a-z0-9]){compiler.lead(var)}(?:{compiler.regex(var)})(?![a-z0-9])"
                        first = compiler.first_words(var)
                        if first:
                            rx = re.compile(_scanner(body, {w.text[0] for w in first}))
                        else:
                            rx = re.compile(body)
                        rules.append(_Rule(kind, item["id"], category, severity, rx, negatable, third, bool(first)))
                        anchors.append(compiler.requirements(var))
                    literal_words.update(compiler.words(seq))
                    if kind == "entry":
                        entry_words.update(compiler.words(seq))
                except _PatternError as exc:
                    raise LexiconError(f"{label}: phrase {phrase!r}: {exc}") from None
                except re.error as exc:  # pragma: no cover - the syntax only builds valid regexes
                    raise LexiconError(f"{label}: phrase {phrase!r}: {exc}") from None
            for raw in regexes:
                try:
                    rx = re.compile(raw)
                except re.error as exc:
                    raise LexiconError(f"{label}: regex {raw!r}: {exc}") from None
                rules.append(_Rule(kind, item["id"], category, severity, rx, negatable, False))
                anchors.append([])

        for item in lex.entries:
            label = lex.origin.get(id(item), "[[entry]]")
            category = item.get("category")
            if category not in CATEGORIES:
                raise LexiconError(f"{label}: category {category!r} is not one of {', '.join(CATEGORIES)}")
            try:
                severity = Severity.parse(str(item.get("severity", "")))
            except ValueError:
                severity = Severity.NONE
            if severity == Severity.NONE:
                raise LexiconError(f"{label}: severity {item.get('severity')!r} must be concern, high or imminent")
            add(item, "entry", category, severity)
        for item in lex.suppress:
            kind = item.get("kind", "idiom")
            if kind not in ("idiom", "about_topic", "other"):
                label = lex.origin.get(id(item), "[[suppress]]")
                raise LexiconError(f"{label}: kind {kind!r} must be idiom, about_topic or other")
            add(item, "suppress", kind, Severity.NONE)
        for item in lex.modifiers:
            kind = item.get("kind")
            if kind not in ("time", "means"):
                label = lex.origin.get(id(item), "[[modifier]]")
                raise LexiconError(f"{label}: kind {kind!r} must be time or means")
            add(item, "modifier", kind, Severity.NONE)
        self._concepts = _Concepts(lex, compiler)
        self._concepts.check(lex)
        never = re.compile("(?!)")
        self._concept_rules = {
            id(r): _Rule("concept", r.ident, r.category, r.severity, never, r.negatable, False)
            for r in self._concepts.rules
        }
        if not any(r.kind == "entry" for r in rules) and not self._concepts.rules:
            raise LexiconError("lexicon has no [[entry]] or [[concept_rule]] tables, so it would never escalate")

        def context_rx(key: str, table: Mapping[str, Any], tail: str) -> re.Pattern[str] | None:
            phrases = list(table.get(key, []))
            if not phrases:
                return None
            try:
                body = "|".join(compiler.regex(seq) for seq in map(compiler.parse, phrases) if seq)
            except _PatternError as exc:
                raise LexiconError(f"lexicon key '{key}': {exc}") from None
            return re.compile(rf"(?<![a-z0-9])(?:{body}){tail}")

        neg = lex.negation
        bridges = "|".join(compiler.regex(q) for q in map(compiler.parse, neg.get("bridges", [])) if q) or "(?!)"
        self._neg_rx = context_rx("cues", neg, rf"(?:[ ]+(?:{bridges}))*[ ]*$")
        self._cancel_rx = context_rx("cancel", neg, r"[ ]*$")
        # "she asked if I had thoughts of suicide and I said no": a question, then a "no" after the phrase
        self._asked_rx = context_rx("asked", neg, r"[^.!?\n]*$")
        answers = [q for q in map(compiler.parse, neg.get("answered", [])) if q]
        # the answer within a few words, in the same sentence: a wider reach silences "asked me if I had thoughts
        # of suicide. I said no. that was a lie"
        self._answer_rx = (
            re.compile(rf"(?:[ ,;:]+[a-z0-9]+){{0,4}}?[ ,;:]+(?:{'|'.join(map(compiler.regex, answers))})(?![a-z0-9])")
            if answers
            else None
        )
        self._reporter_rx = context_rx(
            "reporters", lex.third_party, r"(?:[ ](?:he|she|they)[ ][^.!?\n]*)?[^a-z0-9]*(?:that[ ])?$"
        )

        for name in lex.slots:
            try:
                literal_words.update(compiler.words(compiler.slot(name)))
            except _PatternError as exc:
                raise LexiconError(f"slot <{name}>: {exc}") from None
        norm = lex.normalize
        spelling: dict[str, str] = {}
        protect = {w.lower() for w in norm.get("protect", [])} | {w for w in literal_words if " " not in w}
        for word in norm.get("fuzzy", []):
            for variant in fuzzy_variants(word.lower()):
                if variant not in protect:
                    spelling[variant] = word.lower()
        spelling.update({k.lower(): v.lower() for k, v in norm.get("spelling", {}).items()})
        vocab = sorted(
            (w for w in literal_words if " " not in w and w.isalpha() and len(w) >= 3),
            key=lambda w: (-entry_words[w], w),  # risk words first: "c*t" is read as "cut", not "cat"
        )
        self._normalizer = Normalizer(norm.get("emoji", {}), spelling, fillers, vocab)

        self._rules = tuple(rules)
        # Gating: each rule is indexed under the words of its rarest required part, and runs only if
        # every required part has one of its words in the (squeezed) message.
        entry_index: dict[str, set[int]] = {}
        context_index: dict[str, set[int]] = {}
        ungated: set[int] = set()
        ungated_context: set[int] = set()
        every: set[str] = set()
        for i, reqs in enumerate(anchors):
            is_entry = rules[i].kind == "entry"
            if not reqs:
                (ungated if is_entry else ungated_context).add(i)
                continue
            for word in reqs[0]:
                (entry_index if is_entry else context_index).setdefault(word, set()).add(i)
        # weak requirements (any word under three letters) would only slow the gate down
        requires = tuple(tuple(q for q in r[1:] if min(map(len, q)) >= 3) for r in anchors)
        # parts with a short word ("i", "sh", "od") are checked against whole words of the message instead:
        # as substrings they are everywhere ("sh" in "shift")
        short_requires = tuple(
            tuple((frozenset(w for w in q if len(w) >= 3), frozenset(w for w in q if len(w) < 3))
                  for q in r if min(map(len, q)) < 3)
            for r in anchors
        )  # fmt: skip
        # checked against "the message's words plus the long anchors found inside them" (see screen)
        all_requires = tuple(
            req + tuple(a | b for a, b in short) for req, short in zip(requires, short_requires, strict=True)
        )
        # third-person variants also need a person word ("she", "my son") as a whole word in the message
        subject: set[str] = set()
        for name in set(swap.values()):
            if name in lex.slots:
                for req in compiler.requirements(compiler.slot(name)):
                    subject.update(req)
        person = frozenset(subject)  # the words that name someone else
        # The wake test on numbered requirements, as bits of an int: a message meets the requirements that one of
        # its words meets (known per word, so cached; or-ed per message), and a candidate rule wakes if it meets
        # all of its own (one test per rule). A third-person variant's person word is one more requirement.
        numbers: dict[frozenset[str], int] = {}
        needs: list[int] = []
        for rule, reqs in zip(rules, all_requires, strict=True):
            need = 0
            for q in (*reqs, person) if rule.third else reqs:
                need |= 1 << numbers.setdefault(q, len(numbers))
            needs.append(need)
        self._needs = tuple(needs)
        met_by: dict[str, int] = {}
        for q, number in numbers.items():
            for w in q:
                met_by[w] = met_by.get(w, 0) | 1 << number
        self._met_by = met_by
        # one more bit, never required by a rule: "this word has a digit" (numbers are concepts of the second pass)
        self._digit_bit = 1 << len(numbers)
        every = {w for r in anchors if r for w in r[0]} | {w for r in requires for q in r for w in q}
        every |= {w for r in short_requires for q, _ in r for w in q}
        self._entry_index = {k: frozenset(v) for k, v in entry_index.items()}
        self._context_index = {k: frozenset(v) for k, v in context_index.items()}
        # a gate hit on "kils" also means its prefixes "kil", "ki" are present
        self._prefixes = {a: frozenset(a[:k] for k in range(1, len(a) + 1) if a[:k] in every) for a in every}
        self._ungated = frozenset(ungated)
        self._ungated_context = frozenset(ungated_context)
        self._gate = re.compile(f"(?=({trie_regex(every)}))")
        # word -> the anchors in it; only ever grows, and a lost race just computes the same value twice
        self._word_cache: dict[str, tuple[int, frozenset[int], frozenset[int]]] = {}

    @classmethod
    def load(
        cls,
        lexicon_path: str | os.PathLike[str] | None = None,
        use_model: bool = True,
        model_path: str | os.PathLike[str] | None = None,
    ) -> Detector:
        """Built-in lexicon, then the file at lexicon_path if given. The file says `mode = "extend"` (default:
        add to the built-in) or `mode = "replace"`. With ``use_model`` (not with a replaced lexicon) the learned
        second opinion (``screen_model.tsv``, or the weight file at model_path) screens every message too."""
        data, name = _read(BUILTIN_LEXICON)
        replaced = False
        lex = _merge(None, data, name)
        version = f"builtin-{data['version']}"
        if lexicon_path is not None:
            custom, cname = _read(Path(lexicon_path))
            replaced = custom.get("mode", "extend") == "replace"
            if replaced:
                lex = _merge(None, custom, cname)
                version = f"custom-{custom['version']}"
            else:
                lex = _merge(lex, custom, cname)
                version = f"{version}+custom-{custom['version']}"
        detector = cls(lex, version)
        if use_model and not replaced:  # the model was trained with the built-in lexicon's concepts
            path = Path(model_path) if model_path is not None else BUILTIN_MODEL_PATH
            detector._model = ScreenModel.load(path, detector.concept_tags())
            detector.version = f"{version}+model-{detector._model.version}"
        return detector

    def concept_tags(self) -> Mapping[str, frozenset[str]]:
        """Single words of the lexicon's concept lists -> their concepts (features of the learned model)."""
        return self._concepts.words

    def normalize(self, text: str) -> str:
        """The normalized text the lexicon and the model read (for training and diagnostics)."""
        return self._normalizer.normalize(text).text

    def screen(self, text: str) -> Screening:
        """Screen one message. Pure: the same text always gives the same Screening."""
        if not text or text.isspace():
            return _NOTHING
        norm = self._normalizer.normalize(text)
        model = self._model
        if model is None:
            return self._screen_lexicon(norm, False)
        assessment = model.assess(norm.text, norm.parts)
        # text the model finds clearly benign keeps only high and imminent lexicon findings (the veto below), so
        # the lexicon's second pass need only look for rules of those severities there: a cheap prefilter
        benign = assessment.probability < model.veto
        found = self._screen_lexicon(norm, benign)
        if found.severity >= Severity.HIGH:
            return found  # plans, means, acts, explicit intent: never vetoed, whatever the model thinks
        if found.escalate:
            # a narrow veto: a concern-level finding (never a high or imminent one) that the model finds
            # clearly benign ("not hurting myself or anything like that") is dropped
            return _NOTHING if benign else found
        return self._second_opinion(norm, model, assessment, found is _SUPPRESSED)

    @staticmethod
    def _second_opinion(norm: Normalized, model: ScreenModel, assessment: Assessment, suppressed: bool) -> Screening:
        """The model's verdict on a message the lexicon cleared: a concern in its likeliest category, quoting
        the sentence that weighed most. Where a context rule of the lexicon deliberately set a phrase aside, the
        model must be surer (``model.override``) to overrule it."""
        p = assessment.probability
        if p < model.threshold or (suppressed and p < model.override):
            return _NOTHING
        opinion = model.opinion(norm.text, assessment)
        quote = norm.quote(*opinion.span).strip()
        if len(quote) > _QUOTE_MAX:
            quote = quote[: _QUOTE_MAX - 1].rstrip() + "…"
        return Screening(Severity.CONCERN, (opinion.category,), (quote,) if quote else ())

    def _screen_lexicon(self, norm: Normalized, imminent_only: bool) -> Screening:
        """The lexicon's verdict. With ``imminent_only``, concern-level findings may be missed (the caller drops
        them anyway): the concept pass then runs only where a rule of high or imminent severity could fire."""
        t = norm.text
        concepts = self._concepts
        parts = norm.parts  # word, separator, word, ... (read-only: the model reads them too)
        raw_words = set(parts[::2])
        cache = self._word_cache
        infos = list(map(cache.get, raw_words))  # a word seen before (nearly all of them): no Python per word
        if not all(infos):  # (a truth test: "None in infos" would compare every tuple with None)
            infos = [info or self._word_info(word) for info, word in zip(infos, raw_words, strict=True)]
        # the requirements that the message's words (squeezed, "kiling", with the long anchors inside them) meet
        met: int = functools.reduce(operator.or_, map(_FIRST, infos), 0)
        hits: list[_Hit] = []
        for idx in self._wake(self._ungated.union(*map(_SECOND, infos)), met):
            spans = self._matches(idx, t)
            if spans:  # (most woken rules find nothing: no generator built for them)
                rule = self._rules[idx]
                hits.extend(_Hit(rule, a, b, rule.third) for a, b in spans)
        # second pass: combinations of concepts ("bought a gun" + "saturday")
        gate = concepts.imminent_gate if imminent_only else None
        digits = bool(met & self._digit_bit)  # a digit in some word (separators never have one)
        if not hits and not concepts.may_fire(raw_words, parts, t, gate, digits):
            return _NOTHING
        tagged = concepts.tag(t, parts, digits)
        concept_hits = concepts.hits(tagged) if tagged.marks else []
        if not hits and not concept_hits:
            return _NOTHING
        extra: dict[int, list[tuple[int, int]]] = {}
        for crule, mark, support in concept_hits:
            hits.append(_Hit(self._concept_rules[id(crule)], mark.start, mark.end, False))
            extra.setdefault(mark.start, []).extend((m.start, m.end) for m in support)
        shields: list[tuple[int, int]] = []
        mods: list[_Hit] = []
        for idx in self._wake(self._ungated_context.union(*map(_THIRD, infos)), met):
            rule = self._rules[idx]
            for a, b in self._matches(idx, t):
                if rule.kind == "suppress":
                    shields.append((a, b))
                else:
                    mods.append(_Hit(rule, a, b, False))
        negated: dict[int, bool] = {}  # by start: several matches often start on the same word
        reported: dict[int, bool] = {}
        survivors: list[_Hit] = []
        # (a guard needs one of its concepts in the message: tested once here rather than per match)
        guarding = not concepts.guard_concepts.isdisjoint(tagged.by_concept)
        for h in hits:
            if shields and self._shielded(h, shields, extra):  # (no idiom: nothing is shielded)
                continue
            if h.rule.negatable:
                if h.start not in negated:
                    negated[h.start] = self._negated(h, t)
                if negated[h.start]:
                    continue
            if guarding and concepts.guarded(
                tagged, h.start, "third_party" if h.third else h.rule.category, h.rule.severity
            ):
                continue
            if not h.third:
                if h.start not in reported:
                    reported[h.start] = self._reported(h, t)
                if reported[h.start]:
                    h = _Hit(h.rule, h.start, h.end, True)
            survivors.append(h)
        hits = survivors
        third_spans = [(h.start, h.end) for h in hits if h.third or h.rule.category == "third_party"]
        kept = [
            h
            for h in hits
            if h.third
            or h.rule.category == "third_party"
            or not any(a <= h.start and h.end <= b for a, b in third_spans)  # "wants to die" in "she wants to die"
        ]
        if not kept:
            return _SUPPRESSED
        if mods:  # time and means words raise phrase matches (concept rules weigh them themselves)
            mods = [m for m in mods if any(_near(m, h, t) for h in kept if h.rule.kind != "concept")]
        for start in {h.start for h in kept if h.rule.kind == "concept"}:
            kept.extend(_Hit(_SUPPORT, a, b, False) for a, b in extra.get(start, ()))
        return self._verdict(kept, mods, norm)

    def _word_info(self, word: str) -> tuple[int, frozenset[int], frozenset[int]]:
        """What the gate needs to know about one word of a message: the requirements met by the word squeezed
        ("kills" -> "kils") or by the anchors of three letters or more inside it (short ones count only as
        whole words: "sh" is not in "shift"), and the entry and context rules its anchors wake. Cached per word."""
        squeezed = squeeze(word)
        found: set[str] = set()
        for m in self._gate.finditer(squeezed):
            anchor = m.group(1)
            if not anchor:
                continue
            if m.start() == 0:
                found |= self._prefixes[anchor]
            else:  # inside a run-together word ("killmyself"): short pieces are noise ("sh" in "push")
                found.update(a for a in self._prefixes[anchor] if len(a) >= 3)
        entry: set[int] = set()
        context: set[int] = set()
        for anchor in found:
            entry.update(self._entry_index.get(anchor, ()))
            context.update(self._context_index.get(anchor, ()))
        met_by = self._met_by
        met = met_by.get(squeezed, 0)
        for a in found:
            if len(a) >= 3:
                met |= met_by.get(a, 0)
        if _DIGIT_RX.search(word) is not None:
            met |= self._digit_bit
        got = (met, frozenset(entry), frozenset(context))
        if len(self._word_cache) < _WORD_CACHE_SIZE:  # chat vocabulary is small: this soon covers it
            self._word_cache[word] = got
        return got

    def _matches(self, idx: int, t: str) -> list[tuple[int, int]]:
        """Spans of the non-empty, non-overlapping matches of rule ``idx``, leftmost first (as ``finditer``)."""
        rule = self._rules[idx]
        if not rule.scanner:
            return [m.span() for m in rule.rx.finditer(t) if m.end() > m.start()]
        search = rule.rx.search  # (one call where the phrase is absent, the usual case: cheaper than finditer)
        h = search(t)
        out: list[tuple[int, int]] = []
        while h is not None:
            a, b = h.span(1)
            if b > a:
                out.append((a, b))
                h = search(t, b)  # the next match starts after this one (look-behinds still see the text before)
            else:
                h = search(t, h.end())  # an empty match is skipped: on from the next character
        return out

    def _wake(self, candidates: frozenset[int], met: int) -> list[int]:
        """The candidate rules whose every required part has one of its words in the message (all of whose
        requirement bits are set in ``met``), in rule order."""
        needs = self._needs
        # (a list comprehension: the int operators run inline here, cheaper than map() over bound int methods)
        out = [i for i in candidates if (need := needs[i]) & met == need]
        out.sort()
        return out

    @staticmethod
    def _shielded(hit: _Hit, shields: list[tuple[int, int]], support: Mapping[int, list[tuple[int, int]]]) -> bool:
        """A phrase match overlapping an idiom is dropped; a concept match only when the idiom covers its
        trigger word and nothing that supports it comes after the idiom ("burned myself on the oven
        rack" is an accident, "... on purpose" is not)."""
        if hit.rule.kind != "concept":
            return any(a < hit.end and hit.start < b for a, b in shields)
        after = max((s for s, _ in support.get(hit.start, ())), default=-1)
        return any(a <= hit.start and hit.end <= b and after < b for a, b in shields)

    def _negated(self, hit: _Hit, t: str) -> bool:
        if not hit.rule.negatable:
            return False
        window = t[max(0, hit.start - 80) : hit.start]
        if self._answer_rx is not None and self._asked_rx is not None and self._asked_rx.search(window):
            if self._answer_rx.match(t, hit.end, hit.end + 60):
                return True  # asked about it, answered no
        if self._neg_rx is None:
            return False
        m = self._neg_rx.search(window)
        if m is None:
            return False
        # "I can't not think about dying": a negated negation does not protect.
        return not (self._cancel_rx is not None and self._cancel_rx.search(window[: m.start()]))

    def _reported(self, hit: _Hit, t: str) -> bool:
        if self._reporter_rx is None:
            return False
        window = t[max(0, hit.start - 80) : hit.start]
        cut = max(window.rfind("."), window.rfind("!"), window.rfind("?"), window.rfind("\n"))
        window = window[cut + 1 :]
        return bool(window) and self._reporter_rx.search(window) is not None

    @staticmethod
    def _verdict(hits: list[_Hit], mods: list[_Hit], norm: Any) -> Screening:
        severity = Severity.NONE
        categories: set[str] = set()
        first_person_intent = False
        third_seen = False
        for h in hits:
            if h.rule is _SUPPORT:
                continue
            if h.third:
                third_seen = True
                categories.add("third_party")
                sev = Severity.IMMINENT if h.rule.severity == Severity.IMMINENT else Severity.CONCERN
            else:
                categories.add(h.rule.category)
                sev = h.rule.severity
                first_person_intent = first_person_intent or (h.rule.category in _INTENT and h.rule.kind != "concept")
            severity = max(severity, sev)
        spans = [(h.start, h.end) for h in hits]
        if mods and (first_person_intent or third_seen):
            if first_person_intent:
                top = max((h.rule.severity for h in hits if not h.third), default=Severity.NONE)
                severity = max(severity, Severity(min(int(top) + 1, int(Severity.IMMINENT))))
                categories.add("plan_means")
            else:
                severity = max(severity, Severity.HIGH)
            spans.extend((m.start, m.end) for m in mods)
        spans.sort()
        merged: list[list[int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        quotes: list[str] = []
        for a, b in merged:
            q = norm.quote(a, b).strip()
            if q and q not in quotes:
                quotes.append(q)
        return Screening(severity, tuple(sorted(categories)), tuple(quotes))


__all__ = ["CATEGORIES", "Detector", "LexiconError", "Screening", "Severity"]


_BOUNDARY = re.compile(r"[.!?\n]")


_WORD_CACHE_SIZE = 200_000
_FIRST, _SECOND, _THIRD = operator.itemgetter(0), operator.itemgetter(1), operator.itemgetter(2)


def _near(mod: _Hit, hit: _Hit, t: str) -> bool:
    """A time or means word counts for a phrase in the same sentence, or right next to it."""
    if mod.start < hit.end and hit.start < mod.end:
        return True
    a, b = (hit.end, mod.start) if hit.end <= mod.start else (mod.end, hit.start)
    return b - a <= 12 or _BOUNDARY.search(t, a, b) is None


@functools.lru_cache(maxsize=8)
def load_shared(lexicon_path: str | None = None) -> Detector:
    """One compiled detector per lexicon per process: compiling takes a while, and a Detector is immutable."""
    return Detector.load(lexicon_path)
