"""Text normalization for crisis-language screening.

Folds Unicode (NFKC-style compatibility forms, accents), case, invisible characters, homoglyphs,
emoji, spaced-out letters, leetspeak, letter runs and misspellings, while keeping a map from every
normalized character back to the original text so that matches can be quoted as the user wrote them.
"""

from __future__ import annotations

import itertools
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
# a non-ASCII character or an ASCII apostrophe (' is \x27, ` is \x60): one class, so the engine skips ASCII in C
_NON_ASCII_RE = re.compile(r"[^\x00-\x26\x28-\x5f\x61-\x7f]")
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
        # the usual case: every apostrophe is simply dropped (the substring tests spare most texts the search for
        # "od'd", which cannot start with a character class and so tries every position)
        if ("od'd" not in low and "od`d" not in low) or _OD_APOSTROPHE_RE.search(low) is None:
            if "`" in low:
                edits = tuple((m.start(), m.end(), "") for m in _ASCII_APOSTROPHE_RE.finditer(low))
                return low.replace("'", "").replace("`", ""), None, None, ((low, edits),)
            found: list[Edit] = []
            j = low.find("'")
            while j >= 0:  # one or two apostrophes, as a rule: cheaper than a regex pass
                found.append((j, j + 1, ""))
                j = low.find("'", j + 1)
            return low.replace("'", ""), None, None, ((low, tuple(found)),)
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
    edits: list[Edit] = []
    for m in rx.finditer(work[0]):
        edits.extend(fn(m))
    return _edited(work, edits)


def _edited(work: _Work, edits: list[Edit]) -> _Work:
    """The work after sorted, non-overlapping edits of its text (the same object when there are none)."""
    if not edits:
        return work
    text, starts, ends, steps = work
    return _edit_text(text, edits), starts, ends, (*steps, (text, tuple(edits)))


# What a word or a separator of the text can ask of the stages (Normalizer._scan): each part of split_words(text)
# gets the flags of its kind, so that one pass over the parts gates every stage.
_SINGLE = 1  # a one-character word: spaced-out letters are two of them, one to three spacing characters apart
_RUN = 2  # a word with a letter three times in a row
_MIXED = 4  # a word of letters and digits that reads as leetspeak ("k1ll", not "10pm")
_SPELL = 8  # a word with a spelling fix
_FILLER = 16  # a word a filler begins with
_LEET_SEP = 32  # a separator with one of "$@!|", which are leetspeak for letters next to one
_LETTERISH_SEP = 64  # a separator with one of "$@|", which count as letters for spaced-out letters
_SPACE_SEP = 128  # a separator the spacing stage rewrites: one of _SPACE_CHARS, "..", "  "
_SPACERS = " .-_*,+~"  # what may stand between spaced-out letters (as in _SPACED_RE)
_KIND_CACHE_SIZE = 100_000  # distinct words and separators remembered (chat vocabulary is small)


def _spaced_pair(parts: list[str]) -> bool:
    """Whether two one-character words stand one to three of _SPACERS apart: ``_ODD_SPACED_RE`` finds one in the
    text exactly then, when none of "$@|" (letters to that regex) is in it. Its match is a lone letter or digit (the
    one before it is no letter or digit), a run of one to three spacers, and another lone one: a one-character word,
    a separator that is just that run (a spacer is no letter or digit; another character would end the run before
    the next letter), and a one-character word."""
    lens = list(map(len, parts[::2]))
    last = len(lens) - 1
    k = -1
    for _ in range(lens.count(1)):  # (counted first: a failed index() raises, which costs more than the search)
        k = lens.index(1, k + 1)
        if k < last and lens[k + 1] == 1:
            sep = parts[2 * k + 1]
            if len(sep) <= 3 and not sep.strip(_SPACERS):
                return True
    return False


def _deleet_word(word: str) -> str | None:
    new = _deleet_token(word)
    return new if new != word else None


def _word_edits(parts: list[str], fix: Callable[[str], str | None]) -> list[Edit]:
    """An edit for each word of the text (``parts``: split_words(text)) that ``fix`` replaces."""
    edits: list[Edit] = []
    pos = 0
    for i, part in enumerate(parts):
        if not i & 1 and part:
            repl = fix(part)
            if repl is not None:
                edits.append((pos, pos + len(part), repl))
        pos += len(part)
    return edits


