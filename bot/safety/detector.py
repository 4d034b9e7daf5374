"""Crisis-language detector: screens one chat message for suicide, self-harm, overdose and violence risk.

The lexicon (phrases in a small pattern syntax, context rules) is TOML data compiled once at load time;
``Detector.screen`` is then pure, thread-safe and fast. It never logs or prints message text.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.safety.normalize import Normalizer, filler_regex, fuzzy_variants, squeeze, trie_regex

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
_TOKENS = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "i im me my a an the to of and or in on at it is be am are was so just you your he she they his her "
    "their him them we us our not no do dont for with".split()
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
        self.sep = ",?[ ]?"

    def parse(self, phrase: str) -> _Seq:
        return _parse(phrase, self._drop)

    @staticmethod
    def _word_re(word: str, prefix: bool = False) -> str:
        body = "".join(re.escape(c) + ("+" if c.isalpha() else "") for c in word)
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
        out.sort(key=lambda a: (not any(w in _STOP or len(w) < 3 for w in a), min(len(w) for w in a), -len(a)))
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
    origin: dict[int, str] = field(default_factory=dict)  # id(table) -> file name, for messages


_TOP_KEYS = {"version", "mode", "description", "syntax", "slots", "third_party", "negation", "normalize",
             "entry", "suppress", "modifier"}  # fmt: skip
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
        if key not in ("cues", "bridges", "cancel"):
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
    for table, allowed, target in (
        ("entry", _ENTRY_KEYS, lex.entries),
        ("suppress", _SUPPRESS_KEYS, lex.suppress),
        ("modifier", _MODIFIER_KEYS, lex.modifiers),
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
            if not isinstance(item.get("id"), str) or not item["id"]:
                raise LexiconError(f"{label}: needs an 'id' string")
            if "phrases" not in item and "regex" not in item:
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


@dataclass(frozen=True, slots=True)
class _Hit:
    rule: _Rule
    start: int
    end: int
    third: bool


class Detector:
    """Screens messages against a compiled lexicon. Build with ``Detector.load()``."""

    __slots__ = ("_cancel_rx", "_context_index", "_entry_index", "_gate", "_neg_rx", "_normalizer", "_prefixes",
                 "_reporter_rx", "_requires", "_rules", "_subject", "_third_rules", "_ungated", "_ungated_context",
                 "version")  # fmt: skip

    version: str

    def __init__(self, lex: _Lexicon, version: str) -> None:
        self.version = version
        fillers = [_clean(f) for f in lex.syntax.get("fillers", []) if _clean(f).strip()]
        drop = filler_regex(fillers) if fillers else None
        compiler = _Compiler(lex.slots, drop)
        swap = lex.third_party.get("swap", {})
        rules: list[_Rule] = []
        anchors: list[list[frozenset[str]]] = []
        literal_words: set[str] = set()

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
                        body = compiler.regex(var)
                        rx = re.compile(rf"(?<![a-z0-9]){compiler.lead(var)}(?:{body})(?![a-z0-9])")
                        rules.append(_Rule(kind, item["id"], category, severity, rx, negatable, third))
                        anchors.append(compiler.requirements(var))
                    literal_words.update(compiler.words(seq))
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
        if not any(r.kind == "entry" for r in rules):
            raise LexiconError("lexicon has no [[entry]] tables, so it would never escalate")

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
        vocab = [w for w in literal_words if " " not in w and w.isalpha() and len(w) >= 3]
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
        self._requires = tuple(tuple(q for q in r[1:] if min(map(len, q)) >= 3) for r in anchors)
        # third-person variants also need a person word ("she", "my son") as a whole word in the message
        subject: set[str] = set()
        for name in set(swap.values()):
            if name in lex.slots:
                for req in compiler.requirements(compiler.slot(name)):
                    subject.update(req)
        self._subject = frozenset(subject)
        self._third_rules = frozenset(i for i, r in enumerate(rules) if r.third)
        every = {w for r in anchors if r for w in r[0]} | {w for r in self._requires for q in r for w in q}
        self._entry_index = {k: frozenset(v) for k, v in entry_index.items()}
        self._context_index = {k: frozenset(v) for k, v in context_index.items()}
        # a gate hit on "kils" also means its prefixes "kil", "ki" are present
        self._prefixes = {a: frozenset(a[:k] for k in range(1, len(a) + 1) if a[:k] in every) for a in every}
        self._ungated = frozenset(ungated)
        self._ungated_context = frozenset(ungated_context)
        self._gate = re.compile(f"(?=({trie_regex(every)}))")

    @classmethod
    def load(cls, lexicon_path: str | os.PathLike[str] | None = None) -> Detector:
        """Built-in lexicon, then the file at lexicon_path if given. The file says `mode = "extend"` (default:
        add to the built-in) or `mode = "replace"`."""
        data, name = _read(BUILTIN_LEXICON)
        lex = _merge(None, data, name)
        version = f"builtin-{data['version']}"
        if lexicon_path is not None:
            custom, cname = _read(Path(lexicon_path))
            if custom.get("mode", "extend") == "replace":
                lex = _merge(None, custom, cname)
                version = f"custom-{custom['version']}"
            else:
                lex = _merge(lex, custom, cname)
                version = f"{version}+custom-{custom['version']}"
        return cls(lex, version)

    def screen(self, text: str) -> Screening:
        """Screen one message. Pure: the same text always gives the same Screening."""
        if not text or text.isspace():
            return _NOTHING
        norm = self._normalizer.normalize(text)
        t = norm.text
        squeezed = squeeze(t)
        found = set(self._gate.findall(squeezed))
        found.discard("")
        present: set[str] = set()
        for anchor in found:
            present |= self._prefixes[anchor]
        hits: list[_Hit] = []
        wake = self._wake(present, self._entry_index, self._ungated)
        if self._third_rules.intersection(wake) and self._subject.isdisjoint(_TOKENS.findall(squeezed)):
            wake = [i for i in wake if i not in self._third_rules]
        for idx in wake:
            rule = self._rules[idx]
            hits.extend(_Hit(rule, m.start(), m.end(), rule.third) for m in rule.rx.finditer(t) if m.end() > m.start())
        if not hits:
            return _NOTHING
        shields: list[tuple[int, int]] = []
        mods: list[_Hit] = []
        for idx in self._wake(present, self._context_index, self._ungated_context):
            rule = self._rules[idx]
            for m in rule.rx.finditer(t):
                if m.end() == m.start():
                    continue
                if rule.kind == "suppress":
                    shields.append((m.start(), m.end()))
                else:
                    mods.append(_Hit(rule, m.start(), m.end(), False))
        hits = [h for h in hits if not self._shielded(h, shields) and not self._negated(h, t)]
        hits = [_Hit(h.rule, h.start, h.end, True) if not h.third and self._reported(h, t) else h for h in hits]
        third_spans = [(h.start, h.end) for h in hits if h.third or h.rule.category == "third_party"]
        kept = [
            h
            for h in hits
            if h.third
            or h.rule.category == "third_party"
            or not any(a <= h.start and h.end <= b for a, b in third_spans)  # "wants to die" in "she wants to die"
        ]
        if not kept:
            return _NOTHING
        return self._verdict(kept, mods, norm)

    def _wake(self, present: set[str], index: Mapping[str, frozenset[int]], always: frozenset[int]) -> list[int]:
        wake = set(always)
        for word in present:
            found = index.get(word)
            if found:
                wake |= found
        requires = self._requires
        return sorted(i for i in wake if all(not req.isdisjoint(present) for req in requires[i]))

    @staticmethod
    def _shielded(hit: _Hit, shields: list[tuple[int, int]]) -> bool:
        return any(a < hit.end and hit.start < b for a, b in shields)

    def _negated(self, hit: _Hit, t: str) -> bool:
        if not hit.rule.negatable or self._neg_rx is None:
            return False
        window = t[max(0, hit.start - 80) : hit.start]
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
            if h.third:
                third_seen = True
                categories.add("third_party")
                sev = Severity.IMMINENT if h.rule.severity == Severity.IMMINENT else Severity.CONCERN
            else:
                categories.add(h.rule.category)
                sev = h.rule.severity
                first_person_intent = first_person_intent or h.rule.category in _INTENT
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


@functools.lru_cache(maxsize=8)
def load_shared(lexicon_path: str | None = None) -> Detector:
    """One compiled detector per lexicon per process: compiling takes a while, and a Detector is immutable."""
    return Detector.load(lexicon_path)
