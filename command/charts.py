"""Bar charts for the metrics page as plain SVG, drawn with the audit trail's SVG helpers.

No script, no stylesheet, no external resource: the same markup works in the admin and in a PDF.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.safestring import SafeString, mark_safe

from audit.trail.charts import FONT, _fmt, _join, _nice_ceiling

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
    top_value = _nice_ceiling(int(top) + (0 if float(top).is_integer() else 1)) if top else 1
    bottom = TOP + PLOT_HEIGHT

    def y_of(value: float) -> float:
        return bottom - value / top_value * PLOT_HEIGHT

    parts: list = [
        _fmt(
            '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
            'aria-label="{}" font-family="{}" font-size="12" style="max-width:100%;height:auto">',
            WIDTH,
            height,
            WIDTH,
            height,
            title,
            FONT,
        ),
        _fmt("<title>{}</title>", title),
        _fmt('<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>', WIDTH, height),
        _fmt('<text x="{}" y="18" font-size="14" font-weight="bold" fill="#222">{}</text>', LEFT, title),
    ]
    for value in (0, top_value / 2, top_value):
        y = y_of(value)
        parts.append(
            _fmt(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" text-anchor="end" fill="#555">{}</text>',
                LEFT,
                y,
                WIDTH - RIGHT,
                y,
                "#888" if value == 0 else "#e4e4e4",
                LEFT - 6,
                y + 4,
                f"{value:g}",
            )
        )
    if y_label:
        parts.append(
            _fmt(
                '<text transform="translate(14 {}) rotate(-90)" text-anchor="middle" fill="#555">{}</text>',
                TOP + PLOT_HEIGHT / 2,
                y_label,
            )
        )
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
            parts.append(
                _fmt(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} · {}: {}</title></rect>',
                    x,
                    y_top,
                    max(width - 1, 1.0),
                    max(y_of(base) - y_top, 0.5),
                    s.colour,
                    category,
                    s.label,
                    value_text(raw),
                )
            )
            if not stacked and width >= 34:
                parts.append(
                    _fmt(
                        '<text x="{}" y="{}" text-anchor="middle" fill="#222" font-size="11">{}</text>',
                        x + width / 2,
                        y_top - 3,
                        value_text(raw),
                    )
                )
        if stacked and stacked_so_far > 0:
            total = sum(s.values[i] or 0 for s in series)
            parts.append(
                _fmt(
                    '<text x="{}" y="{}" text-anchor="middle" fill="#222" font-weight="bold">{}</text>',
                    x0 + bar_space / 2,
                    y_of(stacked_so_far) - 4,
                    value_text(total),
                )
            )
        parts.append(
            _fmt(
                '<text x="{}" y="{}" text-anchor="middle" fill="#333">{}</text>',
                LEFT + i * slot + slot / 2,
                bottom + 16,
                category,
            )
        )
    x = LEFT
    for s in series:
        parts.append(
            _fmt(
                '<rect x="{}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}" fill="#222">{}</text>',
                x,
                legend_top,
                s.colour,
                x + 16,
                legend_top + 10,
                s.label,
            )
        )
        x += 16 + 7.2 * len(s.label) + 18
    parts.append(mark_safe("</svg>"))  # noqa: S308 - a constant
    return _join(parts)
