"""`/peer <verb> [args]`: the verbs (the same on every platform) and the one parser for them.

The parser is forgiving on purpose: people type apostrophes ("I'm"), smart quotes from phones, and extra spaces.
Double quotes group words; everything else is taken as typed. `Command.rest(n)` gives free text verbatim.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

# The contract verbs, in help order: (verb, usage, one line). Text is data: reviewed here as a whole.
VERBS: tuple[tuple[str, str, str], ...] = (
    ("help", "/peer help", "show what peerbot can do"),
    ("join", "/peer join", "join the community (asks your consent first; nothing is stored before)"),
    ("profile", "/peer profile", "see or change your pseudonym, topics, language and timezone"),
    ("post", "/peer post <group> <text>", "post anonymously in a group channel under your pseudonym"),
    ("reply", "/peer reply <post-id> <text>", "reply anonymously to a group post"),
    ("delete", "/peer delete <post-id>", "delete one of your anonymous posts"),
    ("pair", "/peer pair [a note for the mentor]", "ask for a mentor who has been there (`/peer pair end`, "
     "`share`, `status`, `cancel`)"),
    ("say", "/peer say [@pseudonym] <text>", "say something to your mentor or mentee (a DM to me works too)"),
    ("mentor", "/peer mentor", "offer to mentor others, or pause, change or step down"),
    ("checkin", "/peer checkin", "check in now, or change your check-in schedule"),
    ("pause", "/peer pause [duration]", "pause your check-ins (for a while, or until you resume)"),
    ("resume", "/peer resume", "resume after a pause"),
    ("survey", "/peer survey [<answer>|skip|stop|never]", "answer the anonymous program survey (or never get one)"),
    ("export", "/peer export", "get a copy of everything peerbot stores about you"),
    ("forget", "/peer forget", "delete everything peerbot stores about you, for good"),
    ("mod", "/peer mod ack|resolve|reveal|approve|decline|mute|waitlist|report ...",
     "moderator tools (moderators only)"),
)
VERB_NAMES: tuple[str, ...] = tuple(verb for verb, _, _ in VERBS)

_QUOTES = {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'}


@dataclass(frozen=True, slots=True)
class Command:
    verb: str
    args: tuple[str, ...]
    raw: str  # the text after the verb, as typed
    _spans: tuple[tuple[int, int], ...] = ()

    def arg(self, index: int, default: str = "") -> str:
        return self.args[index] if index < len(self.args) else default

    def rest(self, skip: int) -> str:
        """The text after the first `skip` arguments, verbatim (one quoted argument is unquoted)."""
        if skip >= len(self._spans):
            return ""
        tail = self.raw[self._spans[skip][0]:].strip()
        if skip == len(self.args) - 1 and len(tail) >= 2 and tail[0] == '"' and tail[-1] == '"':
            return self.args[skip]
        return tail


def tokenize(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Split on whitespace; a double-quoted stretch is one token. An unclosed quote is taken literally."""
    tokens: list[str] = []
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        if text[i] == '"':
            close = text.find('"', i + 1)
            if close != -1 and (close + 1 == n or text[close + 1].isspace()):
                tokens.append(text[i + 1:close])
                spans.append((start, close + 1))
                i = close + 1
                continue
        while i < n and not text[i].isspace():
            i += 1
        tokens.append(text[start:i])
        spans.append((start, i))
    return tokens, spans


def parse_command(text: str) -> Command:
    """Parse the text after `/peer` (a leading `/peer` or `peer` is tolerated). Empty text means `help`."""
    cleaned = "".join(_QUOTES.get(ch, ch) for ch in text).strip()
    for prefix in ("/peer", "peer"):
        if cleaned.lower() == prefix or cleaned.lower().startswith(prefix + " "):
            cleaned = cleaned[len(prefix):].strip()
            break
    tokens, spans = tokenize(cleaned)
    if not tokens:
        return Command(verb="help", args=(), raw="")
    verb = tokens[0].lower()
    raw = cleaned[spans[0][1]:]
    offset = spans[0][1]
    arg_spans = tuple((start - offset, end - offset) for start, end in spans[1:])
    return Command(verb=verb, args=tuple(tokens[1:]), raw=raw, _spans=arg_spans)


def drop_first_arg(command: Command) -> Command:
    """`mod ack 12` as a command `ack` with args ("12",), for sub-command handlers."""
    if not command.args:
        return command
    start = command._spans[0][1]
    spans = tuple((a - start, b - start) for a, b in command._spans[1:])
    return Command(verb=command.args[0].lower(), args=command.args[1:], raw=command.raw[start:], _spans=spans)


def suggest_verb(verb: str) -> str | None:
    close = difflib.get_close_matches(verb, VERB_NAMES, n=1, cutoff=0.6)
    return close[0] if close else None


def help_lines() -> list[str]:
    return [f"• `{usage}`: {summary}" for _, usage, summary in VERBS]

