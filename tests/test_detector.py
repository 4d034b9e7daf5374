"""Tests for bot.safety.detector: the labelled screening corpus plus one focused test per behaviour."""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety.detector import CATEGORIES, Detector, LexiconError, Screening, Severity
from bot.safety.model import NEGATORS, Feature

DATA = Path(__file__).parent / "data"
# the original corpus plus fresh sets written later to measure generalization (since tuned on, so they are
# training data now: measure generalization on a new, unseen set). screening_concepts.tsv holds implicit
# wordings and tricky negatives written while building the concept layer; screening_heldout1/2.tsv were
# independently written blind sets, tuned on afterwards, as were screening_blind3/4.tsv (measured blind first, then
# trained on), screening_chat5.tsv, screening_staff6.tsv (staff workspaces) and screening_patients7.tsv (patient
# servers), written independently in chat style and measured before they became training data.
CORPORA = (
    DATA / "screening_corpus.tsv",
    DATA / "screening_fresh.tsv",
    DATA / "screening_fresh2.tsv",
    DATA / "screening_concepts.tsv",
    DATA / "screening_heldout1.tsv",
    DATA / "screening_heldout2.tsv",
    DATA / "screening_dev_train.tsv",
    DATA / "screening_varied.tsv",
    DATA / "screening_blind3.tsv",
    DATA / "screening_blind4.tsv",
    DATA / "screening_chat5.tsv",
    DATA / "screening_staff6.tsv",
    DATA / "screening_patients7.tsv",
)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.load()


def _rows(corpus: Path) -> list[tuple[str, str, str]]:
    rows = []
    for n, line in enumerate(corpus.read_text(encoding="utf-8").splitlines(), 1):
        label, category, text = line.split("\t")
        assert label in ("pos", "neg"), f"{corpus.name} line {n}: bad label {label!r}"
        if label == "pos":
            assert category in CATEGORIES, f"{corpus.name} line {n}: bad category {category!r}"
        rows.append((label, category, text))
    return rows


def _corpus() -> list[tuple[str, str, str]]:
    return [row for corpus in CORPORA for row in _rows(corpus)]


def test_corpus_is_big_and_varied() -> None:
    rows = _corpus()
    assert len(rows) >= 450
    kinds = Counter((label, category) for label, category, _ in rows)
    assert all(kinds[("pos", c)] >= 10 for c in CATEGORIES)
    assert all(kinds[("neg", k)] >= 15 for k in ("idiom", "negation", "about_topic", "benign"))


@pytest.mark.parametrize("corpus", CORPORA, ids=lambda p: p.stem)
def test_corpus_recall_and_false_alarms(detector: Detector, corpus: Path) -> None:
    """Every labelled set on its own must keep recall >= 0.97 and false alarms <= 0.08."""
    rows = _rows(corpus)
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    missed: list[str] = []
    alarms: list[str] = []
    negatives = 0
    for label, category, text in rows:
        result = detector.screen(text)
        if label == "pos":
            total[category] += 1
            if result.escalate and category in result.categories:
                found[category] += 1
            if not result.escalate:
                missed.append(f"{category}: {text}")
        else:
            negatives += 1
            if result.escalate:
                alarms.append(f"{category}: {text}")
    positives = sum(total.values())
    recall = (positives - len(missed)) / positives
    false_alarm_rate = len(alarms) / negatives
    print(f"\n{corpus.name}: {positives} positives, {negatives} negatives")
    print(f"recall {recall:.3f}   false-alarm rate {false_alarm_rate:.3f}")
    for category in CATEGORIES:
        if total[category]:
            share = f"{found[category]}/{total[category]}"
            print(f"  {category:<18} recall {found[category] / total[category]:.3f}  ({share})")
    for line in missed:
        print(f"  MISSED  {line}")
    for line in alarms:
        print(f"  ALARM   {line}")
    assert recall >= 0.97, missed
    assert false_alarm_rate <= 0.08, alarms


