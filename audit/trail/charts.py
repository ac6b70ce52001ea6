"""The "what changed" chart, drawn with the shared SVG toolkit (charts.svg).

Version names come from the AI product and are escaped like any untrusted text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

from django.utils.safestring import SafeString

from charts.svg import Chart, Scale, fmt, nice_ceiling

from .investigation import VersionSeries, WhatChanged

WIDTH = 760
LEFT, RIGHT, TOP = 46, 14, 30
PLOT_HEIGHT = 150
AXIS_HEIGHT = 34
LEGEND_ROW = 19
MARK_COLOUR = "#b71c1c"


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

    chart = Chart(width=WIDTH, height=height, title=title, font_size=11)

    totals = [sum(s.counts[i] for s in series) for i in range(n)]
    bottom = TOP + PLOT_HEIGHT
    y_of = Scale(top=nice_ceiling(max(totals, default=0)), bottom=bottom, height=PLOT_HEIGHT)
    chart.grid(y_of, (0, y_of.top / 2, y_of.top), left=LEFT, right=WIDTH - RIGHT)
    chart.axis_title(12, TOP + PLOT_HEIGHT / 2, f"requests per {changed.bucket}")

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
            tooltip = f"{s.label}: {count} request{'' if count == 1 else 's'} from {_when(changed.buckets[i])}"
            chart.bar(x + (right - x) * 0.1, y_top, width, max(y_of(stacked) - y_top, 0.5), s.colour, tooltip)
            stacked += count

    # x axis labels: about one every 64 px, the date under the first label of each day
    step = max(1, math.ceil(64 / max(slot, 1)))
    last_day = None
    for i in range(0, n, step):
        moment = changed.buckets[i].astimezone(UTC)
        x = x_of_bucket(i)
        top_line = f"{moment:%H:%M}" if changed.bucket == "hour" else f"{moment:%d}"
        day = f"{moment:%b %d}" if changed.bucket == "hour" else f"{moment:%b}"
        chart.tick(x, bottom, top_line)
        if day != last_day:
            chart.text(x, bottom + 28, day, fill="#777")
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
        chart.add(
            fmt(
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
        chart.add(
            fmt(
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
        chart.text(LEFT, legend_top + 12, "No requests in this window.", fill="#555")
    for k, s in enumerate(series):
        y = legend_top + k * LEGEND_ROW
        if s.is_new:
            since = fmt(
                '<tspan fill="{}" font-weight="bold">NEW — first seen {} UTC</tspan>', MARK_COLOUR, _when(s.first_seen)
            )
        elif s.first_seen is not None:
            since = fmt('<tspan fill="#666">in use since {} UTC</tspan>', _when(s.first_seen))
        else:
            since = ""
        label = fmt(
            '<tspan font-weight="bold">{}</tspan><tspan fill="#444"> · {} request{}</tspan>  {}',
            _short(s.label, 48),
            s.total,
            "" if s.total == 1 else "s",
            since,
        )
        chart.swatch(LEFT, y, s.colour, label, gap=18)
    return chart.render()
