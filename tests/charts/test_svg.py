"""The shared SVG toolkit: every chart is a named image, escapes what it is given, and fetches nothing."""

import re

import pytest

from charts.svg import Chart, Scale, nice_ceiling
from command.charts import Series, bar_chart_svg
from drills.trends import QuarterRow, trends_svg


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (0.2, 1), (1, 1), (7, 10), (11, 20), (21, 25), (26, 50), (51, 100), (240, 250)]
)
def test_the_axis_ends_on_a_round_number_at_or_above_the_highest_value(value, ceiling):
    assert nice_ceiling(value) == ceiling


def test_the_scale_puts_zero_on_the_axis_and_the_top_at_the_top():
    y = Scale(top=50, bottom=200, height=150)
    assert (y(0), y(25), y(50)) == (200, 125, 50)


def test_a_chart_is_a_named_image_and_escapes_every_label():
    chart = Chart(width=300, height=100, title='Errors <by> "model"')
    chart.bar(10, 20, 30, 40, "#123456", "<script>alert(1)</script>")
    chart.text(5, 5, "a & b")
    chart.swatch(0, 80, "#654321", "</svg><img src=x>")
    svg = str(chart.render())
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="100"')
    assert 'role="img" aria-label="Errors &lt;by&gt; &quot;model&quot;"' in svg
    assert "<title>Errors &lt;by&gt; &quot;model&quot;</title>" in svg
    assert "<script>" not in svg and "<img" not in svg and svg.count("</svg>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg and "a &amp; b" in svg


def test_the_three_charts_are_self_contained_and_named_for_screen_readers():
    bars = bar_chart_svg(
        title="Incidents per quarter, by severity",
        categories=["2026-Q3", "2026-Q4"],
        series=[Series("SEV1", "#b71c1c", [1, 3]), Series("SEV2", "#e65100", [0, 2])],
        y_label="incidents",
    )
    trends = trends_svg({"Search": [QuarterRow("2026-Q3", score=60.0), QuarterRow("2026-Q4", score=85.0)]})
    for svg, name in ((bars, "Incidents per quarter, by severity"), (trends, "Drill score per quarter and team")):
        svg = str(svg)
        assert f'role="img" aria-label="{name}"' in svg and f"<title>{name}</title>" in svg
        # nothing to fetch: no script, no stylesheet link, no URL other than the SVG namespace
        assert not re.search(r"<script|<link|href=|url\(", svg)
        assert re.findall(r"https?://[^\"' ]+", svg) == ["http://www.w3.org/2000/svg"]
    assert "<title>2026-Q4 · SEV1: 3</title>" in str(bars) and ">5</text>" in str(bars)  # the stacked total
    assert "<title>Search 2026-Q4: 85.0</title>" in str(trends) and "<polyline" in str(trends)
