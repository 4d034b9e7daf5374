"""The program report for a period: reads the facts through the store's evaluation queries, computes the figures
(`figures.compute`) and gives the headline numbers for the chat. Used by `peerbot report` and `/peer mod report`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from bot.evaluation import week_of
from bot.evaluation.figures import Figures, Period, ProgramData, compute
from bot.store import Transaction

DEFAULT_DAYS = 90


def period_for(start: date | None, end: date | None, today: date) -> Period:
    """The report period from `--from` and `--to` (both inclusive dates, UTC); by default the 90 days to today."""
    last = end or today
    first = start or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValueError(f"the period starts ({first}) after it ends ({last})")
    return Period(datetime.combine(first, time(0), tzinfo=UTC),
                  datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC))


async def gather(tx: Transaction, period: Period, with_pairing: bool) -> ProgramData:
    queries = tx.evaluation
    weeks = period.weeks
    return ProgramData(
        period=period,
        members=await queries.members(period.end),
        activity=await queries.activity(weeks[0], weeks[-1]),
        checkins=await queries.checkin_counts(period.start, period.end),
        surveys=await queries.surveys(period.end),
        posts=await queries.posts(period.start, period.end),
        escalations=await queries.escalations(period.start, period.end),
        pairing=await queries.pairing(period.start, period.end) if with_pairing else None,
        suggestions=await queries.suggestions(week_of(period.start), weeks[-1]),
    )


async def build(tx: Transaction, period: Period, min_cell_size: int, with_pairing: bool = True) -> Figures:
    return compute(await gather(tx, period, with_pairing), min_cell_size)


def shown(value: float | None, k: int, fmt: str = "{:.0f}") -> str:
    """A count reads "fewer than 5" when suppressed; any other figure "not shown (fewer than 5 people)"."""
    if value is None:
        return f"fewer than {k}" if fmt == "{:.0f}" else f"not shown (fewer than {k} people)"
    return fmt.format(value)


def headline(figures: Figures) -> list[str]:
    """The headline numbers in plain words; a suppressed figure reads "fewer than 5"."""
    k = figures.min_cell_size
    v = figures.value
    p = figures.period
    lines = [f"Program figures {p.start.date()} to {(p.end - timedelta(days=1)).date()} "
             f"(aggregates only; cells of fewer than {k} people are not shown):",
             f"• Members: {shown(v('engagement', 'members'), k)} ({shown(v('engagement', 'members_joined'), k)} "
             f"joined); active: {shown(v('engagement', 'active_members'), k)}, returning (active in 2+ weeks): "
             f"{shown(v('engagement', 'returning_members'), k)}",
             f"• Check-in answer rate: {shown(v('engagement', 'checkin_answer_rate'), k, '{:.0%}')}"]
    change = v("wellbeing", "who5_change_mean")
    if change is None:
        lines.append(f"• WHO-5 well-being, baseline vs latest: fewer than {k} members with both")
    else:
        lines.append(
            f"• WHO-5 well-being (0-100): {v('wellbeing', 'who5_baseline_mean'):.1f} at baseline, "
            f"{v('wellbeing', 'who5_latest_mean'):.1f} latest; change {change:+.1f} (95% CI "
            f"{shown(v('wellbeing', 'who5_change_ci95_low'), k, '{:+.1f}')} to "
            f"{shown(v('wellbeing', 'who5_change_ci95_high'), k, '{:+.1f}')}, "
            f"{v('wellbeing', 'who5_pairs'):.0f} members); "
            f"{shown(v('wellbeing', 'who5_improved_share'), k, '{:.0%}')} improved by 10 points or more")
    lines.append(f"• Satisfaction with the program: {shown(v('satisfaction', 'program_mean'), k, '{:.1f} of 5')} "
                 f"({shown(v('satisfaction', 'program_responses'), k)} answers)")
    if figures.pairing_available:
        lines.append(f"• Pairing: {shown(v('pairing', 'active_pairs'), k)} active pairs, "
                     f"{shown(v('pairing', 'mentees_waiting'), k)} mentees waiting")
    lines.append(f"• Safety alerts: {shown(v('safety', 'escalations'), k)}; time to acknowledge: median "
                 f"{shown(v('safety', 'ack_minutes_median'), k, '{:.1f} min')}, p90 "
                 f"{shown(v('safety', 'ack_minutes_p90'), k, '{:.1f} min')}")
    return lines
