"""Text normalization for crisis-language screening.

Folds Unicode (NFKC-style compatibility forms, accents), case, invisible characters, homoglyphs,
emoji, spaced-out letters, leetspeak, letter runs and misspellings, while keeping a map from every
normalized character back to the original text so that matches can be quoted as the user wrote them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Look-alike letters (after casefolding) folded to their Latin twin.
HOMOGLYPHS: Mapping[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "і": "i", "ї": "i", "ј": "j", "к": "k",
    "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s",
    "һ": "h", "ԁ": "d", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ь": "b", "п": "n", "г": "r",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "σ": "o", "ς": "c", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u",
    # Latin variants that NFKC leaves alone
    "ı": "i", "ɩ": "i", "ł": "l", "ɑ": "a", "ø": "o", "đ": "d", "ħ": "h", "ŀ": "l", "ʟ": "l",
    "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴋ": "k", "ᴅ": "d", "ᴇ": "e", "ꜱ": "s", "ᴜ": "u", "ᴛ": "t",
    "ᴍ": "m", "ʏ": "y", "ᴏ": "o", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ғ": "f", "ɴ": "n", "ʀ": "r",
    "ᴘ": "p", "ᴡ": "w", "ᴠ": "v", "ᴢ": "z", "ᴊ": "j",
}  # fmt: skip

# Emoji that stand for self-harm, suicide or means, spelled as words the lexicon can use.
DEFAULT_EMOJI: Mapping[str, str] = {
    "🔪": "knife", "🗡": "knife", "🩸": "blood", "💊": "pills", "💉": "needle", "⚰": "coffin",
    "🪦": "grave", "🔫": "gun", "🪢": "rope", "☠": "skull", "💀": "skull", "🌉": "bridge",
    "🚆": "train", "🚂": "train", "🚄": "train", "🧷": "pin", "✂": "scissors", "🪒": "razor",
    "😵": "dizzy", "🆘": "sos", "👋": "wave", "🕯": "candle", "🥀": "wilted",
}  # fmt: skip

# Everyday misspellings folded to the word the lexicon uses (more come from the lexicon file).
DEFAULT_SPELLING: Mapping[str, str] = {
    "kil": "kill", "kiling": "killing", "kiled": "killed", "ded": "dead", "dieing": "dying",
    "dyin": "dying", "myslef": "myself", "myseif": "myself", "meself": "myself", "seif": "self",
    "selfharm": "self harm", "selfharming": "self harming", "overdoes": "overdose",
    "suicde": "suicide", "sucide": "suicide", "suiside": "suicide", "suicidle": "suicidal",
    "suicidial": "suicidal", "sucidal": "suicidal", "sewerslide": "suicide", "unalived": "unalive",
    "gunna": "gonna", "gona": "gonna", "cnt": "cant", "dnt": "dont", "anymor": "anymore",
    "nomore": "no more", "urself": "yourself", "yourslef": "yourself", "kmslf": "kms",
    "evryone": "everyone", "everone": "everyone", "goodby": "goodbye", "gudbye": "goodbye",
    "tonite": "tonight", "2nite": "tonight", "2night": "tonight", "pils": "pills", "bc": "because",
    "cuz": "because", "ppl": "people", "u": "you", "ur": "your", "r": "are", "wnt": "want",
}  # fmt: skip

_APOSTROPHES = frozenset("'’‘ʼ`´")
_LEET: Mapping[str, str] = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s", "@": "a", "!": "i"}
_UNITS = frozenset(
    "am pm st nd rd th mg mcg g kg ml l x h hr hrs min mins m s d yo yr yrs mo wk wks day days "
    "week weeks pill pills tab tabs unit units u iu mmol k ft lb lbs oz mins sec secs hour hours".split()
)
_LETTERISH = "a-z0-9$@!|"
_SPACED_RE = re.compile(r"(?<![a-z0-9$@|])([a-z0-9$@|])([ .\-_*,+~]{1,3})(?:[a-z0-9$@|]\2)+[a-z0-9$@|](?![a-z0-9$@|])")
# a letter next to a digit or symbol ("k1ll"): written to start at the (rare) symbol, so the engine skips to it in C;
# it finds one exactly when "[a-z][0-9$@!|]|[0-9$@!|][a-z]" does (it is only asked whether there is one)
_LEET_HINT_RE = re.compile(r"[0-9$@!|](?:(?<=[a-z][0-9$@!|])|(?=[a-z]))")
_TOKEN_RE = re.compile(rf"(?<![{_LETTERISH}])[{_LETTERISH}]*(?:[a-z][0-9$@!|]|[0-9$@!|][a-z])[{_LETTERISH}]*")
_DIGITS_THEN_LETTERS_RE = re.compile(r"(\d+)([a-z]+)")
_RUN_RE = re.compile(r"([a-z])\1{2,}")
_SPACE_RE = re.compile(
    r"[ \t\r\f\v]*(?:\.{2,}|…|—|–|-{2,}|&|\+)[ \t\r\f\v]*|[ \t\r\f\v]{2,}|[\t\r\f\v]|(?<=[a-z])[-_/~](?=[a-z])"
)
_SPACE_CHARS = frozenset("\t\r\f\v&+…—–-_/~")
_LEET_CHARS = frozenset("0123456789$@!|")
_ASCII_APOSTROPHE_RE = re.compile(r"['`]")
# the apostrophe of "OD'd" stands for letters: dropping it would leave the ordinary word "odd"
_OD_APOSTROPHE_RE = re.compile(r"(?<![a-z0-9])od['`’]d(?![a-z0-9])")
# spaced-out letters ("k i l l") or a letter three times in a row: when absent, two stages are skipped
# (as two searches that together find one exactly when
# "(?<![a-z0-9$@|])[a-z0-9$@|][ .\-_*,+~]{1,3}[a-z0-9$@|](?![a-z0-9$@|])|([a-z])\1\1" does: the first starts at the
# separator after the lone letter, so the engine skips to separators in C)
_ODD_SPACED_RE = re.compile(
    r"[ .\-_*,+~](?<=[a-z0-9$@|][ .\-_*,+~])(?<![a-z0-9$@|][a-z0-9$@|][ .\-_*,+~])"
    r"[ .\-_*,+~]{0,2}[a-z0-9$@|](?![a-z0-9$@|])"
)
_ODD_RUN_RE = re.compile(r"([a-z])\1\1")
_WORD_RE = re.compile(r"(?<![a-z0-9])[a-z]+(?![a-z0-9])")
# word, separator, word, ... (the first and last word may be empty): the tokens the lexicon and the model read.
# Written "[^a-z0-9][^a-z0-9]*", not "[^a-z0-9]+" (the same matches): a pattern that starts with a character
# class lets the regex engine skip to the next separator in C, about a third faster.
_PARTS_RE = re.compile(r"([^a-z0-9][^a-z0-9]*)")
split_words = _PARTS_RE.split
_SQUEEZE_RE = re.compile(r"(.)\1+")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]|['`]")
_CENSOR_RE = re.compile(r"(?<![a-z0-9])[a-z*]*[a-z][a-z*]*(?![a-z0-9])")


def squeeze(text: str) -> str:
    """Collapse every run of a repeated character to one (``kill`` -> ``kil``); used for fast gating."""
    return _SQUEEZE_RE.sub(r"\1", text)


Edit = tuple[int, int, str]
# the text before a normalization step, and the edits that step made to it
Step = tuple[str, tuple[Edit, ...]]


class Normalized:
    """Normalized text plus, for each of its characters, the span of the original it came from.

    The offset map is built only when asked for (quoting a match): most messages are never quoted, so
    normalization just records its edits. Treat it as immutable (a plain slotted class: one is built for
    every message screened, and a frozen dataclass costs several times as much to construct)."""

    __slots__ = ("_maps_cache", "_parts", "base_ends", "base_starts", "original", "steps", "text")

    def __init__(
        self,
        text: str,
        original: str,
        base_starts: list[int] | None,  # map after folding characters; None means the identity map
        base_ends: list[int] | None,
        steps: tuple[Step, ...] = (),
        parts: list[str] | None = None,  # split_words(text), when the normalizer already has it
    ) -> None:
        self._parts = parts
        self.text = text
        self.original = original
        self.base_starts = base_starts
        self.base_ends = base_ends
        self.steps = steps
        self._maps_cache: tuple[list[int] | None, list[int] | None] | None = None

    def __repr__(self) -> str:
        return f"Normalized(text={self.text!r})"

    @property
    def parts(self) -> list[str]:
        """``split_words(text)``: word, separator, word, ... Computed once and shared: treat it as read-only."""
        if self._parts is None:
            self._parts = split_words(self.text)  # a cache, not a change of value
        return self._parts

    @property
    def starts(self) -> list[int] | None:
        return self._maps()[0]

    @property
    def ends(self) -> list[int] | None:
        return self._maps()[1]

    def _maps(self) -> tuple[list[int] | None, list[int] | None]:
        if self._maps_cache is not None:
            return self._maps_cache
        starts, ends = self.base_starts, self.base_ends
        for before, edits in self.steps:  # replayed on demand: only quoted messages pay for it
            _, starts, ends = _apply(before, starts, ends, list(edits))
        self._maps_cache = (starts, ends)  # a cache, not a change of value
        return starts, ends

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``(start, end)`` covering normalized characters ``start..end``."""
        starts, ends = self._maps()
        if end <= start:
            if starts is None:
                return start, start
            pos = starts[start] if start < len(starts) else len(self.original)
            return pos, pos
        if starts is None or ends is None:
            return start, end
        return starts[start], ends[end - 1]

    def quote(self, start: int, end: int) -> str:
        """The original text behind normalized characters ``start..end``."""
        a, b = self.span(start, end)
        return self.original[a:b]