class Normalizer:
    """A configured normalization pipeline (immutable after construction, safe to share: the one thing it changes
    is a cache of what each word or separator asks of the stages)."""

    __slots__ = ("_drop", "_emoji", "_filler_heads", "_fillers", "_kinds", "_odd_heads", "_spell_keys", "_spelling",
                 "_vocab")  # fmt: skip

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
        self._fillers = _filler_table(fillers) if not self._odd_heads else None
        self._emoji: dict[str, str] = dict(DEFAULT_EMOJI)
        for key, word in (emoji or {}).items():
            key = "".join(c for c in key if not ("\ufe00" <= c <= "\ufe0f" or c == "\u200d"))
            self._emoji[key] = word.lower()
        self._spelling: dict[str, str] = {k: v for k, v in DEFAULT_SPELLING.items() if k != v}
        for key, word in (spelling or {}).items():
            if key != word:
                self._spelling[key.lower()] = word.lower()
        self._spell_keys = frozenset(self._spelling)
        self._kinds: dict[str, int] = {}

    def normalize(self, text: str) -> Normalized:
        work = _fold_chars(text, self._emoji)
        if "*" in work[0] and self._vocab:
            work = _stage(work, _CENSOR_RE, self._uncensor)
        # Each stage below runs only where it can change something. The gates read the words and separators of the
        # text (_scan), not the text: most messages need none of the stages, and then the parts found first are
        # the ones returned. A stage that edits the text has the gates after it read the new text.
        parts, kinds = self._scan(work[0])
        odd = bool(kinds & _RUN) or bool(kinds & (_SINGLE | _LETTERISH_SEP) and self._spaced(work[0], parts, kinds))
        if odd:
            before = work
            work = _stage(work, _SPACED_RE, _unspace)
            if work is not before:
                parts, kinds = self._scan(work[0])
        # leetspeak: without "$@!|" in the text, the tokens _TOKEN_RE finds are its words of letters and digits,
        # and the stage edits those that _deleet_token reads otherwise (the _MIXED words)
        leet = kinds & _MIXED if not kinds & _LEET_SEP else _LEET_HINT_RE.search(work[0]) is not None
        if leet:
            before = work
            if kinds & _LEET_SEP:
                work = _stage(work, _TOKEN_RE, self._leet_edits)
            else:
                work = _edited(work, _word_edits(parts, _deleet_word))
            if work[0] != before[0]:  # (an edit that changes nothing still counts as one)
                odd = True
            if work is not before:
                parts, kinds = self._scan(work[0])
        if odd:
            before = work
            work = _stage(work, _RUN_RE, _shorten_run)
            if work is not before:
                parts, kinds = self._scan(work[0])
        if kinds & _SPACE_SEP:
            before = work
            work = _stage(work, _SPACE_RE, _space_edits)
            if work is not before:
                parts, kinds = self._scan(work[0])
        if kinds & _SPELL:
            before = work
            work = _edited(work, _word_edits(parts, self._spell_word))
            if work is not before:
                parts, kinds = self._scan(work[0])
        # (a filler head that is no plain word: the gate reads the all-letter words, as it always has)
        if self._drop is not None and (
            not self._filler_heads.isdisjoint(_WORD_RE.findall(work[0])) if self._odd_heads else kinds & _FILLER
        ):
            if self._fillers is not None:
                edits, parts = self._filler_edits(parts)
                work = _edited(work, edits)
            else:  # some filler is not plain words: only the regex finds it
                before = work
                work = _stage(work, self._drop, _delete)
                if work is not before:
                    parts = split_words(work[0])
        return Normalized(work[0], text, work[1], work[2], work[3], parts)

    def _scan(self, text: str) -> tuple[list[str], int]:
        """``split_words(text)`` and the union of the flags of its parts (a word or separator seen before, nearly
        all of them: no Python per part)."""
        parts = split_words(text)
        found = set(map(self._kinds.get, parts))
        if None in found:
            found = set(map(self._kind, parts))
        kinds = 0
        for flags in found:
            kinds |= flags
        return parts, kinds

    def _kind(self, part: str) -> int:
        """The flags of one word or separator (see _SINGLE and the others)."""
        flags = self._kinds.get(part)
        if flags is not None:
            return flags
        flags = 0
        if not part or "a" <= part[0] <= "z" or "0" <= part[0] <= "9":  # a word: letters and digits
            if len(part) == 1:
                flags |= _SINGLE
            if _ODD_RUN_RE.search(part):
                flags |= _RUN
            if part and not part.isalpha() and not part.isdigit() and _deleet_token(part) != part:
                flags |= _MIXED
            if part in self._spell_keys:
                flags |= _SPELL
            if part in self._filler_heads:
                flags |= _FILLER
        else:
            if not _LEET_SYMBOLS.isdisjoint(part):
                flags |= _LEET_SEP
            if not _LETTERISH_SYMBOLS.isdisjoint(part):
                flags |= _LETTERISH_SEP
            if not _SPACE_CHARS.isdisjoint(part) or ".." in part or "  " in part:
                flags |= _SPACE_SEP
        if len(self._kinds) < _KIND_CACHE_SIZE:
            self._kinds[part] = flags
        return flags

    @staticmethod
    def _spaced(text: str, parts: list[str], kinds: int) -> bool:
        """Whether the text may hold spaced-out letters ("k i l l"): exactly when _ODD_SPACED_RE finds some."""
        if kinds & _LETTERISH_SEP:
            return _ODD_SPACED_RE.search(text) is not None
        return _spaced_pair(parts)

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

    def _spell_word(self, word: str) -> str | None:
        """The spelling fix of an all-letter word (the words _WORD_RE finds), if it has one."""
        return self._spelling.get(word) if word.isalpha() else None

    def _filler_edits(self, parts: list[str]) -> tuple[list[Edit], list[str]]:
        """The fillers the regex ``self._drop`` removes, found from the words (every filler is plain words, see
        _filler_table), and the parts of the text without them. That regex matches a filler where the character
        before is none of "a-z0-9_<", the one after none of "a-z0-9_>*", and takes one space after it; among the
        fillers at one place, the longest that fits; then looks again after its match. A filler of plain words
        starts and ends where words do, and within it the words stand a single space apart: so it is a run of parts
        equal to the filler's own parts, starting at a word, whose separators before and after pass those tests."""
        table = self._fillers
        assert table is not None
        last = len(parts) - 1
        found: list[tuple[int, int, int]] = []  # first part, last part, 1 if it takes the space after it
        free = 0  # the first part the next filler may start at
        for i in itertools.compress(itertools.count(0, 2), map(table.__contains__, parts[::2])):
            if i < free or (i and parts[i - 1][-1] in "_<"):
                continue
            for filler in table[parts[i]]:  # longest first
                end = i + len(filler) - 1  # the filler's last word
                if end <= last and parts[i : end + 1] == filler and (end == last or parts[end + 1][0] not in "_>*"):
                    found.append((i, end, int(end < last and parts[end + 1][0] == " ")))
                    free = end + 2
                    break
        if not found:
            return [], parts
        offsets = list(itertools.accumulate(map(len, parts), initial=0))
        edits = [(offsets[i], offsets[end + 1] + took, "") for i, end, took in found]
        # the parts without the fillers, as split_words would give them: from the right, so that the indices of the
        # ones still to go stay put (a filler's separator after it may already hold the next filler's remains)
        kept = parts.copy()
        for i, end, took in reversed(found):
            if end == last:  # the text ends with the filler: an empty last word is left
                kept[i:] = [""]
                continue
            rest = kept[end + 1][took:]  # the separator after it, but for the space it took
            if i:
                kept[i - 1 : end + 2] = [kept[i - 1] + rest]  # one separator, or none left to join the words
            else:
                kept[: end + 2] = ["", rest] if rest else []
        return edits, kept


_LEET_SYMBOLS = frozenset("$@!|")
_LETTERISH_SYMBOLS = frozenset("$@|")


def _filler_table(fillers: Iterable[str]) -> dict[str, list[list[str]]] | None:
    """The fillers as ``split_words`` parts, by first word, longest first; None when some filler is not plain words
    (letters and digits, a single space apart), which only the regex can find."""
    table: dict[str, list[list[str]]] = {}
    for filler in {" ".join(f.lower().split()) for f in fillers if f.strip()}:
        parts = split_words(filler)
        if not parts[0] or not parts[-1] or any(sep != " " for sep in parts[1::2]):
            return None
        table.setdefault(parts[0], []).append(parts)
    for options in table.values():
        options.sort(key=len, reverse=True)
    return table


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
