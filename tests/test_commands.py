"""`/peer <verb> [args]` is parsed once, the same on every platform, forgiving of how people type."""

from __future__ import annotations

from bot.commands import VERB_NAMES, parse_command, suggest_verb


def test_verb_and_arguments() -> None:
    command = parse_command("post chronic-pain hello there")
    assert command.verb == "post" and command.args == ("chronic-pain", "hello", "there")
    assert command.rest(1) == "hello there"


def test_verb_is_case_insensitive_and_the_peer_prefix_is_tolerated() -> None:
    assert parse_command("HELP").verb == "help"
    assert parse_command("/peer Join").verb == "join"
    assert parse_command("peer mod ack 12").args == ("ack", "12")


def test_empty_text_means_help() -> None:
    assert parse_command("").verb == "help"
    assert parse_command("   ").verb == "help"


def test_double_quotes_group_words_and_are_removed_for_a_single_quoted_rest() -> None:
    command = parse_command('mod reveal "Quiet Heron 42" safety concern tonight')
    assert command.args[:2] == ("reveal", "Quiet Heron 42")
    assert command.rest(2) == "safety concern tonight"
    assert parse_command('post diabetes "hi all, how is everyone"').rest(1) == "hi all, how is everyone"


def test_smart_quotes_from_phones_work_like_plain_ones() -> None:
    assert parse_command("mod mute \u201cQuiet Heron 42\u201d").args == ("mute", "Quiet Heron 42")


def test_apostrophes_and_unclosed_quotes_are_taken_as_typed() -> None:
    command = parse_command("post chronic-pain I'm having a rough day, it's \"bad")
    assert command.rest(1) == "I'm having a rough day, it's \"bad"
    assert command.args[1] == "I'm"


def test_free_text_keeps_its_spacing() -> None:
    assert parse_command("post diabetes   line one  two").rest(1) == "line one  two"


def test_unknown_verbs_get_a_suggestion() -> None:
    assert suggest_verb("helpp") == "help"
    assert suggest_verb("pari") == "pair"
    assert suggest_verb("xyzzy") is None


def test_the_contract_verbs_are_all_known() -> None:
    assert set(VERB_NAMES) >= {"help", "join", "profile", "post", "pair", "mentor", "checkin", "pause", "resume",
                               "export", "forget", "mod"}