def test_empty_and_benign_text_is_none(detector: Detector) -> None:
    for text in ("", "   ", "Had a long night shift but the team was great.", "my A1c came back at 6.8!"):
        result = detector.screen(text)
        assert result == Screening(Severity.NONE, (), ())
        assert not result.escalate


@pytest.mark.parametrize(
    "text",
    [
        "my back is killing me",
        "I'd kill for a coffee",
        "dying to see the new season",
        "kill the process and restart it",
        "this heat is killing me",
        "dead tired after nights",
        "I nearly died laughing",
        "she's killing it at work",
        "I could kill myself laughing at this",
        "cut myself shaving, ouch",
    ],
)
def test_figurative_idioms_do_not_escalate(detector: Detector, text: str) -> None:
    assert not detector.screen(text).escalate


@pytest.mark.parametrize(
    "text",
    ["I'm not going to hurt myself", "I would never kill myself", "no thoughts of suicide", "im not suicidal"],
)
def test_negation_scoped_to_the_phrase(detector: Detector, text: str) -> None:
    assert not detector.screen(text).escalate


@pytest.mark.parametrize(
    "text",
    [
        "I'm not sure I want to live",
        "I can't not think about dying",
        "I'm not okay, I want to die",
        "I'm not suicidal but I want to disappear forever",
        "No, I want to die",
    ],
)
def test_negation_that_does_not_cancel(detector: Detector, text: str) -> None:
    assert detector.screen(text).escalate


@pytest.mark.parametrize(
    "text",
    ["suicide prevention training on Tuesday", "the article about overdose rates", "QPR training is mandatory"],
)
def test_talk_about_the_topic_does_not_escalate(detector: Detector, text: str) -> None:
    assert not detector.screen(text).escalate


@pytest.mark.parametrize(
    "text",
    ["my friend said she wants to die", "my patient is suicidal", "my son has been cutting",
     'my friend texted me "i want to kill myself"'],
)  # fmt: skip
def test_third_party_reports(detector: Detector, text: str) -> None:
    result = detector.screen(text)
    assert result.escalate
    assert result.severity >= Severity.CONCERN
    assert "third_party" in result.categories
    assert "suicidal_ideation" not in result.categories


def test_imminent_when_plan_meets_time(detector: Detector) -> None:
    assert detector.screen("I want to die").severity == Severity.HIGH
    tonight = detector.screen("I want to die tonight, the pills are ready")
    assert tonight.severity == Severity.IMMINENT
    assert "plan_means" in tonight.categories
    for text in ("I've taken 40 pills", "standing on the bridge", "I'm cutting right now"):
        assert detector.screen(text).severity == Severity.IMMINENT, text


@pytest.mark.parametrize(
    "text",
    [
        "my doctor asked if i had thoughts of suicide and i said no",
        "the nurse asked whether i wanted to hurt myself, i told her no",
    ],
)
def test_question_answered_no_does_not_escalate(detector: Detector, text: str) -> None:
    assert not detector.screen(text).escalate


def test_time_and_means_count_only_near_the_phrase(detector: Detector) -> None:
    assert detector.screen("I want to die. Anyway, the train was late again and my shift is tonight.").severity == (
        Severity.HIGH
    )
    assert detector.screen("i want to die tonight").severity == Severity.IMMINENT


@pytest.mark.parametrize(
    "text",
    ["dont wanna live anymore", "cant do this no more", "i keep wanting to die", "my sister wants to end her life",
     "c*t myself again", "goodbye. i love you all", "took way to many pills"],
)  # fmt: skip
def test_everyday_spellings_escalate(detector: Detector, text: str) -> None:
    assert detector.screen(text).escalate, text


def test_passive_ideation_is_concern(detector: Detector) -> None:
    result = detector.screen("sometimes I wish I wasn't here")
    assert result.severity == Severity.CONCERN


def test_matches_quote_the_original_text(detector: Detector) -> None:
    text = "ok so I w\u200bаnt to k1ll mys3lf tonite"
    result = detector.screen(text)
    assert result.escalate
    assert result.matches
    assert all(m in text for m in result.matches)
    assert any("k1ll mys3lf" in m for m in result.matches)


