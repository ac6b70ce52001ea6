"""One small SVG toolkit for every chart: the frame, the value scale, grid, bars, lines, labels, legend.

Every chart is self-contained: no script, no stylesheet, no external resource, so the same markup
works in the admin and in a WeasyPrint PDF. Each one is an image with a name (role="img", an
aria-label and a <title>) for screen readers, and every bar or point carries a <title> tooltip.
Every text that reaches the markup is escaped (labels may come from the AI product or a user):
`fmt` is Django's format_html, and `join` escapes anything that is not already markup.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

FONT = "-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
GRID_COLOUR = "#e4e4e4"
AXIS_COLOUR = "#888"


def join(parts: Iterable) -> SafeString:
    """Concatenate markup: SafeStrings pass through, anything else is escaped."""
    return mark_safe("".join(conditional_escape(p) for p in parts))  # noqa: S308 - every part escaped


def fmt(template: str, *args) -> SafeString:
    """format_html with coordinates rounded to a tenth of a pixel."""
    return format_html(template, *(f"{a:.1f}" if isinstance(a, float) else a for a in args))


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above value: a round top for an axis."""
    value = math.ceil(value)
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return max(int(step * magnitude), 1)
    return value


@dataclass(frozen=True)
class Scale:
    """Values from 0 to `top` onto the plot's pixels, 0 at `bottom` (y grows downwards in SVG)."""

    top: float
    bottom: float
    height: float

    def __call__(self, value: float) -> float:
        return self.bottom - value / self.top * self.height


class Chart:
    """An SVG image drawn part by part; `render()` closes it. Coordinates are pixels, top left is 0, 0."""

    def __init__(self, *, width: int, height: float, title: str, font_size: int = 12):
        self.width, self.height = width, height
        self.parts: list = [
            fmt(
                '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
                'aria-label="{}" font-family="{}" font-size="{}" style="max-width:100%;height:auto">',
                width,
                height,
                width,
                height,
                title,
                FONT,
                font_size,
            ),
            fmt("<title>{}</title>", title),
            fmt('<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>', width, height),
        ]

    def add(self, markup: SafeString) -> None:
        """A part the toolkit has no name for (built with `fmt`, so escaped)."""
        self.parts.append(markup)

    def heading(self, x: float, text: str) -> None:
        self.add(fmt('<text x="{}" y="18" font-size="14" font-weight="bold" fill="#222">{}</text>', x, text))

    def text(
        self,
        x: float,
        y: float,
        text,
        *,
        fill: str = "#333",
        anchor: str = "",
        size: int | None = None,
        bold: bool = False,
    ) -> None:
        attributes = fmt('x="{}" y="{}"', x, y)
        if anchor:
            attributes = fmt('{} text-anchor="{}"', attributes, anchor)
        attributes = fmt('{} fill="{}"', attributes, fill)
        if size:
            attributes = fmt('{} font-size="{}"', attributes, size)
        if bold:
            attributes = fmt('{} font-weight="bold"', attributes)
        self.add(fmt("<text {}>{}</text>", attributes, text))

    def grid(self, scale: Scale, values: Sequence[float], *, left: float, right: float, label=None) -> None:
        """A horizontal line and a label at the left for each value; the line at 0 is the axis."""
        for value in values:
            y = scale(value)
            self.add(
                fmt(
                    '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
                    '<text x="{}" y="{}" text-anchor="end" fill="#555">{}</text>',
                    left,
                    y,
                    right,
                    y,
                    AXIS_COLOUR if value == 0 else GRID_COLOUR,
                    left - 6,
                    y + 4,
                    label(value) if label else f"{value:g}",
                )
            )

    def axis_title(self, x: float, y_middle: float, text: str) -> None:
        """The y axis' name, written upwards along it."""
        self.add(
            fmt(
                '<text transform="translate({} {}) rotate(-90)" text-anchor="middle" fill="#555">{}</text>',
                x,
                y_middle,
                text,
            )
        )

    def tick(self, x: float, y: float, label: str) -> None:
        """A tick under the x axis with its label."""
        self.add(
            fmt(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/><text x="{}" y="{}" fill="#333">{}</text>',
                x,
                y,
                x,
                y + 4,
                AXIS_COLOUR,
                x,
                y + 15,
                label,
            )
        )

    def bar(self, x: float, y_top: float, width: float, height: float, colour: str, tooltip: str) -> None:
        self.add(
            fmt(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
                x,
                y_top,
                width,
                height,
                colour,
                tooltip,
            )
        )

    def line(self, points: Sequence[tuple[float, float]], colour: str) -> None:
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            self.add(fmt('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>', path, colour))

    def point(self, x: float, y: float, colour: str, tooltip: str) -> None:
        self.add(fmt('<circle cx="{}" cy="{}" r="4" fill="{}"><title>{}</title></circle>', x, y, colour, tooltip))

    def swatch(self, x: float, y: float, colour: str, label, *, gap: float = 16) -> None:
        """A legend entry: a square of the colour, then the label (text or markup) `gap` pixels on."""
        self.add(
            fmt(
                '<rect x="{}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}" fill="#222">{}</text>',
                x,
                y,
                colour,
                x + gap,
                y + 10,
                label,
            )
        )

    def render(self) -> SafeString:
        return join([*self.parts, mark_safe("</svg>")])  # noqa: S308 - a constant