def _edit_text(text: str, edits: list[Edit]) -> str:
    """Apply sorted, non-overlapping edits to the text only."""
    out: list[str] = []
    pos = 0
    for s, e, repl in edits:
        out.append(text[pos:s])
        out.append(repl)
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _apply(
    text: str, starts: list[int] | None, ends: list[int] | None, edits: list[Edit]
) -> tuple[str, list[int], list[int]]:
    """Apply sorted, non-overlapping edits and carry the offset map along."""
    if starts is None or ends is None:
        starts, ends = list(range(len(text))), list(range(1, len(text) + 1))
    out: list[str] = []
    new_s: list[int] = []
    new_e: list[int] = []
    pos = 0
    for s, e, repl in edits:
        out.append(text[pos:s])
        new_s.extend(starts[pos:s])
        new_e.extend(ends[pos:s])
        if len(repl) == e - s:  # same length: keep per-character precision
            new_s.extend(starts[s:e])
            new_e.extend(ends[s:e])
        elif repl:
            new_s.extend([starts[s]] * len(repl))
            new_e.extend([ends[e - 1]] * len(repl))
        out.append(repl)
        pos = e
    out.append(text[pos:])
    new_s.extend(starts[pos:])
    new_e.extend(ends[pos:])
    return "".join(out), new_s, new_e