def test_obfuscated_forms_escalate(detector: Detector) -> None:
    for text in (
        "k i l l  m y s e l f",
        "i want to d.i.e",
        "wanna dieeeee",
        "suicde",
        "i want to 🔫 myself",
        "kms",
        "unalive",
    ):
        assert detector.screen(text).escalate, text


def test_to_json_has_exactly_the_contract_keys(detector: Detector) -> None:
    payload = detector.screen("goodbye everyone, this is my last message").to_json()
    assert set(payload) == {"escalate", "severity", "categories", "matches"}
    assert payload["escalate"] is True
    assert payload["severity"] in ("concern", "high", "imminent")
    assert payload["categories"] == sorted(set(payload["categories"]))
    json.dumps(payload)
    assert detector.screen("hello").to_json() == {
        "escalate": False,
        "severity": "none",
        "categories": [],
        "matches": [],
    }


def test_severity_labels_and_parse() -> None:
    assert [s.label for s in Severity] == ["none", "concern", "high", "imminent"]
    assert Severity.parse("High") is Severity.HIGH
    assert Severity.IMMINENT > Severity.HIGH > Severity.CONCERN > Severity.NONE
    with pytest.raises(ValueError):
        Severity.parse("urgent")


def test_builtin_version(detector: Detector) -> None:
    assert detector.version == "builtin-2+model-1"


def test_lexicon_extend_adds_a_phrase(tmp_path: Path) -> None:
    custom = tmp_path / "site.toml"
    custom.write_text(
        'version = 3\nmode = "extend"\n\n[[entry]]\nid = "site_codeword"\ncategory = "suicidal_ideation"\n'
        'severity = "high"\nphrases = ["{feeling|going} purple [again]"]\n',
        encoding="utf-8",
    )
    extended = Detector.load(custom)
    assert extended.version == "builtin-2+custom-3+model-1"
    assert extended.screen("honestly feeling purple again").severity == Severity.HIGH
    assert extended.screen("I want to die").escalate  # the built-in lexicon is still there
    assert not Detector.load().screen("feeling purple again").escalate


def test_lexicon_replace_uses_only_the_file(tmp_path: Path) -> None:
    custom = tmp_path / "only.toml"
    custom.write_text(
        'version = 2\nmode = "replace"\n\n[slots]\nme = ["me", "myself"]\n\n[[entry]]\nid = "bluebird"\n'
        'category = "goodbye_finality"\nseverity = "concern"\nphrases = ["bluebird <me>"]\n',
        encoding="utf-8",
    )
    replaced = Detector.load(custom)
    assert replaced.version == "custom-2"
    assert replaced.screen("bluebird me").categories == ("goodbye_finality",)
    assert not replaced.screen("I want to die").escalate


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('[[entry]]\nid = "broken"\ncategory = "suicidal_ideation"\nseverity = "high"\nphrases = ["want {to die"]\n',
         "broken"),
        ('[[entry]]\nid = "wrongcat"\ncategory = "sadness"\nseverity = "high"\nphrases = ["x y"]\n', "wrongcat"),
        ('[[entry]]\nid = "badsev"\ncategory = "self_harm"\nseverity = "urgent"\nphrases = ["x y"]\n', "badsev"),
        ('[[entry]]\nid = "typo"\ncategory = "self_harm"\nseverity = "high"\nphrase = ["x y"]\n', "phrase"),
        ('[[entry]]\nid = "noslot"\ncategory = "self_harm"\nseverity = "high"\nphrases = ["<nope> y"]\n', "nope"),
        ('[[entry]]\nid = "allopt"\ncategory = "self_harm"\nseverity = "high"\nphrases = ["[a|b]"]\n', "allopt"),
    ],
)  # fmt: skip
def test_malformed_lexicon_names_file_and_entry(tmp_path: Path, body: str, fragment: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n\n" + body, encoding="utf-8")
    with pytest.raises(LexiconError) as info:
        Detector.load(bad)
    message = str(info.value)
    assert "bad.toml" in message
    assert fragment in message


def test_lexicon_file_errors(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match=r"missing\.toml"):
        Detector.load(tmp_path / "missing.toml")
    notoml = tmp_path / "garbled.toml"
    notoml.write_text("version = = 1", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"garbled\.toml"):
        Detector.load(notoml)
    noversion = tmp_path / "noversion.toml"
    noversion.write_text('mode = "extend"\n', encoding="utf-8")
    with pytest.raises(LexiconError, match="version"):
        Detector.load(noversion)


def test_screen_is_pure_and_thread_safe(detector: Detector) -> None:
    texts = ["I want to die tonight", "my back is killing me", "my son has been cutting", "hello"] * 50
    expected = [detector.screen(t) for t in texts]
    results: list[list[Screening]] = []

    def work() -> None:
        results.append([detector.screen(t) for t in texts])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


# --------------------------------------------------------------------------------------------------
# The concept layer (second pass): combinations of concepts, not fixed phrases


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("just picked up a pistol. saturday.", "plan_means"),
        ("ive got 80 of my sleeping tablets counted out", "plan_means"),
        ("sugar is 29, home alone and shaking", "overdose_medical"),
        ("crushing chest pressure and my jaw hurts, sweating", "overdose_medical"),
        ("took a handful of my oxy with wine and now im so dizzy", "overdose_medical"),
        ("found a home for my cat and wrote to my sister. take care of each other", "goodbye_finality"),
        ("my brother gave away his guitar and says he wont need it where hes going", "third_party"),
        ("my supervisor will be sorry. all of them. monday", "harm_to_others"),
        ("if it wasnt for my kids id be gone", "suicidal_ideation"),
        ("been picking my skin till it bleeds on purpose", "self_harm"),
    ],
)
def test_concept_layer_catches_implicit_wordings(detector: Detector, text: str, category: str) -> None:
    result = detector.screen(text)
    assert result.escalate, text
    assert category in result.categories, result


