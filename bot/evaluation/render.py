"""The program report as JSON, CSV, or one self-contained HTML file a program lead can open offline and print:
headline numbers, charts as inline SVG (weekly active members, WHO-5 before and after, time to acknowledge),
each with a short plain-language note, and every figure in tables. Suppressed cells read "fewer than 5".
"""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import timedelta
from typing import Any

from bot.evaluation.figures import SECTIONS, Cell, Figures
from bot.evaluation.report import headline, shown

CSV_COLUMNS = ("section", "figure", "cell", "value", "note")


def _plain(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() and not isinstance(value, float) else round(value, 4)


def to_json_data(figures: Figures) -> dict[str, Any]:
    p = figures.period
    data: dict[str, Any] = {"period": {
        "from": p.start.date().isoformat(), "to": (p.end - timedelta(days=1)).date().isoformat(),
        "weeks": len(p.weeks), "min_cell_size": figures.min_cell_size,
        "suppressed_cells": sum(1 for c in figures.cells if c.suppressed),
    }}
    for section in SECTIONS:
        data[section] = {}
    for cell in figures.cells:
        data[cell.section].setdefault(cell.figure, {})[cell.cell] = _plain(cell.value)
    data["pairing"]["available"] = figures.pairing_available
    data["satisfaction"]["improvement_suggestions"] = figures.suggestions
    return data


def to_json(figures: Figures) -> str:
    return json.dumps(to_json_data(figures), indent=2, ensure_ascii=False) + "\n"


def to_csv(figures: Figures) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in figures.cells:
        note = f"fewer than {figures.min_cell_size}" if c.suppressed else ("no data" if c.value is None else "")
        writer.writerow((c.section, c.figure, c.cell, "" if c.value is None else _plain(c.value), note))
    return out.getvalue()


# ---------------------------------------------------------------- HTML

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccd; }
.note { color: #3d4659; margin: .3rem 0 1.2rem; } .muted { color: #6b7385; }
ul.headline li { margin: .25rem 0; } table { border-collapse: collapse; margin: .5rem 0 1rem; }
td, th { border: 1px solid #d5d9e2; padding: .2rem .5rem; text-align: left; font-size: .9rem; }
th { background: #f1f3f7; } td.num { text-align: right; } .suppressed { color: #8a6d00; font-style: italic; }
svg { max-width: 100%; height: auto; } figure { margin: 1rem 0; page-break-inside: avoid; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; } }
"""

_FIGURE_LABELS = {
    "members": "Members (joined before the end of the period)", "members_joined": "Members who joined",
    "active_members": "Active members (posted, replied, checked in or talked in a pair)",
    "returning_members": "Returning members (active in two or more weeks)",
    "checkin_answer_rate": "Check-in answer rate", "weekly_active_members": "Active members per week",
    "group_posts": "Group posts", "group_replies": "Group replies",
    "mentees_waiting": "Mentees waiting at the end", "wait_days_median": "Median wait to be matched (days)",
    "active_pairs": "Active pairs", "pairs_ended": "Pairs ended", "followup_rating_mean": "Follow-up rating (1-5)",
    "active_mentors": "Active mentors", "capacity_used_share": "Share of mentor capacity used",
    "messages_per_pair_week": "Messages per pair per week",
    "who5_pairs": "Members with a baseline and a follow-up WHO-5", "who5_baseline_mean": "WHO-5 at baseline (mean)",
    "who5_latest_mean": "WHO-5 latest (mean)", "who5_change_mean": "WHO-5 change (mean)",
    "who5_change_ci95_low": "WHO-5 change, 95% CI low", "who5_change_ci95_high": "WHO-5 change, 95% CI high",
    "who5_improved_share": "Share improving by 10 points or more", "burnout_responses": "Burnout answers (staff)",
    "program_responses": "Program satisfaction answers", "program_mean": "Program satisfaction (1-5)",
    "pair_responses": "Mentor/mentee satisfaction answers", "pair_mean": "Mentor/mentee satisfaction (1-5)",
    "escalations": "Safety alerts", "ack_minutes_median": "Time to acknowledge, median (minutes)",
    "ack_minutes_p90": "Time to acknowledge, 90th percentile (minutes)", "acknowledged": "Alerts acknowledged",
    "repaged": "Alerts re-paged", "breached": "Alerts never acknowledged in time (breached)",
    "resolved_share": "Share of alerts resolved",
}
_SECTION_TITLES = {"engagement": "Engagement", "pairing": "Mentor pairing", "wellbeing": "Well-being",
                   "satisfaction": "Satisfaction", "safety": "Safety"}
_SHARES = {"checkin_answer_rate", "capacity_used_share", "who5_improved_share", "resolved_share"}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _format(cell: Cell, k: int) -> str:
    if cell.suppressed:
        return f'<span class="suppressed">fewer than {k}</span>'
    if cell.value is None:
        return '<span class="muted">no data</span>'
    if cell.figure in _SHARES:
        return f"{cell.value:.0%}"
    return f"{cell.value:g}" if float(cell.value).is_integer() else f"{cell.value:.2f}"


def _num(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def bar_chart(bars: list[tuple[str, float | None]], title: str, k: int, unit: str = "", width: int = 720,
              height: int = 240, label_every: int = 1, scale_max: float | None = None) -> str:
    """An inline SVG bar chart; a suppressed bar (None) is drawn as an empty dashed outline marked "<5".
    `scale_max` fixes the top of the scale (e.g. 100 for a 0-100 score) instead of the largest bar."""
    top = scale_max or max([v for _, v in bars if v is not None] + [1.0])
    left, bottom, inner_h = 44, 36, height - 56
    slot = (width - left - 10) / max(len(bars), 1)
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" style="max-width:100%;height:auto" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#889"/>',
             f'<text x="4" y="14" font-size="11" fill="#556">{_e(_num(top) + unit)}</text>',
             f'<text x="4" y="{height - bottom}" font-size="11" fill="#556">0</text>']
    for i, (label, value) in enumerate(bars):
        x = left + i * slot + slot * 0.15
        w = slot * 0.7
        if value is None:
            parts.append(f'<rect x="{x:.1f}" y="{height - bottom - 18}" width="{w:.1f}" height="18" fill="none" '
                         f'stroke="#b59a3a" stroke-dasharray="3 2"/><text x="{x + w / 2:.1f}" '
                         f'y="{height - bottom - 22}" font-size="10" text-anchor="middle" '
                         f'fill="#8a6d00">&lt;{k}</text>')
        else:
            h = inner_h * value / top
            parts.append(f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                         f'fill="#3f6fb5"><title>{_e(label)}: {_num(value)}{_e(unit)}</title></rect>'
                         f'<text x="{x + w / 2:.1f}" y="{height - bottom - h - 4:.1f}" font-size="10" '
                         f'text-anchor="middle" fill="#223">{_num(value)}</text>')
        if i % label_every == 0:
            parts.append(f'<text x="{x + w / 2:.1f}" y="{height - bottom + 14}" font-size="10" '
                         f'text-anchor="middle" fill="#445">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _chart_weekly(figures: Figures) -> tuple[str, str]:
    k = figures.min_cell_size
    weeks = [c for c in figures.cells if c.figure == "weekly_active_members"]
    bars = [(c.cell.removeprefix("week:")[5:], c.value) for c in weeks]
    shown_values = [c.value for c in weeks if c.value is not None]
    hidden = sum(1 for c in weeks if c.value is None)
    if shown_values:
        note = (f"Each bar is one week (labelled by its Monday). Between {min(shown_values):g} and "
                f"{max(shown_values):g} members took part in a week.")
    else:
        note = f"No week had {k} or more active members, so no week is shown."
    if hidden and shown_values:
        note += f" {hidden} week(s) had fewer than {k} active members and are not shown (dashed outline)."
    svg = bar_chart(bars, "Active members per week", k, label_every=max(1, len(bars) // 13))
    return svg, note


def _chart_who5(figures: Figures) -> tuple[str, str]:
    k = figures.min_cell_size
    v = figures.value
    before, after, change = v("wellbeing", "who5_baseline_mean"), v("wellbeing", "who5_latest_mean"), \
        v("wellbeing", "who5_change_mean")
    svg = bar_chart([("baseline", before), ("latest", after)], "WHO-5 well-being, baseline and latest (0-100)", k,
                    width=420, scale_max=100)
    if change is None:
        note = (f"Fewer than {k} members answered both a baseline and a follow-up survey in this period, so no "
                "before/after comparison is shown.")
    else:
        low, high = v("wellbeing", "who5_change_ci95_low"), v("wellbeing", "who5_change_ci95_high")
        direction = "rose" if change > 0 else "fell" if change < 0 else "did not change"
        note = (f"For the {v('wellbeing', 'who5_pairs'):g} members who answered both, the average WHO-5 score "
                f"{direction} from {before:.1f} to {after:.1f} ({change:+.1f} points; 95% confidence interval "
                f"{shown(low, k, '{:+.1f}')} to {shown(high, k, '{:+.1f}')}). "
                f"{shown(v('wellbeing', 'who5_improved_share'), k, '{:.0%}')} improved by 10 points or more, "
                "the usual threshold of a meaningful change. Scores of 50 or below suggest poor well-being.")
        if low is not None and high is not None and low <= 0 <= high:
            note += " The interval includes zero: the change may be chance."
    return svg, note


def _chart_ack(figures: Figures) -> tuple[str, str]:
    k = figures.min_cell_size
    buckets = [c for c in figures.cells if c.figure == "acknowledged" and c.cell.startswith("bucket:")]
    svg = bar_chart([(c.cell.removeprefix("bucket:"), c.value) for c in buckets],
                    "Time for a moderator to acknowledge a safety alert", k, width=560)
    median, p90 = figures.value("safety", "ack_minutes_median"), figures.value("safety", "ack_minutes_p90")
    if median is None:
        note = f"Fewer than {k} people's alerts were acknowledged in this period, so no times are shown."
    else:
        note = (f"Half of the alerts were acknowledged within {median:.1f} minutes, and 9 in 10 within "
                f"{shown(p90, k, '{:.1f}')} minutes. Unacknowledged alerts are re-paged until someone answers.")
    return svg, note


def _table(figures: Figures, section: str) -> str:
    k = figures.min_cell_size
    rows: list[str] = []
    by_figure: dict[str, list[Cell]] = {}
    for c in figures.cells:
        if c.section == section and c.figure != "weekly_active_members":
            by_figure.setdefault(c.figure, []).append(c)
    for figure, cells in by_figure.items():
        label = _FIGURE_LABELS.get(figure, figure)
        main = next((c for c in cells if c.cell == "all"), None)
        parts = [f"{_e(c.cell.replace(':', ': '))} {_format(c, k)}" for c in cells if c.cell != "all"]
        rows.append(f"<tr><th>{_e(label)}</th><td class=\"num\">{_format(main, k) if main else ''}</td>"
                    f"<td>{'; '.join(parts)}</td></tr>")
    if not rows:
        return ""
    return ("<table><tr><th>figure</th><th>all</th><th>by platform, topic, group or kind</th></tr>"
            + "".join(rows) + "</table>")


def to_html(figures: Figures, community: str = "peer-support program") -> str:
    p = figures.period
    k = figures.min_cell_size
    heads = headline(figures)
    charts = [_chart_weekly(figures), _chart_who5(figures), _chart_ack(figures)]
    body = [f"<h1>{_e(community)}: program report</h1>",
            f'<p class="muted">{p.start.date()} to {(p.end - timedelta(days=1)).date()} · aggregates only: no '
            f"member, pseudonym or message appears here, and any figure about fewer than {k} people is shown as "
            f"\u201cfewer than {k}\u201d (with enough neighbouring figures hidden that it cannot be worked out).</p>",
            "<h2>Headline numbers</h2><ul class=\"headline\">"
            + "".join(f"<li>{_e(line.removeprefix('• '))}</li>" for line in heads[1:]) + "</ul>"]
    titles = ("Weekly active members", "WHO-5 well-being before and after", "Time to acknowledge safety alerts")
    for title, (svg, note) in zip(titles, charts, strict=True):
        body.append(f"<figure><h3>{_e(title)}</h3>{svg}<figcaption class=\"note\">{_e(note)}</figcaption></figure>")
    for section in SECTIONS:
        body.append(f"<h2>{_SECTION_TITLES[section]}</h2>")
        if section == "pairing" and not figures.pairing_available:
            body.append('<p class="note">Mentor pairing is not part of this installation, so there are no pairing '
                        "figures.</p>")
            continue
        body.append(_table(figures, section))
        if section == "satisfaction":
            if figures.suggestions is None:
                body.append(f'<p class="note">Suggestions ("what should we improve?"): fewer than {k} in this '
                            "period, so none are shown.</p>")
            else:
                body.append("<h3>What members say we should improve</h3><p class=\"note\">In alphabetical order, "
                            "never tied to a person.</p><ul>"
                            + "".join(f"<li>{_e(s)}</li>" for s in figures.suggestions) + "</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(community)}: program report</title><style>{_STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


RENDERERS = {"json": to_json, "csv": to_csv}
