"""Neutralising mentions and pings in text the bot relays, so an anonymous post or an alert excerpt can never
notify a crowd or point at a person. Covers Slack and Discord syntaxes; adapters also disable pings at send time.
"""

from __future__ import annotations

import re

ZWSP = "\u200b"
# Slack: <@U123>, <@U123|name>, <!here>, <!channel>, <!everyone>, <!subteam^S123|@group>, <#C123|general>
# Discord: <@123>, <@!123>, <@&123> (role), <#123> (channel)
_ANGLE = re.compile(r"<(?P<sigil>[@!#])(?P<body>[^<>\s]{1,120})>")
_BROADCAST = re.compile(r"@(?=(everyone|here|channel)\b)", re.IGNORECASE)


def _replace(match: re.Match[str]) -> str:
    sigil, body = match["sigil"], match["body"]
    if sigil == "#":
        return "#channel"
    if sigil == "!":
        return "@" + ZWSP + body.split("|")[0].split("^")[0]
    return "@" + ZWSP + "someone"


def neutralise(text: str) -> str:
    """`<@U123>` becomes `@​someone`, `@everyone` becomes `@​everyone` (a zero-width space breaks the ping)."""
    text = _ANGLE.sub(_replace, text)
    return _BROADCAST.sub("@" + ZWSP, text)