@pytest.mark.parametrize(
    "text",
    [
        "our journal club paper on suicide risk in residents was grim",  # about the topic
        "never once considered ending it, just exhausted",  # negation in the same clause
        "lol im gonna kill my sister she took my charger",  # banter
        "two years clean from self harm today",  # recovery milestone
        "keeping a month of insulin saved up in case of shortages",  # prudent stockpile
        "my patient overdosed years ago and is doing great now",  # someone else's past
        "bought a new chef knife for the kitchen",
        "bg was 52 but i had juice and im fine now",  # low number, resolved
        "my back is killing me but ill live",
    ],
)
def test_concept_layer_guards(detector: Detector, text: str) -> None:
    assert not detector.screen(text).escalate, detector.screen(text)


def test_imminent_emergencies_from_concepts(detector: Detector) -> None:
    assert detector.screen("sugar is 29, home alone and shaking").severity == Severity.IMMINENT
    assert detector.screen("bought a gun yesterday. tonight is the night").severity == Severity.IMMINENT


def test_someone_else_is_third_party_not_first_person(detector: Detector) -> None:
    result = detector.screen("my son says he wants to die")
    assert "third_party" in result.categories
    assert "suicidal_ideation" not in result.categories


def test_concept_matches_quote_the_original(detector: Detector) -> None:
    text = "Just picked up a PISTOL. Saturday."
    result = detector.screen(text)
    assert result.escalate
    assert all(m in text for m in result.matches)