def _apostrophe(text: str, j: int) -> str:
    """What the apostrophe at ``text[j]`` becomes: nothing, or the "e" of "od'd" ("oded")."""
    if j >= 2 and text[j - 2 : j].lower() == "od" and _OD_APOSTROPHE_RE.match(text.lower(), j - 2):
        return "e"
    return ""


def _map_char(ch: str, emoji: Mapping[str, str]) -> str:
    if ch < "\x80":
        return "" if ch in _APOSTROPHES else ch.lower()
    word = emoji.get(ch)
    if word is not None:
        return f" {word} "
    if ch in _APOSTROPHES:
        return ""
    cat = unicodedata.category(ch)
    if cat in ("Cf", "Mn", "Me", "Cc") or "\ufe00" <= ch <= "\ufe0f" or "\U0001f3fb" <= ch <= "\U0001f3ff":
        return ""  # zero-width and format characters, variation selectors, skin tones, stray marks
    if cat == "Zs":
        return " "
    folded = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    folded = unicodedata.normalize("NFKC", folded).casefold()
    return "".join(HOMOGLYPHS.get(c, c) for c in folded)


_Work = tuple[str, list[int] | None, list[int] | None, tuple[Step, ...]]


def _fold_chars(text: str, emoji: Mapping[str, str]) -> _Work:
    if text.isascii():
        low = text.lower()
        if "'" not in low and "`" not in low:
            return low, None, None, ()
        if _OD_APOSTROPHE_RE.search(low) is None:  # the usual case: every apostrophe is simply dropped
            edits = tuple((m.start(), m.end(), "") for m in _ASCII_APOSTROPHE_RE.finditer(low))
            return low.replace("'", "").replace("`", ""), None, None, ((low, edits),)
        edits = tuple((m.start(), m.end(), _apostrophe(low, m.start())) for m in _ASCII_APOSTROPHE_RE.finditer(low))
        return _edit_text(low, list(edits)), None, None, ((low, edits),)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in _NON_ASCII_RE.finditer(text):  # plain ASCII runs are copied in bulk
        j = m.start()
        if j > pos:
            chunk = text[pos:j]
            out.append(chunk.lower())
            starts.extend(range(pos, j))
            ends.extend(range(pos + 1, j + 1))
        mapped = _map_char(m.group(0), emoji) if m.group(0) not in _APOSTROPHES else _apostrophe(text, j)
        if mapped:
            out.append(mapped)
            starts.extend([j] * len(mapped))
            ends.extend([j + 1] * len(mapped))
        pos = j + 1
    if pos < len(text):
        out.append(text[pos:].lower())
        starts.extend(range(pos, len(text)))
        ends.extend(range(pos + 1, len(text) + 1))
    return "".join(out), starts, ends, ()


