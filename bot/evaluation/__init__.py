"""Program evaluation: the figures a program lead hands to funders, computed from store queries by pure functions
(`figures`), assembled for a period (`report`) and rendered as JSON, CSV or one self-contained HTML file
(`render`). Aggregates only: cells below `[evaluation] min_cell_size` are suppressed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

ACTIVITY_KINDS = ("post", "reply", "checkin", "pair")


def week_of(when: datetime) -> date:
    """The Monday (UTC) of the ISO week `when` falls in: the unit of the activity record."""
    day = when.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())