def test_lexicon_extend_adds_concept_words(tmp_path: Path) -> None:
    custom = tmp_path / "site.toml"
    custom.write_text('version = 4\n\n[concept.STRONG_MEANS]\nwords = ["crossbow"]\n', encoding="utf-8")
    text = "just picked up a crossbow. saturday."
    # the lexicon alone (the learned model, on by default, may well read this as a plan by itself)
    assert not Detector.load(use_model=False).screen(text).escalate
    assert Detector.load(custom, use_model=False).screen(text).escalate


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('[[concept_rule]]\nid = "ghost"\ncategory = "self_harm"\nseverity = "high"\ntrigger = "NOPE"\n', "NOPE"),
        ('[[concept_rule]]\nid = "who"\ncategory = "self_harm"\nseverity = "high"\ntrigger = "SELF"\n'
         'subject = "me"\n', "who"),
        ('[[concept_guard]]\nid = "g"\nconcepts = ["SELF"]\nscope = "page"\n', "scope"),
        ('[concept.BAD]\nwords = ["cut*"]\n', "BAD"),
        ('[concept.BAD]\nword = ["cut"]\n', "word"),
    ],
)  # fmt: skip
def test_malformed_concepts_name_the_entry(tmp_path: Path, body: str, fragment: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n\n" + body, encoding="utf-8")
    with pytest.raises(LexiconError) as info:
        Detector.load(bad)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("hypo 2.4, had juice, 2.2 now. still dropping and shaking", "overdose_medical"),
        ("ketones 3.1 and ive been vomiting all morning, breathing feels deep", "overdose_medical"),
        ("i have 30 units of novorapid and the house to myself tonight", "plan_means"),
        ("sat in the car thinking how easy it would be to not go home", "suicidal_ideation"),
        ("been restricting my insulin to lose weight again", "self_harm"),
        ("i keep having this urge to hold a pillow over his face", "harm_to_others"),
        ("my mate posted a bunch of pills with the caption tonight and wont pick up", "third_party"),
        ("final update from me. im at peace with my decision", "goodbye_finality"),
    ],
)
def test_broadened_concepts(detector: Detector, text: str, category: str) -> None:
    result = detector.screen(text)
    assert result.escalate, text
    assert category in result.categories, result


def test_decimal_glucose_is_one_number_not_a_sentence_break(detector: Detector) -> None:
    assert detector.screen("pump says 1.9 and im so confused and sweaty").escalate
    assert not detector.screen("Hypo this morning, 3.5, had some juice, back to 5.8 in 15 minutes.").escalate
    assert not detector.screen("my A1c came back at 6.8!").escalate


def test_not_joking_voids_banter_markers(detector: Detector) -> None:
    assert not detector.screen("lol i could kill my brother, he ate my leftovers").escalate
    assert detector.screen("thinking about ending it again lol jk. not jk").escalate
    assert detector.screen('she texted "going to end it this weekend" then said jk. she never jokes like that').escalate


@pytest.mark.parametrize(
    "text",
    [
        "Signing off for the night, early start tomorrow. Gn everyone",
        "bye guys!!! off to camp for the week, no signal",
        "i relapsed on sugar lol, ate a whole box of donuts",
        "pharmacist said too much tylenol can hurt your liver",
        "went up to 14 units of lantus at night, endo thinks my numbers will come down",
    ],
)
def test_broadened_guards(detector: Detector, text: str) -> None:
    assert not detector.screen(text).escalate, detector.screen(text)


# --- the learned second opinion (bot/safety/model.py), with small hand-written weight files


def _model_file(tmp_path: Path, rows: list[str], bias: float = -3.0, threshold: float = 0.5,
                veto: float = 0.05, override: float = 0.9) -> Path:  # fmt: skip
    path = tmp_path / "model.tsv"
    header = ["# version 9", "# features concepts skip", f"# veto {veto}", f"# override {override}",
              f"# bias {bias}", f"# threshold {threshold}",
              "# category_bias suicidal_ideation=0 goodbye_finality=0"]  # fmt: skip
    path.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    return path


def test_the_model_escalates_wording_no_rule_lists_and_quotes_its_sentence(tmp_path: Path) -> None:
    model = _model_file(tmp_path, ["purple\t5\tgoodbye_finality=2", "weather\t-1"])
    detector = Detector.load(model_path=model)
    text = "Lovely day out. Feeling PURPLE about all of it! The weather was fine."
    assert not Detector.load(use_model=False).screen(text).escalate
    result = detector.screen(text)
    assert result.severity == Severity.CONCERN
    assert result.categories == ("goodbye_finality",)
    assert result.matches == ("Feeling PURPLE about all of it",)  # the original text, not the normalized one
    assert detector.version == "builtin-2+model-9"
    assert not detector.screen("the weather was fine").escalate