def _unspace(m: re.Match[str]) -> Iterable[Edit]:
    sep = m.group(2)
    s = m.start()
    chunk = m.group(0)
    i = 1
    while i < len(chunk):  # delete every separator between the single letters
        if chunk.startswith(sep, i):
            yield (s + i, s + i + len(sep), "")
            i += len(sep)
        else:
            i += 1


def _space_edits(m: re.Match[str]) -> Iterable[Edit]:
    found = m.group(0)
    if found == " ":
        return []
    stripped = found.strip()
    return [(m.start(), m.end(), " and " if stripped in ("&", "+") else " ")]


def _delete(m: re.Match[str]) -> Iterable[Edit]:
    return [(m.start(), m.end(), "")]


def _shorten_run(m: re.Match[str]) -> Iterable[Edit]:
    return [(m.start(), m.end(), m.group(1) * 2)]


def _deleet_token(tok: str) -> str:
    if not any("a" <= c <= "z" for c in tok):
        return tok  # plain numbers ("40", "10", "$5") stay usable by patterns
    lead = _DIGITS_THEN_LETTERS_RE.fullmatch(tok)
    if lead and (len(lead.group(1)) > 1 or lead.group(2) in _UNITS or lead.group(1) not in "013457"):
        return tok  # "10pm", "40mg", "2nd", "5mins", "40pills"
    chars = list(tok)
    n = len(chars)
    for i, c in enumerate(chars):
        if c in "1|":
            prev = chars[i - 1] if i else ""
            nxt = tok[i + 1] if i + 1 < n else ""
            if nxt in ("1", "|") or prev in ("l", "i") or (prev == "l" and not nxt):
                chars[i] = "l"
            elif prev and not nxt:
                chars[i] = "l" if prev in "aeiou" else "i"
            else:
                chars[i] = "i"
        elif c == "!":
            if i + 1 < n and tok[i + 1] not in "!":
                chars[i] = "i"
        elif c in _LEET:
            chars[i] = _LEET[c]
    return "".join(chars)


def _stage(work: _Work, rx: re.Pattern[str], fn: Callable[[re.Match[str]], Iterable[Edit]]) -> _Work:
    text, starts, ends, steps = work
    edits: list[Edit] = []
    for m in rx.finditer(text):
        edits.extend(fn(m))
    if not edits:
        return work
    return _edit_text(text, edits), starts, ends, (*steps, (text, tuple(edits)))


