"""Quarter over quarter, per team: scores, step times, and whether last quarter's gaps were closed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import median

from django.db.models import Count, Q
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from incidents.models import ActionItemSource, ActionItemState
from incidents.selectors import incident_visibility_q

from .constants import DrillState, Step
from .models import Drill
from .quarters import previous_quarter_label
from .timing import drill_step_results, with_step_sources

COLOURS = ["#1565c0", "#b71c1c", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f"]


@dataclass
class QuarterRow:
    quarter: str
    drills: int = 0
    score: float | None = None
    step_minutes: dict[str, float | None] = field(default_factory=dict)
    gaps_open: int = 0
    gaps_closed: int = 0
    previous_gaps_open: int | None = None
    previous_gaps_closed: int | None = None


def _team(drill: Drill) -> str:
    if drill.team:
        return drill.team
    feature = drill.feature or drill.scenario.feature
    return feature.owner_team if feature else "(no team)"


def drill_trends(*, user) -> dict[str, list[QuarterRow]]:
    """Completed drills grouped by team and quarter (oldest first); gaps counted on visible drill incidents."""
    visible = Q(incident__isnull=True) | Q(
        incident__in=Drill.incident.field.related_model.objects.filter(incident_visibility_q(user))
    )
    drills = list(
        with_step_sources(Drill.objects.filter(visible, state=DrillState.COMPLETED))
        .select_related("scenario__feature", "feature", "incident")
        .prefetch_related("corrections")
        .annotate(
            gaps_open=Count(
                "incident__action_items",
                filter=Q(
                    incident__action_items__source=ActionItemSource.DRILL,
                    incident__action_items__state=ActionItemState.OPEN,
                ),
            ),
            gaps_closed=Count(
                "incident__action_items",
                filter=Q(incident__action_items__source=ActionItemSource.DRILL)
                & ~Q(incident__action_items__state=ActionItemState.OPEN),
            ),
        )
        .order_by("quarter", "pk")
    )
    grouped: dict[str, dict[str, list[Drill]]] = defaultdict(lambda: defaultdict(list))
    for drill in drills:
        grouped[_team(drill)][drill.quarter].append(drill)
    out: dict[str, list[QuarterRow]] = {}
    for team in sorted(grouped):
        rows = []
        for quarter in sorted(grouped[team]):
            members = grouped[team][quarter]
            scores = [d.score for d in members if d.score is not None]
            per_step = defaultdict(list)
            for drill in members:
                for result in drill_step_results(drill):
                    if result.minutes is not None:
                        per_step[result.step].append(result.minutes)
            rows.append(
                QuarterRow(
                    quarter=quarter,
                    drills=len(members),
                    score=round(sum(scores) / len(scores), 1) if scores else None,
                    step_minutes={s: (median(per_step[s]) if per_step[s] else None) for s in Step.values},
                    gaps_open=sum(d.gaps_open for d in members),
                    gaps_closed=sum(d.gaps_closed for d in members),
                )
            )
        by_quarter = {row.quarter: row for row in rows}
        for row in rows:
            previous = by_quarter.get(previous_quarter_label(row.quarter))
            if previous is not None:
                row.previous_gaps_open, row.previous_gaps_closed = previous.gaps_open, previous.gaps_closed
        out[team] = rows
    return out


def trends_svg(trends: dict[str, list[QuarterRow]], *, width: int = 760, height: int = 240) -> SafeString:
    """Score per quarter, one line per team: a hand-written SVG that works in the admin and in a PDF."""
    quarters = sorted({row.quarter for rows in trends.values() for row in rows})
    if not quarters:
        return mark_safe("")  # noqa: S308 - constant
    left, right, top, bottom = 40, 160, 16, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(quarters) - 1, 1)

    def x(quarter: str) -> float:
        return left + (quarters.index(quarter) * step if len(quarters) > 1 else plot_w / 2)

    def y(score: float) -> float:
        return top + plot_h * (1 - score / 100)

    parts = [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
            'aria-label="Drill score per quarter and team" font-family="sans-serif" font-size="11">',
            width,
            height,
            width,
            height,
        )
    ]
    for tick in (0, 25, 50, 75, 100):
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" '
                'fill="#555">{}</text>',
                left,
                left + plot_w,
                f"{y(tick):.1f}",
                f"{y(tick):.1f}",
                left - 6,
                f"{y(tick) + 4:.1f}",
                tick,
            )
        )
    for quarter in quarters:
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" fill="#333">{}</text>',
                f"{x(quarter):.1f}",
                height - 10,
                quarter,
            )
        )
    for index, (team, rows) in enumerate(sorted(trends.items())):
        colour = COLOURS[index % len(COLOURS)]
        points = [(x(r.quarter), y(r.score)) for r in rows if r.score is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(format_html('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>', path, colour))
        for (px, py), row in zip(points, [r for r in rows if r.score is not None], strict=True):
            parts.append(
                format_html(
                    '<circle cx="{}" cy="{}" r="4" fill="{}"><title>{} {}: {}</title></circle>'
                    '<text x="{}" y="{}" text-anchor="middle" fill="{}" font-weight="bold">{}</text>',
                    f"{px:.1f}",
                    f"{py:.1f}",
                    colour,
                    team,
                    row.quarter,
                    row.score,
                    f"{px:.1f}",
                    f"{py - 8:.1f}",
                    colour,
                    f"{row.score:.0f}",
                )
            )
        legend_y = top + 14 + index * 18
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}" fill="#111">{}</text>',
                width - right + 12,
                legend_y - 10,
                colour,
                width - right + 30,
                legend_y,
                team[:22],
            )
        )
    parts.append(mark_safe("</svg>"))  # noqa: S308 - constant
    return mark_safe("".join(str(p) for p in parts))  # noqa: S308 - every part built with format_html