def test_the_model_vetoes_a_concern_it_finds_clearly_benign_but_never_a_high_or_imminent_finding(
    tmp_path: Path,
) -> None:
    detector = Detector.load(model_path=_model_file(tmp_path, [], bias=-12.0))
    lexicon = Detector.load(use_model=False)
    concern = "i wish i could just disappear"
    assert lexicon.screen(concern).severity == Severity.CONCERN
    assert not detector.screen(concern).escalate
    # denial plus the means at hand is exactly what must reach a human, however benign the rest sounds
    for severe in ("I've taken 40 pills", "i want to die",
                   "haha no I'm not going to kill myself, I just bought a rope and I'm writing letters"):
        assert lexicon.screen(severe).severity >= Severity.HIGH, severe
        assert detector.screen(severe) == lexicon.screen(severe), severe


def test_the_verdict_does_not_depend_on_string_hashing() -> None:
    """Python's string hashing differs per process (PYTHONHASHSEED): the same text must get the same verdict."""
    import subprocess
    import sys

    texts = [line.split("\t")[2] for path in sorted(DATA.glob("*.tsv"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.count("\t") == 2][:1500]
    runs = [subprocess.run([sys.executable, "-m", "bot.cli", "scan"], input="\n".join(texts) + "\n",
                           capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONHASHSEED": seed},
                           check=True).stdout for seed in ("1", "2")]
    assert runs[0] == runs[1] and runs[0].count("\n") == len(texts)


@pytest.mark.parametrize("text", ["I could kill myself laughing at this", "I'm not going to hurt myself"])
def test_the_model_must_be_surer_to_overrule_a_lexicon_context_rule(tmp_path: Path, text: str) -> None:
    """An idiom or a negation the lexicon recognised stands unless the model is very sure (override)."""
    unsure = Detector.load(model_path=_model_file(tmp_path, ["myself\t4"], override=0.9))  # p = 0.73
    assert not unsure.screen(text).escalate
    sure = Detector.load(model_path=_model_file(tmp_path, ["myself\t6"], override=0.9))  # p = 0.95
    assert sure.screen(text).escalate
    assert unsure.screen("something about myself").escalate  # no rule set anything aside: 0.73 is enough


def test_a_malformed_weight_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("# version 1\nkill\tnot-a-number\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv: line 2"):
        Detector.load(model_path=bad)
    stale = _model_file(tmp_path, [])  # trained with features this code no longer computes
    stale.write_text(stale.read_text(encoding="utf-8").replace("concepts skip", "letters"), encoding="utf-8")
    with pytest.raises(ValueError, match="features"):
        Detector.load(model_path=stale)


def test_the_shipped_model_was_trained_on_every_labelled_set() -> None:
    """Adding or editing a set in tests/data means retraining: python bench/train_screen_model.py."""
    header = (Path(__file__).parent.parent / "bot" / "safety" / "screen_model.tsv").read_text(encoding="utf-8")
    trained_on = next(line for line in header.splitlines() if line.startswith("# trained_on ")).split()[2:]
    assert sorted(trained_on) == sorted(p.name for p in DATA.glob("*.tsv"))


# clause breaks, and (captured) sentence breaks: "a, b. c" -> ["a", None, " b", ". ", " c"]
_CLAUSE_SPLIT = re.compile(r"([.!?\n]+)|[,;:]| but | and | though | because ")
_WORD = re.compile(r"[a-z0-9]+")


def _sentences_by_regex(text: str, tags: Mapping[str, frozenset[str]]) -> list[set[Feature]]:
    """The model's ``_sentences`` as first written, with a regex split: the reference the fast one is held to."""
    sents: list[set[Feature]] = []
    out: set[Feature] = set()
    concepts: set[str] = set()
    parts = _CLAUSE_SPLIT.split(text)
    last = len(parts) - 1
    for i in range(0, len(parts), 2):
        words = _WORD.findall(parts[i])
        if words:
            out.update(words)
            out.update(map(" ".join, itertools.pairwise(words)))
            out.update(zip(words, words[2:], strict=False))
            tagged = tags.keys() & words
            for w in tagged:
                concepts.update(tags[w])
            if not NEGATORS.isdisjoint(words):
                negated = -1
                for k, w in enumerate(words):
                    if w in NEGATORS:
                        negated = k + 3
                    elif k <= negated:
                        out.add("!" + w)
                        if w in tagged:
                            out.update(["!@" + c for c in tags[w]])
        if i == last or parts[i + 1] is not None:  # the end of a sentence
            if out:
                if concepts:
                    out.update(["@" + c for c in concepts])
                    concepts = set()
                sents.append(out)
                out = set()
    return sents


def test_model_reads_the_same_clauses_as_its_regex_reference(detector: Detector) -> None:
    """The model's features come from the words the lexicon split off (no second pass over the text): every
    corpus line, normalized and raw, and tricky break words give the same features, in the same order, as the
    regex split the model was trained with."""
    from bot.safety.model import _sentences

    tags = detector.concept_tags()
    texts = [text for corpus in CORPORA for _, _, text in _rows(corpus)]
    texts += ["x and but y", "a  but and b", ", but . and", "i do not, but never want to die and", " and ", "but"]
    for text in texts:
        for variant in (detector.normalize(text), text.lower(), text):
            fast, reference = _sentences(variant, tags), _sentences_by_regex(variant, tags)
            assert fast == reference, variant
            assert [list(s) for s in fast] == [list(s) for s in reference], variant  # same insertion order


def test_model_scores_every_message_as_the_plain_sum_over_its_windows(detector: Detector) -> None:
    """Inference builds each sentence's features its own faster way and sums the weights with math.fsum: the
    same features as the training code's ``windows``, the same most alarming window, the same probability (up
    to rounding), on every corpus line, normalized and raw, and on tricky breaks and negations."""
    import math

    from bot.safety.model import windows

    model = detector._model
    assert model is not None
    tags = detector.concept_tags()
    texts = [text for corpus in CORPORA for _, _, text in _rows(corpus)]
    texts += ["", ".", ", a", " a ", "a.", "x and but y", "a  but and b", ", but . and", "not no never die. ok, not",
              "i do not, but never want to die and", " and ", "but", "no. no. no", "i am not sad. not at all!"]
    weights = model.weights
    for text in texts:
        for variant in (detector.normalize(text), text.lower(), text):
            got = model.assess(variant)
            reference = windows(variant, tags)
            assert got.windows == reference, variant
            scores = [model.bias + sum(map(weights.__getitem__, weights.keys() & win)) for win in reference]
            best = max(scores, default=model.bias)
            assert math.isclose(got.probability, 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, best)))),
                                rel_tol=1e-12), variant
            if scores:
                assert scores[got.window] == pytest.approx(best, abs=1e-12), variant


