"""Tests for bot.safety.normalize: each obfuscation kind is folded, and matches quote the original text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety.normalize import (
    _LEET_CHARS,
    _LEET_HINT_RE,
    _LETTERISH_SEP,
    _MIXED,
    _ODD_RUN_RE,
    _ODD_SPACED_RE,
    _PARTS_RE,
    _RUN,
    _SINGLE,
    _SPACE_CHARS,
    _SPACE_SEP,
    _TOKEN_RE,
    _WORD_RE,
    Normalizer,
    _deleet_word,
    _word_edits,
    filler_regex,
    fuzzy_variants,
    normalize,
    split_words,
    squeeze,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("I w\u200bant to d\u200die", "i want to die"),  # zero-width space / joiner
        ("kill\u00admyself", "killmyself"),  # soft hyphen (format character)
        ("I wаnt tо dіе", "i want to die"),  # Cyrillic а о і е
        ("ѕuісіdе", "suicide"),  # Cyrillic ѕ і с
        ("κιll myѕеlf", "kill myself"),  # Greek κ ι, Cyrillic ѕ е
        ("ＫＩＬＬ 𝐦𝐲𝐬𝐞𝐥𝐟", "kill myself"),  # fullwidth and mathematical bold (NFKC)
        ("dïé", "die"),  # accents stripped
    ],
)
def test_unicode_folding(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


def test_spaced_letters_keep_word_breaks() -> None:
    assert normalize("k i l l  m y s e l f").text == "kill myself"
    assert normalize("i want to d i e").text == "i want to die"


@pytest.mark.parametrize("raw", ["d.i.e", "d-i-e", "d_i_e", "d*i*e", "d. i. e"])
def test_dotted_and_dashed_letters(raw: str) -> None:
    assert normalize(raw).text == "die"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("k1ll mys3lf", "kill myself"),
        ("ki11 myse1f", "kill myself"),
        ("$uicide", "suicide"),
        ("5uicide", "suicide"),
        ("d13", "die"),
        ("k!ll", "kill"),
        ("unal!ve", "unalive"),
        ("g00dbye", "goodbye"),
        ("@ll my pills", "all my pills"),
    ],
)
def test_leetspeak(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


@pytest.mark.parametrize(
    "raw",
    ["took 2 pills at 10pm", "I take 40mg at 8am", "took 40pills", "my a1c is 6.8", "help!", "$5 copay"],
)
def test_numbers_and_punctuation_survive_leet(raw: str) -> None:
    out = normalize(raw).text
    for token in ("2", "10pm", "40mg", "8am", "40pills", "6.8", "help!", "$5"):
        if token in raw.lower():
            assert token in out


def test_repeated_letters_are_shortened() -> None:
    assert normalize("dieeeeee").text == "diee"
    assert normalize("killlll myselffff").text == "kill myselff"
    assert normalize("sooooo").text == "soo"
    assert squeeze("kill") == "kil"


def test_misspellings_are_folded() -> None:
    assert normalize("suicde").text == "suicide"
    assert normalize("sucide").text == "suicide"
    assert normalize("suiside").text == "suicide"
    assert normalize("kil myself").text == "kill myself"
    assert normalize("overdoes").text == "overdose"


def test_fuzzy_variants_cover_one_slip() -> None:
    variants = fuzzy_variants("suicidal")
    assert {"suicdal", "sucidal", "suiicdal"} & variants
    assert "suicidal" not in variants
    assert fuzzy_variants("die") == set()  # short words are never fuzzed


def test_emoji_become_words() -> None:
    assert normalize("i want to 🔪 myself").text == "i want to knife myself"
    assert "coffin" in normalize("⚰️").text
    assert "pills" in normalize("💊💊").text
    assert "rope" in normalize("🪢").text


def test_apostrophes_and_contractions() -> None:
    assert normalize("I don't want to be here, I'm done").text == "i dont want to be here, im done"
    assert normalize("I’m").text == "im"


def test_fillers_are_removed_when_configured() -> None:
    n = Normalizer(fillers=["really", "kind of"])
    assert n.normalize("i really really kind of want to die").text == "i want to die"


def test_censored_word_is_read_from_vocabulary() -> None:
    n = Normalizer(vocab=["hurt", "kill"])
    assert n.normalize("gonna h*rt myself").text == "gonna hurt myself"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("ok so I wаnt tо dіе now", "want to die"),
        ("fine. k i l l  m y s e l f", "kill myself"),
        ("idk i w\u200bant to k1ll mys3lf lol", "want to kill myself"),
        ("dieeeee", "diee"),
        ("I 🔪 myself", "knife myself"),
        ("thinking about suicde again", "suicide"),
    ],
)
def test_offset_map_quotes_the_original(raw: str, needle: str) -> None:
    result = normalize(raw)
    start = result.text.index(needle)
    quote = result.quote(start, start + len(needle))
    assert quote in raw  # excerpt is verbatim original text
    assert normalize(quote).text.strip() == needle


def test_identity_map_for_plain_text() -> None:
    result = normalize("Hello There")
    assert result.text == "hello there"
    assert result.quote(6, 11) == "There"


def test_od_apostrophe_d_is_not_odd() -> None:
    for text in ("OD'd last night", "i od’d 💊"):
        norm = normalize(text)
        assert "oded" in norm.text
        assert norm.quote(0, len(norm.text)) == text
    assert normalize("that's odd").text == "thats odd"


# The normalizer gates its stages and finds its word edits from the words and separators of the text (split_words)
# instead of the regular expressions over the text it once used: these check that both give the same answers.
_PIECES = [*"abdeikls " * 3, *"lllooo0134$@!|.,-_*+~&/?<>\t…—", "  ", "kind of ", "really ", "so ", "kil", "i mean"]
_TRICKY = st.lists(st.sampled_from(_PIECES), max_size=20).map("".join)


def _old_gates(text: str) -> tuple[bool, bool, bool, bool]:
    """The text-wide tests the stages were gated on: spaced letters, letter runs, leetspeak hints, spacing."""
    return (
        _ODD_SPACED_RE.search(text) is not None,
        _ODD_RUN_RE.search(text) is not None,
        not _LEET_CHARS.isdisjoint(text) and _LEET_HINT_RE.search(text) is not None,
        not _SPACE_CHARS.isdisjoint(text) or ".." in text or "  " in text,
    )


@settings(max_examples=400, deadline=None)
@given(_TRICKY)
def test_gates_read_from_the_words_open_where_the_text_wide_tests_do(text: str) -> None:
    n = Normalizer(spelling={"kil": "kill"}, fillers=["really"])
    parts, kinds = n._scan(text)
    spaced, run, hint, spacing = _old_gates(text)
    assert parts == _PARTS_RE.split(text)
    assert bool(kinds & (_SINGLE | _LETTERISH_SEP) and n._spaced(text, parts, kinds)) == spaced
    assert bool(kinds & _RUN) == run
    # a word that reads as leetspeak needs a hint; without "$@!|", a hint alone only opens a stage that edits nothing
    if kinds & _MIXED:
        assert hint
    assert bool(kinds & _SPACE_SEP) == spacing


@settings(max_examples=400, deadline=None)
@given(_TRICKY)
def test_word_edits_are_those_the_regexes_find(text: str) -> None:
    fillers = ["really", "kind of", "kind", "so", "ok so", "pretty much", "i mean"]
    n = Normalizer(spelling={"kil": "kill", "ded": "dead", "sk": "self k"}, fillers=fillers)
    parts = split_words(text)
    edits, kept = n._filler_edits(parts)
    assert edits == [(m.start(), m.end(), "") for m in filler_regex(fillers).finditer(text)]
    assert kept == split_words(filler_regex(fillers).sub("", text))
    spelling = n._spelling
    spelled = [(m.start(), m.end(), spelling[m.group(0)]) for m in _WORD_RE.finditer(text) if m.group(0) in spelling]
    assert _word_edits(parts, n._spell_word) == spelled
    if "$" not in text and "@" not in text and "!" not in text and "|" not in text:
        leet = [e for m in _TOKEN_RE.finditer(text) for e in Normalizer._leet_edits(m)]
        assert _word_edits(parts, _deleet_word) == leet


def test_fillers_that_are_not_plain_words_are_still_removed() -> None:
    n = Normalizer(fillers=["really", "f*cking", "so like"])  # "f*cking" is found by the filler regex alone
    assert n.normalize("i really f*cking so like want to die").text == "i want to die"
