import datetime
import zoneinfo

import pytest

from drills.quarters import previous_quarter_label, quarter_bounds, quarter_label

NY = zoneinfo.ZoneInfo("America/New_York")
UTC = datetime.UTC


def test_new_years_eve_in_new_york_is_still_q4_while_utc_is_already_next_year():
    moment = datetime.datetime(2026, 12, 31, 23, 30, tzinfo=NY)
    assert quarter_label(moment, "America/New_York") == "2026-Q4"
    assert quarter_label(moment, UTC) == "2027-Q1"


def test_bounds_are_local_midnights_and_contain_the_moment():
    moment = datetime.datetime(2026, 12, 31, 23, 30, tzinfo=NY)
    start, end = quarter_bounds(moment, NY)
    assert start == datetime.datetime(2026, 10, 1, tzinfo=NY)
    assert end == datetime.datetime(2027, 1, 1, tzinfo=NY)
    assert start <= moment < end
    # In UTC terms the New York quarter ends at 05:00 on 1 January.
    assert end.astimezone(UTC) == datetime.datetime(2027, 1, 1, 5, tzinfo=UTC)


def test_a_utc_moment_early_on_april_first_belongs_to_q1_in_los_angeles():
    moment = datetime.datetime(2026, 4, 1, 3, 0, tzinfo=UTC)
    assert quarter_label(moment, "UTC") == "2026-Q2"
    assert quarter_label(moment, "America/Los_Angeles") == "2026-Q1"
    start, end = quarter_bounds(moment, "Asia/Tokyo")
    assert (start.month, end.month) == (4, 7)


@pytest.mark.parametrize(
    ("month", "label"), [(1, "Q1"), (3, "Q1"), (4, "Q2"), (6, "Q2"), (7, "Q3"), (9, "Q3"), (10, "Q4"), (12, "Q4")]
)
def test_every_month_maps_to_its_quarter(month, label):
    assert quarter_label(datetime.datetime(2026, month, 15, 12, tzinfo=UTC), UTC) == f"2026-{label}"


def test_previous_quarter_wraps_the_year():
    assert previous_quarter_label("2027-Q1") == "2026-Q4"
    assert previous_quarter_label("2026-Q3") == "2026-Q2"