_PIECES = ["i", "want", "to", "die", "not", "never", "no", "dont", "and", "but", "because", "though", "kill", "pills",
           "myself", "ok", "sad", "tired", "4", "2am", "home"]
_BREAKS = [" ", " ", " ", "  ", ", ", ". ", "? ", "!", "\n", "; ", ": ", " - ", ",", "...", " , "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_BREAKS)), max_size=14),
       st.sampled_from(["", " ", ". ", ", "]))
def test_model_inference_features_equal_the_training_features_on_any_wording(
    detector: Detector, pieces: list[tuple[str, str]], lead: str
) -> None:
    """Any run of words and breaks (break words next to breaks, negations near clause ends, leading and trailing
    separators): the sentences inference reads have exactly the features the model was trained on."""
    from bot.safety.model import _sentence_sets, _sentences, split_words

    model = detector._model
    assert model is not None
    text = lead + "".join(word + sep for word, sep in pieces)
    fast = _sentence_sets(split_words(text), model._concept_features, model._negated_concepts)
    assert fast == _sentences(text, model.tags), text


def _plain_regex(scanner: str) -> re.Pattern[str]:
    """The phrase regex inside a rule's scanner ("[kd](?<=(?=(RX))[kd])")."""
    letters = scanner[: scanner.index("]") + 1]
    head = letters + "(?<=(?=("
    assert scanner.startswith(head) and scanner.endswith("))" + letters + ")")
    return re.compile(scanner[len(head) : -len("))" + letters + ")")])


