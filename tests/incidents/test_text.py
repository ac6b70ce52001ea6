"""The one duration formatter, read through each place that shows a duration."""

from datetime import timedelta

import pytest

from command.formatting import format_duration as command_duration
from incidents.exports.summary import duration_text
from incidents.templatetags.fireline import duration
from incidents.text import CLOCK, SPELLED, SUMMARY, format_duration

H = 3600
D = 86400


@pytest.mark.parametrize(
    ("seconds", "clock", "summary", "spelled"),
    [
        (None, "—", "not yet", "–"),
        (0, "0m 00s", "0m", "0 s"),
        (45, "0m 45s", "0m", "45 s"),
        (12 * 60 + 30, "12m 30s", "12m", "12 min"),
        (4 * H + 5 * 60 + 59, "4h 05m", "4h 05m", "4 h 05 min"),
        (2 * D + 3 * H + 59 * 60, "2d 3h", "2d 3h", "2 d 3 h"),
        (-(2 * H + 5 * 60), "0m 00s", "0m", "-2 h 05 min"),
        (-30, "0m 00s", "0m", "-30 s"),
    ],
)
def test_each_place_keeps_its_own_reading_of_a_duration(seconds, clock, summary, spelled):
    delta = None if seconds is None else timedelta(seconds=seconds)
    assert duration(delta) == clock == format_duration(delta, CLOCK)
    assert duration_text(delta) == summary == format_duration(delta, SUMMARY)
    assert command_duration(delta) == spelled == format_duration(delta, SPELLED)


def test_the_incident_clock_is_the_default_style():
    assert format_duration(timedelta(minutes=61, seconds=1)) == "1h 01m"
