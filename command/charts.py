"""Bar charts for the metrics page, drawn with the shared SVG toolkit (charts.svg)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.safestring import SafeString

from charts.svg import Chart, Scale, nice_ceiling

WIDTH = 720
LEFT, RIGHT, TOP = 56, 14, 46
PLOT_HEIGHT = 170
AXIS_HEIGHT = 26
LEGEND_ROW = 18

SEVERITY_COLOURS = {"SEV1": "#b71c1c", "SEV2": "#e65100", "SEV3": "#f9a825", "SEV4": "#607d8b", "": "#9e9e9e"}


@dataclass
class Series:
    label: str
    colour: str
    values: Sequence[float]


def bar_chart_svg(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    stacked: bool = True,
    y_label: str = "",
    value_text: Callable[[float], str] = lambda v: f"{v:g}",
    scale: Callable[[float], float] = lambda v: v,
) -> SafeString:
    """Vertical bars, one slot per category; series stacked or side by side. `scale` maps a value to
    the number plotted (e.g. seconds to hours), `value_text` writes it in tooltips and the axis."""
    n = max(len(categories), 1)
    plot_width = WIDTH - LEFT - RIGHT
    legend_top = TOP + PLOT_HEIGHT + AXIS_HEIGHT
    height = legend_top + LEGEND_ROW * (1 if series else 0) + 10
    slot = plot_width / n
    plotted = [[scale(v or 0) for v in s.values] for s in series]
    if stacked:
        top = max((sum(p[i] for p in plotted) for i in range(len(categories))), default=0)
    else:
        top = max((v for p in plotted for v in p), default=0)
    bottom = TOP + PLOT_HEIGHT
    y_of = Scale(top=nice_ceiling(top) if top else 1, bottom=bottom, height=PLOT_HEIGHT)

    chart = Chart(width=WIDTH, height=height, title=title)
    chart.heading(LEFT, title)
    chart.grid(y_of, (0, y_of.top / 2, y_of.top), left=LEFT, right=WIDTH - RIGHT)
    if y_label:
        chart.axis_title(14, TOP + PLOT_HEIGHT / 2, y_label)
    bar_space = slot * 0.7
    for i, category in enumerate(categories):
        x0 = LEFT + i * slot + slot * 0.15
        stacked_so_far = 0.0
        for k, s in enumerate(series):
            value = plotted[k][i]
            raw = s.values[i]
            if stacked:
                x, width = x0, bar_space
                base = stacked_so_far
                stacked_so_far += value
            else:
                width = bar_space / max(len(series), 1)
                x, base = x0 + k * width, 0.0
            if value <= 0:
                continue
            y_top = y_of(base + value)
            tooltip = f"{category} · {s.label}: {value_text(raw)}"
            chart.bar(x, y_top, max(width - 1, 1.0), max(y_of(base) - y_top, 0.5), s.colour, tooltip)
            if not stacked and width >= 34:
                chart.text(x + width / 2, y_top - 3, value_text(raw), fill="#222", anchor="middle", size=11)
        if stacked and stacked_so_far > 0:
            total = sum(s.values[i] or 0 for s in series)
            chart.text(
                x0 + bar_space / 2, y_of(stacked_so_far) - 4, value_text(total), fill="#222", anchor="middle", bold=True
            )
        chart.text(LEFT + i * slot + slot / 2, bottom + 16, category, anchor="middle")
    x = LEFT
    for s in series:
        chart.swatch(x, legend_top, s.colour, s.label)
        x += 16 + 7.2 * len(s.label) + 18
    return chart.render()
