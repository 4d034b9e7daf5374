"""How times are written to SQL text columns: fixed-width UTC, so string order is time order."""

from __future__ import annotations

from datetime import UTC, datetime

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def ts(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    # Same text as strftime(_TS_FORMAT), several times faster (this is on the hot path of every tick).
    return when.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)  # reads the "Z" suffix as UTC (Python 3.11+)


def opt_ts(text: object) -> datetime | None:
    return parse_ts(str(text)) if text is not None else None
