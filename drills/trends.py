"""Quarter over quarter, per team: scores, step times, and whether last quarter's gaps were closed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import median

from django.db.models import Count, Q
from django.utils.safestring import SafeString, mark_safe

from charts.svg import Chart, Scale
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
    """Score per quarter, one line per team, drawn with the shared SVG toolkit (charts.svg)."""
    quarters = sorted({row.quarter for rows in trends.values() for row in rows})
    if not quarters:
        return mark_safe("")  # noqa: S308 - constant
    left, right, top, bottom = 40, 160, 16, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(quarters) - 1, 1)

    def x(quarter: str) -> float:
        return left + (quarters.index(quarter) * step if len(quarters) > 1 else plot_w / 2)

    y = Scale(top=100, bottom=top + plot_h, height=plot_h)
    chart = Chart(width=width, height=height, title="Drill score per quarter and team", font_size=11)
    chart.grid(y, (0, 25, 50, 75, 100), left=left, right=left + plot_w)
    for quarter in quarters:
        chart.text(x(quarter), height - 10, quarter, anchor="middle")
    for index, (team, rows) in enumerate(sorted(trends.items())):
        colour = COLOURS[index % len(COLOURS)]
        scored = [row for row in rows if row.score is not None]
        chart.line([(x(row.quarter), y(row.score)) for row in scored], colour)
        for row in scored:
            chart.point(x(row.quarter), y(row.score), colour, f"{team} {row.quarter}: {row.score}")
            chart.text(x(row.quarter), y(row.score) - 8, f"{row.score:.0f}", fill=colour, anchor="middle", bold=True)
        chart.swatch(width - right + 12, top + 4 + index * 18, colour, team[:22], gap=18)
    return chart.render()