class Normalizer:
    """A configured normalization pipeline (immutable after construction, safe to share)."""

    __slots__ = ("_drop", "_emoji", "_filler_heads", "_odd_heads", "_spell_keys", "_spelling", "_vocab")

    def __init__(
        self,
        emoji: Mapping[str, str] | None = None,
        spelling: Mapping[str, str] | None = None,
        fillers: Iterable[str] = (),
        vocab: Iterable[str] = (),
    ) -> None:
        # a starred-out word is read as the first vocabulary word it fits: the caller lists the words it
        # most wants to catch first ("c*t" is "cut" before "cat"); a set gives alphabetical order
        self._vocab: dict[int, list[str]] = {}
        ordered = sorted(vocab) if isinstance(vocab, set | frozenset) else list(dict.fromkeys(vocab))
        for word in ordered:
            self._vocab.setdefault(len(word), []).append(word)
        fillers = [f for f in fillers if f.strip()]
        self._drop = filler_regex(fillers) if fillers else None
        self._filler_heads = frozenset(f.lower().split()[0] for f in fillers)
        # a filler head that is not a plain run of letters: gate the filler stage on _WORD_RE words exactly
        self._odd_heads = not all(h.isalpha() and h.isascii() for h in self._filler_heads)
        self._emoji: dict[str, str] = dict(DEFAULT_EMOJI)
        for key, word in (emoji or {}).items():
            key = "".join(c for c in key if not ("\ufe00" <= c <= "\ufe0f" or c == "\u200d"))
            self._emoji[key] = word.lower()
        self._spelling: dict[str, str] = {k: v for k, v in DEFAULT_SPELLING.items() if k != v}
        for key, word in (spelling or {}).items():
            if key != word:
                self._spelling[key.lower()] = word.lower()
        self._spell_keys = frozenset(self._spelling)

    def normalize(self, text: str) -> Normalized:
        work = _fold_chars(text, self._emoji)
        if "*" in work[0] and self._vocab:
            work = _stage(work, _CENSOR_RE, self._uncensor)
        # cheap checks first: most messages need few of the stages below
        odd = _ODD_SPACED_RE.search(work[0]) is not None or _ODD_RUN_RE.search(work[0]) is not None
        if odd:
            work = _stage(work, _SPACED_RE, _unspace)
        chars = set(work[0])
        if not _LEET_CHARS.isdisjoint(chars) and _LEET_HINT_RE.search(work[0]):
            before = work[0]
            work = _stage(work, _TOKEN_RE, self._leet_edits)
            odd = odd or work[0] != before
        if odd:
            work = _stage(work, _RUN_RE, _shorten_run)
        # (exactly when the regex "[\t\r\f\v&+…—–\-_/~]|\.\.|  " finds something: one of _SPACE_CHARS, "..", "  ")
        if not _SPACE_CHARS.isdisjoint(chars) or ".." in work[0] or "  " in work[0]:
            work = _stage(work, _SPACE_RE, _space_edits)
        # the stages below are gated on the words of the text: every token of letters and digits here, a superset
        # of the all-letter words (_WORD_RE) the stages act on, so a gate opens at least whenever it must. Opened
        # in vain, the spelling stage edits nothing (its keys are matched as _WORD_RE words); the filler stage
        # could, so its gate keeps to all-letter words when some filler begins with a digit (see __init__).
        parts = split_words(work[0])
        words = set(parts[::2])
        if not self._spell_keys.isdisjoint(words):
            before = work[0]
            work = _stage(work, _WORD_RE, self._spell_edits)
            if work[0] is not before:
                parts = split_words(work[0])
                words = set(parts[::2])
        if self._drop is not None:
            if self._odd_heads:
                words = set(_WORD_RE.findall(work[0]))
            if not self._filler_heads.isdisjoint(words):
                before = work[0]
                work = _stage(work, self._drop, _delete)
                if work[0] is not before:
                    parts = None
        return Normalized(work[0], text, work[1], work[2], work[3], parts)

    def _uncensor(self, m: re.Match[str]) -> Iterable[Edit]:
        """'h*rt' -> 'hurt': a starred-out word is read as the lexicon word it fits."""
        tok = m.group(0)
        if "*" not in tok.strip("*"):
            return []
        rx = re.compile(re.escape(tok).replace(r"\*", "[a-z]"))
        for word in self._vocab.get(len(tok), ()):
            if rx.fullmatch(word):
                return [(m.start(), m.end(), word)]
        return []

    @staticmethod
    def _leet_edits(m: re.Match[str]) -> Iterable[Edit]:
        tok = m.group(0)
        new = _deleet_token(tok)
        return [(m.start(), m.end(), new)] if new != tok else []

    def _spell_edits(self, m: re.Match[str]) -> Iterable[Edit]:
        repl = self._spelling.get(m.group(0))
        return [(m.start(), m.end(), repl)] if repl is not None else []


def trie_regex(words: Iterable[str]) -> str:
    """A compact regular expression matching any of ``words`` (a trie: fast on long lists)."""
    root: dict[str, Any] = {}
    for w in words:
        node = root
        for c in w:
            node = node.setdefault(c, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(c) + build(child) for c, child in sorted(node.items()) if c]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


def filler_regex(fillers: Iterable[str]) -> re.Pattern[str]:
    """Whole filler words ("really", "kind of") plus the space after them, for removal before matching."""
    words = {" ".join(f.lower().split()) for f in fillers if f.strip()}
    return re.compile(rf"(?<![a-z0-9_<])(?:{trie_regex(words)})(?![a-z0-9_>*])[ ]?")


def fuzzy_variants(word: str) -> set[str]:
    """One-slip misspellings of a long word: a dropped letter, two swapped, c/s i/y e/a mixups."""
    out: set[str] = set()
    if len(word) < 6:
        return out
    for i in range(len(word)):
        out.add(word[:i] + word[i + 1 :])
        if i + 1 < len(word) and word[i] != word[i + 1]:
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    for a, b in (("c", "s"), ("s", "c"), ("i", "y"), ("y", "i"), ("e", "a")):
        for i, c in enumerate(word):
            if c == a:
                out.add(word[:i] + b + word[i + 1 :])
    out.discard(word)
    return out


_DEFAULT = Normalizer()


def normalize(text: str) -> Normalized:
    """Normalize with the default emoji and spelling tables."""
    return _DEFAULT.normalize(text)


__all__ = ["DEFAULT_EMOJI", "DEFAULT_SPELLING", "HOMOGLYPHS", "Normalized", "Normalizer", "filler_regex",
           "fuzzy_variants", "normalize", "split_words", "squeeze", "trie_regex"]  # fmt: skip