_SCAN_WORDS = ["i", "im", "want", "wanna", "to", "die", "kill", "kiiill", "myself", "my", "self", "she", "her",
               "took", "pills", "40", "2.4", "overdosed", "not", "cut", "cutting", "end", "it", "all", "goodbye",
               "everyone", "killmyself", "xkill", "the", "a", "friend", "said", "hurt", "hang", "gun",
               "tonight"]  # fmt: skip
_SCAN_SEPS = [" ", " ", " ", ", ", ". ", "! ", "? ", "\n", "  ", "-", " ... ", ""]


@pytest.fixture(scope="module")
def phrase_regexes(detector: Detector) -> list[tuple[int, re.Pattern[str]]]:
    return [(idx, _plain_regex(rule.rx.pattern)) for idx, rule in enumerate(detector._rules) if rule.scanner]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_SCAN_WORDS), st.sampled_from(_SCAN_SEPS)), max_size=14))
def test_phrase_scanners_find_exactly_what_their_phrase_regex_finds(
    detector: Detector, phrase_regexes: list[tuple[int, re.Pattern[str]]], pieces: list[tuple[str, str]]
) -> None:
    # a phrase rule is searched with a scanner that skips to the letters a match can start with; it must find the
    # same non-overlapping matches, in the same order, as a plain scan of the text with the phrase's regex
    text = "".join(w + s for w, s in pieces).strip()
    for idx, plain in phrase_regexes:
        expected = [m.span() for m in plain.finditer(text) if m.end() > m.start()]
        assert detector._matches(idx, text) == expected, (detector._rules[idx].ident, text)


def _tag_every_word(concepts: object, toks: list[str]) -> list[tuple[int, int, frozenset[str]]]:
    """The plain tagging walk (longest phrase first) from every word, no word skipped: (first, last, concepts)."""
    words, phrases, neutral = concepts.words, concepts.phrases, concepts.neutral  # type: ignore[attr-defined]
    out: list[tuple[int, int, frozenset[str]]] = []
    i = 0
    while i < len(toks):
        found, last, node, j = None, i, phrases.get(toks[i]), i
        while node is not None and j + 1 < len(toks) and toks[j + 1]:
            j += 1
            node = node.get(toks[j])
            if node is not None and "" in node:
                found, last = node[""], j
        found = found or words.get(toks[i])
        if found:
            out.append((i, last, neutral.intersection(found) if not neutral.isdisjoint(found) else found))
        i = last + 1 if found else i + 1
    return out


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_tagging_skips_only_words_that_tag_nothing(detector: Detector, data: st.DataObject) -> None:
    """tag() looks only at concept words and at phrase starts followed by their second word (a filter in C);
    on words of the lexicon's own phrases (one sentence, no numbers) it tags exactly what a walk from every
    word tags."""
    concepts = detector._concepts
    pool = sorted(w for w in {*concepts.words, *concepts.phrases}
                  | {w2 for node in concepts.phrases.values() for w2 in node} | {"the", "and", "so"} if w.isalpha())
    heads = sorted(w for w in concepts.phrases if w.isalpha())
    toks: list[str] = []
    for _ in range(data.draw(st.integers(1, 5))):
        if data.draw(st.booleans()):  # a word
            toks.append(data.draw(st.sampled_from(pool)))
            continue
        toks.append(data.draw(st.sampled_from(heads)))  # a phrase, or the start of one
        node = concepts.phrases[toks[-1]]
        while (nexts := sorted(w for w in node if w.isalpha())) and data.draw(st.integers(0, 4)):
            toks.append(data.draw(st.sampled_from(nexts)))
            node = node[toks[-1]]
    tagged = concepts.tag(" ".join(toks))
    assert [(m.first, m.last, m.concepts) for m in tagged.marks] == _tag_every_word(concepts, toks)
