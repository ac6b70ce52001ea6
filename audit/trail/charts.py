"""The "what changed" chart as a hand-written SVG: no script, no stylesheet, no external resource.

Everything it needs is in the SVG element itself, so the same markup works in the admin and in a
WeasyPrint PDF. Version names come from the AI product and are escaped like any untrusted text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from .investigation import VersionSeries, WhatChanged

FONT = "-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
WIDTH = 760
LEFT, RIGHT, TOP = 46, 14, 30
PLOT_HEIGHT = 150
AXIS_HEIGHT = 34
LEGEND_ROW = 19
MARK_COLOUR = "#b71c1c"


def _join(parts: Iterable) -> SafeString:
    """Concatenate markup: SafeStrings pass through, anything else is escaped."""
    return mark_safe("".join(conditional_escape(p) for p in parts))  # noqa: S308 - every part escaped


def _fmt(template: str, *args) -> SafeString:
    """format_html with coordinates rounded to a tenth of a pixel."""
    return format_html(template, *(f"{a:.1f}" if isinstance(a, float) else a for a in args))


def _nice_ceiling(value: int) -> int:
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return max(int(step * magnitude), 1)
    return value


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%b %d %H:%M}"


def what_changed_svg(
    changed: WhatChanged,
    *,
    dimension: str = "model",
    marks: Iterable[tuple[datetime, str]] = (),
    title: str | None = None,
) -> SafeString:
    """Stacked bars of requests per bucket, one colour per version, new versions marked.

    `marks` are moments to draw as red lines (when the incident started, when it was detected).
    """
    series: list[VersionSeries] = changed.models if dimension == "model" else changed.prompts
    title = title or f"{dimension.capitalize()} versions of {changed.feature.key}, requests per {changed.bucket}"
    n = len(changed.buckets)
    plot_width = WIDTH - LEFT - RIGHT
    legend_top = TOP + PLOT_HEIGHT + AXIS_HEIGHT
    height = legend_top + LEGEND_ROW * max(len(series), 1) + 6
    span = (changed.end - changed.start).total_seconds() or 1
    slot = plot_width / max(n, 1)

    def x_at(moment: datetime) -> float:
        offset = (moment - changed.start).total_seconds() / span
        return LEFT + max(0.0, min(1.0, offset)) * plot_width

    def x_of_bucket(i: int) -> float:
        # Buckets are aligned to whole hours/days; the first may start before the window does.
        return x_at(max(changed.buckets[i], changed.start))

    parts: list = [
        _fmt(
            '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
            'aria-label="{}" font-family="{}" font-size="11" style="max-width:100%;height:auto">',
            WIDTH,
            height,
            WIDTH,
            height,
            title,
            FONT,
        ),
        _fmt("<title>{}</title>", title),
        _fmt('<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>', WIDTH, height),
    ]

    totals = [sum(s.counts[i] for s in series) for i in range(n)]
    top_value = _nice_ceiling(max(totals, default=0))
    bottom = TOP + PLOT_HEIGHT

    def y_of(value: float) -> float:
        return bottom - value / top_value * PLOT_HEIGHT

    # grid and y axis
    for value in (0, top_value / 2, top_value):
        y = y_of(value)
        label = f"{value:g}"
        parts.append(
            _fmt(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>'
                '<text x="{}" y="{}" text-anchor="end" fill="#555">{}</text>',
                LEFT,
                y,
                WIDTH - RIGHT,
                y,
                "#888" if value == 0 else "#e4e4e4",
                LEFT - 6,
                y + 4,
                label,
            )
        )
    parts.append(
        _fmt(
            '<text transform="translate(12 {}) rotate(-90)" text-anchor="middle" fill="#555">requests per {}</text>',
            TOP + PLOT_HEIGHT / 2,
            changed.bucket,
        )
    )

    # stacked bars
    for i in range(n):
        x = x_of_bucket(i)
        right = x_of_bucket(i + 1) if i + 1 < n else LEFT + plot_width
        width = max((right - x) * 0.8, 1.0)
        stacked = 0
        for s in series:
            count = s.counts[i]
            if not count:
                continue
            y_top = y_of(stacked + count)
            parts.append(
                _fmt(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {} request{} from {}</title></rect>",
                    x + (right - x) * 0.1,
                    y_top,
                    width,
                    max(y_of(stacked) - y_top, 0.5),
                    s.colour,
                    s.label,
                    count,
                    "" if count == 1 else "s",
                    _when(changed.buckets[i]),
                )
            )
            stacked += count

    # x axis labels: about one every 64 px, the date under the first label of each day
    step = max(1, math.ceil(64 / max(slot, 1)))
    last_day = None
    for i in range(0, n, step):
        moment = changed.buckets[i].astimezone(UTC)
        x = x_of_bucket(i)
        top_line = f"{moment:%H:%M}" if changed.bucket == "hour" else f"{moment:%d}"
        day = f"{moment:%b %d}" if changed.bucket == "hour" else f"{moment:%b}"
        parts.append(
            _fmt(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888"/><text x="{}" y="{}" fill="#333">{}</text>',
                x,
                bottom,
                x,
                bottom + 4,
                x,
                bottom + 15,
                top_line,
            )
        )
        if day != last_day:
            parts.append(_fmt('<text x="{}" y="{}" fill="#777">{}</text>', x, bottom + 28, day))
            last_day = day

    # the incident's own moments: labels left of their line where there is room, a row lower when
    # the previous label would overlap
    shown_marks = sorted(
        ((m, label) for m, label in marks if m is not None and changed.start <= m <= changed.end), key=lambda p: p[0]
    )
    previous_right = -1.0
    row = 0
    for moment, label in shown_marks:
        x = x_at(moment)
        text_width = 6.5 * len(label) + 4
        on_left = x - 5 - text_width >= LEFT
        left_edge = x - 5 - text_width if on_left else x + 3
        row = row + 1 if left_edge < previous_right + 4 else 0
        previous_right = left_edge + text_width
        y = TOP + 1 + row * 15
        parts.append(
            _fmt(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"/>'
                '<rect x="{}" y="{}" width="{}" height="14" fill="#ffffff" fill-opacity="0.85"/>'
                '<text x="{}" y="{}" fill="{}" font-weight="bold" text-anchor="{}">{}</text>',
                x,
                TOP,
                x,
                bottom,
                MARK_COLOUR,
                left_edge,
                y,
                text_width,
                x - 5 if on_left else x + 5,
                y + 11,
                MARK_COLOUR,
                "end" if on_left else "start",
                label,
            )
        )

    # where each new version first appears
    new = [s for s in series if s.is_new and s.first_seen is not None]
    for k, s in enumerate(sorted(new, key=lambda s: s.first_seen)):
        x = x_at(s.first_seen)
        # Two rows of labels, so versions that appear close together do not print over each other.
        label_y = TOP - 4 - (k % 2) * 13
        near_right = x > LEFT + plot_width * 0.7
        parts.append(
            _fmt(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2" stroke-dasharray="4 3"/>'
                '<path d="M {} {} l -6 -9 h 12 z" fill="{}"><title>{} first seen {}</title></path>'
                '<text x="{}" y="{}" fill="{}" font-weight="bold" text-anchor="{}">new: {}</text>',
                x,
                TOP - 2,
                x,
                bottom,
                s.colour,
                x,
                TOP - 2,
                s.colour,
                s.label,
                _when(s.first_seen),
                x - 8 if near_right else x + 8,
                label_y,
                s.colour,
                "end" if near_right else "start",
                _short(s.label, 28),
            )
        )

    # legend
    if not series:
        parts.append(_fmt('<text x="{}" y="{}" fill="#555">No requests in this window.</text>', LEFT, legend_top + 12))
    for k, s in enumerate(series):
        y = legend_top + k * LEGEND_ROW
        if s.is_new:
            since = _fmt(
                '<tspan fill="{}" font-weight="bold">NEW — first seen {} UTC</tspan>', MARK_COLOUR, _when(s.first_seen)
            )
        elif s.first_seen is not None:
            since = _fmt('<tspan fill="#666">in use since {} UTC</tspan>', _when(s.first_seen))
        else:
            since = ""
        parts.append(
            _fmt(
                '<rect x="{}" y="{}" width="12" height="12" fill="{}"/>'
                '<text x="{}" y="{}" fill="#222"><tspan font-weight="bold">{}</tspan>'
                '<tspan fill="#444"> · {} request{}</tspan>  {}</text>',
                LEFT,
                y,
                s.colour,
                LEFT + 18,
                y + 10,
                _short(s.label, 48),
                s.total,
                "" if s.total == 1 else "s",
                since,
            )
        )
    parts.append(mark_safe("</svg>"))
    return _join(parts)
