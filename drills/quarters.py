"""Calendar quarters in a team's time zone.

A drill belongs to the quarter of the facilitator's calendar, not of the server: 2026-12-31 23:30 in
New York is still Q4 2026 although UTC is already in Q1 2027.
"""

from __future__ import annotations

import datetime
import zoneinfo


def _zone(tz) -> datetime.tzinfo:
    if tz is None:
        return datetime.UTC
    if isinstance(tz, str):
        return zoneinfo.ZoneInfo(tz)
    return tz


def quarter_of(when: datetime.datetime, tz=None) -> tuple[int, int]:
    """(year, quarter 1-4) of the aware `when` as seen in `tz`."""
    local = when.astimezone(_zone(tz))
    return local.year, (local.month - 1) // 3 + 1


def quarter_bounds(when: datetime.datetime, tz=None) -> tuple[datetime.datetime, datetime.datetime]:
    """Aware (start, end) of the calendar quarter containing `when` in `tz`; end is the next quarter's start."""
    zone = _zone(tz)
    year, quarter = quarter_of(when, zone)
    start = datetime.datetime(year, 3 * quarter - 2, 1, tzinfo=zone)
    end = (
        datetime.datetime(year + 1, 1, 1, tzinfo=zone)
        if quarter == 4
        else datetime.datetime(year, 3 * quarter + 1, 1, tzinfo=zone)
    )
    return start, end


def quarter_label(when: datetime.datetime, tz=None) -> str:
    year, quarter = quarter_of(when, tz)
    return f"{year}-Q{quarter}"


def previous_quarter_label(label: str) -> str:
    year, quarter = int(label[:4]), int(label[-1])
    return f"{year - 1}-Q4" if quarter == 1 else f"{year}-Q{quarter - 1}"
