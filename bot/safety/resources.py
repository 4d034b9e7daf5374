"""Crisis resources per locale: who a person can reach right now. Text is data, reviewed here as a whole.

`[safety] crisis_resources` replaces the built-in list; `[safety] locale` picks one (the country part decides).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    contact: str
    hours: str = ""

    def line(self) -> str:
        hours = f" ({self.hours})" if self.hours else ""
        return f"{self.name}: {self.contact}{hours}"


@dataclass(frozen=True, slots=True)
class LocaleResources:
    crisis: tuple[Resource, ...]
    emergency: str  # the emergency number to call when life is in danger right now


_FALLBACK = LocaleResources(
    crisis=(Resource("Find a helpline in your country", "https://findahelpline.com", "free, confidential"),),
    emergency="your local emergency number",
)

BUILT_IN: dict[str, LocaleResources] = {
    "US": LocaleResources(
        crisis=(Resource("988 Suicide & Crisis Lifeline", "call or text 988, or chat at 988lifeline.org", "24/7"),),
        emergency="911",
    ),
    "CA": LocaleResources(
        crisis=(Resource("9-8-8 Suicide Crisis Helpline", "call or text 988", "24/7"),),
        emergency="911",
    ),
    "GB": LocaleResources(
        crisis=(
            Resource("Samaritans", "call 116 123 or email jo@samaritans.org", "24/7, free"),
            Resource("Shout", "text SHOUT to 85258", "24/7"),
        ),
        emergency="999",
    ),
    "IE": LocaleResources(
        crisis=(
            Resource("Samaritans", "call 116 123 or email jo@samaritans.ie", "24/7, free"),
            Resource("Text About It", "text HELLO to 50808", "24/7"),
        ),
        emergency="112 or 999",
    ),
    "AU": LocaleResources(
        crisis=(Resource("Lifeline", "call 13 11 14 or text 0477 13 11 14", "24/7"),),
        emergency="000",
    ),
}
BUILT_IN["UK"] = BUILT_IN["GB"]


def resources_for(locale: str, configured: list[tuple[str, str, str]] | None = None) -> LocaleResources:
    """The resources for a locale such as "en-US" or "en_GB"; configured ones (name, contact, hours) replace them."""
    country = locale.replace("_", "-").split("-")[-1].upper() if locale else ""
    base = BUILT_IN.get(country, _FALLBACK)
    if configured:
        return LocaleResources(crisis=tuple(Resource(*item) for item in configured), emergency=base.emergency)
    return base


def crisis_footer(resources: LocaleResources) -> str:
    """One line to close help texts with: a human is always reachable."""
    first = resources.crisis[0]
    return f"If you are struggling right now: {first.line()}. In an emergency call {resources.emergency}."
