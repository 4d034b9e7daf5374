"""The program-evaluation figures, as pure functions of member-level facts read from the store.

Every figure is a set of cells ("all", "platform:slack", "topic:diabetes", "week:2026-03-02", "score:3", ...), each
with the number of people behind it. `suppress` applies the privacy floor: a cell with fewer than `min_cell_size`
people is suppressed, and so are enough of its siblings (complementary suppression) that no suppressed cell can be
recovered by subtracting the published ones from a published total. Nothing here names a member.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from bot.evaluation import week_of
from bot.store import EscalationFacts, MemberFacts, PairingFacts, PostFacts, SurveyFacts

IMPROVEMENT_THRESHOLD = 10  # WHO-5 points: the instrument's usual threshold of a relevant change
SEVERITIES = ("imminent", "high", "concern")
ACK_BUCKETS = ((1, "under 1 min"), (5, "1-5 min"), (15, "5-15 min"), (60, "15-60 min"), (math.inf, "over 60 min"))
# Cell groups whose cells split the figure's total: one suppressed cell among them needs a second one.
GROUPED = ("platform", "topic", "group", "severity", "category", "score", "reason", "bucket")
SECTIONS = ("engagement", "pairing", "wellbeing", "satisfaction", "safety")


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive

    @property
    def weeks(self) -> list[date]:
        first, last = week_of(self.start), week_of(self.end - timedelta(microseconds=1))
        return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]

    def __contains__(self, when: object) -> bool:
        return isinstance(when, datetime) and self.start <= when < self.end


@dataclass(frozen=True, slots=True)
class Cell:
    section: str
    figure: str
    cell: str  # "all", or "<group>:<name>"
    value: float | None  # None: no data, or suppressed
    n: int  # the people behind the value (used for the floor; not published for suppressed cells)
    suppressed: bool = False

    @property
    def group(self) -> str | None:
        head, sep, _ = self.cell.partition(":")
        return head if sep and head in GROUPED else None


@dataclass(frozen=True, slots=True)
class ProgramData:
    """Everything the figures are computed from, for one period (read by `bot.evaluation.report`)."""

    period: Period
    members: list[MemberFacts]
    activity: list[tuple[int, date, str, int]]
    checkins: dict[int, tuple[int, int]]
    surveys: list[SurveyFacts]
    posts: list[PostFacts]
    escalations: list[EscalationFacts]
    pairing: list[PairingFacts] | None  # None: the pairing feature is not installed
    suggestions: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Figures:
    period: Period
    min_cell_size: int
    cells: list[Cell]
    suggestions: list[str] | None  # None: too few to show without the floor
    pairing_available: bool

    def get(self, section: str, figure: str, cell: str = "all") -> Cell | None:
        return next((c for c in self.cells if (c.section, c.figure, c.cell) == (section, figure, cell)), None)

    def value(self, section: str, figure: str, cell: str = "all") -> float | None:
        found = self.get(section, figure, cell)
        return None if found is None else found.value


# ---------------------------------------------------------------- small statistics

_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom (a table to 30, then an expansion)."""
    if df < 1:
        raise ValueError("needs at least one degree of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def mean_ci95(values: list[float]) -> tuple[float, float, float] | None:
    """(mean, low, high): the mean with its 95 % confidence interval (t distribution); None under two values."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = t_quantile_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def percentile(sorted_values: list[float], share: float) -> float:
    """Linear-interpolated percentile of values already sorted (share 0.5: the median)."""
    if not sorted_values:
        raise ValueError("no values")
    position = share * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def who5_score(answers: tuple[int, ...]) -> int | None:
    """The WHO-5 percentage score (0-100): the raw sum of the five 0-5 answers times 4."""
    return sum(answers) * 4 if len(answers) == 5 else None


# ---------------------------------------------------------------- the privacy floor

def suppress(cells: list[Cell], min_cell_size: int,
             supersets: Mapping[str, frozenset[str]] | None = None) -> list[Cell]:
    """Primary suppression (fewer than `min_cell_size` people) and complementary suppression within each group of
    sibling cells, until the suppressed cells of a group are at least two and hold at least `min_cell_size` people
    together (so neither subtraction from the total nor from each other gives a small cell away).

    `supersets` names, per cell, the cells whose people include all of its people (every cell is inside "all";
    a topic may lie inside another). Topics overlap, so "all" minus one topic can leave a handful of people: a
    cell whose people differ from a shown superset's by fewer than `min_cell_size` is hidden too."""
    hidden = {i for i, c in enumerate(cells) if c.n < min_cell_size}
    if supersets:
        index = {(c.section, c.figure, c.cell): i for i, c in enumerate(cells)}
        for i, c in enumerate(cells):
            for outer in supersets.get(c.cell, ()):
                j = index.get((c.section, c.figure, outer))
                if j is not None and j not in hidden and 0 < cells[j].n - c.n < min_cell_size:
                    hidden.add(i)
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, c in enumerate(cells):
        if c.group is not None:
            groups[(c.section, c.figure, c.group)].append(i)
    for members in groups.values():
        # Sibling figures share their cells' people counts, so they make the same decisions.
        while True:
            suppressed = [i for i in members if i in hidden]
            shown = sorted((i for i in members if i not in hidden), key=lambda i: (cells[i].n, cells[i].cell))
            if not suppressed or not shown:
                break
            if len(suppressed) >= 2 and sum(cells[i].n for i in suppressed) >= min_cell_size:
                break
            hidden.add(shown[0])
    return [replace(c, value=None, suppressed=True) if i in hidden else c for i, c in enumerate(cells)]


# ---------------------------------------------------------------- the figures

class _Builder:
    def __init__(self) -> None:
        self.cells: list[Cell] = []

    def add(self, section: str, figure: str, cell: str, value: float | None, n: int) -> None:
        self.cells.append(Cell(section, figure, cell, value, n))


def _cells_of(members: list[MemberFacts]) -> list[tuple[str, set[int]]]:
    """("all" | "platform:x" | "topic:y", the member ids in it)."""
    found: list[tuple[str, set[int]]] = [("all", {m.id for m in members})]
    platforms: dict[str, set[int]] = defaultdict(set)
    topics: dict[str, set[int]] = defaultdict(set)
    for m in members:
        platforms[m.platform].add(m.id)
        for topic in m.topics:
            topics[topic].add(m.id)
    found += [(f"platform:{p}", ids) for p, ids in sorted(platforms.items())]
    found += [(f"topic:{t}", ids) for t, ids in sorted(topics.items())]
    return found


def _per_cell(b: _Builder, section: str, figure: str, cells: list[tuple[str, set[int]]],
              fn: Callable[[set[int]], tuple[float | None, int]]) -> None:
    for name, ids in cells:
        value, n = fn(ids)
        b.add(section, figure, name, value, n)


def engagement(b: _Builder, data: ProgramData, cells: list[tuple[str, set[int]]]) -> None:
    period = data.period
    joined = {m.id for m in data.members if m.joined_at in period}
    weeks_active: dict[int, set[date]] = defaultdict(set)
    by_week: dict[date, set[int]] = defaultdict(set)
    for member_id, week, _kind, count in data.activity:
        if count > 0:
            weeks_active[member_id].add(week)
            by_week[week].add(member_id)
    active = set(weeks_active)
    returning = {m for m, weeks in weeks_active.items() if len(weeks) >= 2}

    def count(ids_of: set[int]) -> Callable[[set[int]], tuple[float | None, int]]:
        return lambda ids: (len(ids & ids_of), len(ids & ids_of))

    _per_cell(b, "engagement", "members", cells, lambda ids: (len(ids), len(ids)))
    _per_cell(b, "engagement", "members_joined", cells, count(joined))
    _per_cell(b, "engagement", "active_members", cells, count(active))
    _per_cell(b, "engagement", "returning_members", cells, count(returning))

    def answer_rate(ids: set[int]) -> tuple[float | None, int]:
        sent = answered = people = 0
        for member_id in ids:
            s, a = data.checkins.get(member_id, (0, 0))
            if s:
                sent, answered, people = sent + s, answered + a, people + 1
        return (answered / sent if sent else None), people

    _per_cell(b, "engagement", "checkin_answer_rate", cells, answer_rate)
    for week in period.weeks:
        people = len(by_week.get(week, ()))
        b.add("engagement", "weekly_active_members", f"week:{week.isoformat()}", people, people)
    for figure, reply in (("group_posts", False), ("group_replies", True)):
        posts = [p for p in data.posts if p.reply is reply]
        authors = {p.member_id for p in posts if p.member_id is not None}
        b.add("engagement", figure, "all", len(posts), len(authors))
        for topic in sorted({p.topic for p in posts}):
            mine = [p for p in posts if p.topic == topic]
            b.add("engagement", figure, f"group:{topic}", len(mine),
                  len({p.member_id for p in mine if p.member_id is not None}))


def _latest_in_period(surveys: Iterable[SurveyFacts], period: Period) -> dict[int, SurveyFacts]:
    latest: dict[int, SurveyFacts] = {}
    for s in surveys:  # oldest first
        if s.completed_at in period:
            latest[s.member_id] = s
    return latest


def wellbeing(b: _Builder, data: ProgramData, cells: list[tuple[str, set[int]]]) -> None:
    """WHO-5 at baseline vs the latest follow-up in the period, per member with both; burnout for staff."""
    baseline: dict[int, int] = {}
    latest: dict[int, int] = {}
    for s in data.surveys:  # oldest first
        score = who5_score(s.who5)
        if score is None or s.completed_at >= data.period.end:
            continue
        if s.kind == "baseline" and s.member_id not in baseline:
            baseline[s.member_id] = score
        elif s.kind == "followup" and s.completed_at in data.period and s.member_id in baseline:
            latest[s.member_id] = score

    def pairs(ids: set[int]) -> list[tuple[int, int]]:
        return [(baseline[m], latest[m]) for m in sorted(ids & set(latest))]

    def mean_of(pick: int) -> Callable[[set[int]], tuple[float | None, int]]:
        def fn(ids: set[int]) -> tuple[float | None, int]:
            found = pairs(ids)
            return (statistics.fmean(p[pick] for p in found) if found else None), len(found)
        return fn

    def change(part: int) -> Callable[[set[int]], tuple[float | None, int]]:
        def fn(ids: set[int]) -> tuple[float | None, int]:
            found = pairs(ids)
            ci = mean_ci95([after - before for before, after in found])
            return (None if ci is None else round(ci[part], 2)), len(found)
        return fn

    def improved(ids: set[int]) -> tuple[float | None, int]:
        found = pairs(ids)
        better = sum(1 for before, after in found if after - before >= IMPROVEMENT_THRESHOLD)
        return (better / len(found) if found else None), len(found)

    _per_cell(b, "wellbeing", "who5_pairs", cells, lambda ids: (len(pairs(ids)), len(pairs(ids))))
    _per_cell(b, "wellbeing", "who5_baseline_mean", cells, mean_of(0))
    _per_cell(b, "wellbeing", "who5_latest_mean", cells, mean_of(1))
    _per_cell(b, "wellbeing", "who5_change_mean", cells, change(0))
    _per_cell(b, "wellbeing", "who5_change_ci95_low", cells, change(1))
    _per_cell(b, "wellbeing", "who5_change_ci95_high", cells, change(2))
    _per_cell(b, "wellbeing", "who5_improved_share", cells, improved)
    # Burnout: each staff member's latest answer in the period.
    burnout = {m: s.burnout for m, s in _latest_in_period(
        (s for s in data.surveys if s.burnout is not None), data.period).items()}
    b.add("wellbeing", "burnout_responses", "all", len(burnout), len(burnout))
    for score in range(1, 6):
        people = sum(1 for v in burnout.values() if v == score)
        b.add("wellbeing", "burnout_responses", f"score:{score}", people, people)


def satisfaction(b: _Builder, data: ProgramData, cells: list[tuple[str, set[int]]]) -> None:
    for figure, pick in (("program", lambda s: s.satisfaction), ("pair", lambda s: s.pair_satisfaction)):
        answered = {m: pick(s) for m, s in _latest_in_period(
            (s for s in data.surveys if pick(s) is not None), data.period).items()}

        def responses(ids: set[int], answered: dict[int, int] = answered) -> tuple[float | None, int]:
            return len(ids & set(answered)), len(ids & set(answered))

        def mean(ids: set[int], answered: dict[int, int] = answered) -> tuple[float | None, int]:
            values = [answered[m] for m in ids if m in answered]
            return (round(statistics.fmean(values), 2) if values else None), len(values)

        _per_cell(b, "satisfaction", f"{figure}_responses", cells, responses)
        _per_cell(b, "satisfaction", f"{figure}_mean", cells, mean)


def safety(b: _Builder, data: ProgramData) -> None:
    cases = [c for c in data.escalations if c.opened_at in data.period]

    def people(found: Iterable[EscalationFacts]) -> int:
        return len({c.subject for c in found})

    b.add("safety", "escalations", "all", len(cases), people(cases))
    for severity in SEVERITIES:
        mine = [c for c in cases if c.severity == severity]
        b.add("safety", "escalations", f"severity:{severity}", len(mine), people(mine))
    for platform in sorted({c.platform for c in cases}):
        mine = [c for c in cases if c.platform == platform]
        b.add("safety", "escalations", f"platform:{platform}", len(mine), people(mine))
    for category in sorted({cat for c in cases for cat in c.categories}):
        mine = [c for c in cases if category in c.categories]
        b.add("safety", "escalations", f"category:{category}", len(mine), people(mine))
    acked = [c for c in cases if c.acknowledged_at is not None]
    waits = sorted(_wait(c) for c in acked)
    b.add("safety", "ack_minutes_median", "all", round(percentile(waits, 0.5), 1) if waits else None, people(acked))
    b.add("safety", "ack_minutes_p90", "all", round(percentile(waits, 0.9), 1) if waits else None, people(acked))
    b.add("safety", "acknowledged", "all", len(acked), people(acked))
    lower = 0.0
    for upper, label in ACK_BUCKETS:
        mine = [c for c in acked if lower <= _wait(c) < upper]
        b.add("safety", "acknowledged", f"bucket:{label}", len(mine), people(mine))
        lower = upper
    for figure, pick in (("repaged", lambda c: c.repage_count > 0), ("breached", lambda c: c.breached)):
        mine = [c for c in cases if pick(c)]
        b.add("safety", figure, "all", len(mine), people(mine))
    resolved = [c for c in cases if c.resolved]
    b.add("safety", "resolved_share", "all", len(resolved) / len(cases) if cases else None, people(cases))


def _wait(case: EscalationFacts) -> float:
    assert case.acknowledged_at is not None
    return (case.acknowledged_at - case.opened_at).total_seconds() / 60


def pairing(b: _Builder, data: ProgramData) -> None:
    """Mentor pairing: waiting and matched mentees, pairs, endings and why, ratings and mentor engagement."""
    facts = data.pairing or []
    period = data.period
    requests = [f for f in facts if f.kind == "request"]
    waiting = [f for f in requests if f.started_at is not None and f.started_at < period.end
               and (f.ended_at is None or f.ended_at >= period.end)]
    b.add("pairing", "mentees_waiting", "all", len(waiting), len(waiting))
    matched = [f for f in requests if f.ended_at in period and f.started_at is not None]
    waits = sorted((f.ended_at - f.started_at).total_seconds() / 86400 for f in matched  # type: ignore[operator]
                   if f.ended_at is not None and f.started_at is not None)
    b.add("pairing", "wait_days_median", "all", round(percentile(waits, 0.5), 1) if waits else None, len(matched))
    pairs = [f for f in facts if f.kind == "pairing"]
    active = [f for f in pairs if f.started_at is not None and f.started_at < period.end
              and (f.ended_at is None or f.ended_at >= period.start)]

    def people(found: Iterable[PairingFacts]) -> int:
        found = list(found)
        return len({f.member_id for f in found} | {f.mentor_id for f in found if f.mentor_id is not None})

    b.add("pairing", "active_pairs", "all", len(active), people(active))
    ended = [f for f in pairs if f.ended_at in period]
    b.add("pairing", "pairs_ended", "all", len(ended), people(ended))
    for reason in sorted({f.end_reason or "not given" for f in ended}):
        mine = [f for f in ended if (f.end_reason or "not given") == reason]
        b.add("pairing", "pairs_ended", f"reason:{reason}", len(mine), people(mine))
    rated = [f for f in pairs if f.score is not None]
    b.add("pairing", "followup_rating_mean", "all",
          round(statistics.fmean(f.score for f in rated if f.score is not None), 2) if rated else None, people(rated))
    mentors = [f for f in facts if f.kind == "mentor"]
    busy = {f.mentor_id for f in active}
    active_mentors = [f for f in mentors if f.member_id in busy]
    b.add("pairing", "active_mentors", "all", len(active_mentors), len(active_mentors))
    capacity = sum(f.capacity for f in mentors)
    at_end = [f for f in active if f.ended_at is None or f.ended_at >= period.end]
    b.add("pairing", "capacity_used_share", "all", len(at_end) / capacity if capacity else None, len(mentors))
    # Relayed messages counted in the activity record, per active pair and week of the period.
    weeks = max(len(period.weeks), 1)
    relayed = sum(count for _, _, kind, count in data.activity if kind == "pair")
    b.add("pairing", "messages_per_pair_week", "all",
          round(relayed / len(active) / weeks, 2) if active else None, people(active))


def compute(data: ProgramData, min_cell_size: int) -> Figures:
    """Every figure of the report for one period, with the privacy floor applied."""
    b = _Builder()
    cells = _cells_of(data.members)
    supersets = {name: frozenset(other for other, outer in cells if other != name and ids <= outer)
                 for name, ids in cells}
    engagement(b, data, cells)
    pairing(b, data)
    wellbeing(b, data, cells)
    satisfaction(b, data, cells)
    safety(b, data)
    suggestions = sorted(data.suggestions) if len(data.suggestions) >= min_cell_size else None
    return Figures(data.period, min_cell_size, suppress(b.cells, min_cell_size, supersets), suggestions,
                   data.pairing is not None)
