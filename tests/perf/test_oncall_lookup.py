"""Benchmark (issue 21): "who is on call" for 50 schedules over a year, and right now, against a floor.

Each schedule has a weekly 24/7 layer of five people that started a year ago, a daily office-hours layer
(weekdays 09:00-18:00, Europe/Berlin) on top, and 24 active overrides spread over the year. Measured:
loading the 50 schedules (five queries) and computing every shift, gap and override of the coming year;
and who is on call at one instant in each (the command centre's card).

The floor, measured in the same run and interleaved round by round: dateutil's rrule alone expanding
the same layers' handoffs over the same year (the recurrence with no restriction, precedence, override
or database). The ratio says what the schedule logic costs on top of the library it is built on.

Run by `make bench` (pytest tests/perf -m perf -s); on SQLite by default, PostgreSQL with DATABASE_URL.
Benchmarks report; the one assertion is that every schedule has someone on call somewhere.
"""

import statistics
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

import pytest
from dateutil.rrule import DAILY, WEEKLY, rrule
from django.db import connection

from oncall.constants import OverrideState
from oncall.models import Layer, LayerMember, Override, Schedule
from oncall.rotation import final_shifts, on_call_at
from oncall.selectors import schedule_specs
from tests.factories import UserFactory

SCHEDULES = 50
ROUNDS = 15
START = datetime(2026, 1, 5, tzinfo=UTC)
YEAR = timedelta(days=365)


def _fill(users) -> None:
    for n in range(SCHEDULES):
        schedule = Schedule.objects.create(name=f"Bench schedule {n}", time_zone="Europe/Berlin")
        weekly = Layer.objects.create(
            schedule=schedule, name="24/7", priority=1, time_zone="Europe/Berlin",
            rotation_start=date(2025, 1, 6), handoff_time=clock(9), length="weekly",
        )  # fmt: skip
        office = Layer.objects.create(
            schedule=schedule, name="office hours", priority=2, time_zone="Europe/Berlin",
            rotation_start=date(2025, 1, 6), handoff_time=clock(9), length="daily",
            restrict_weekdays=[0, 1, 2, 3, 4], restrict_start=clock(9), restrict_end=clock(18),
        )  # fmt: skip
        LayerMember.objects.bulk_create(
            [LayerMember(layer=weekly, user=users[(n + i) % len(users)], position=i) for i in range(5)]
            + [LayerMember(layer=office, user=users[(n + 5 + i) % len(users)], position=i) for i in range(3)]
        )
        Override.objects.bulk_create(
            Override(
                schedule=schedule,
                user=users[(n + k) % len(users)],
                starts_at=START + timedelta(days=15 * k, hours=n % 24),
                ends_at=START + timedelta(days=15 * k, hours=n % 24 + 10),
                reason="bench",
                state=OverrideState.ACTIVE,
            )  # fmt: skip
            for k in range(24)
        )


def _floor() -> int:
    """The same layers' handoffs over the same year, straight from rrule: no database, no rules on top."""
    first, last = datetime.combine(date(2026, 1, 5), clock(9)), datetime.combine(date(2027, 1, 5), clock(9))
    return sum(len(list(rrule(freq, dtstart=first, until=last))) for _ in range(SCHEDULES) for freq in (WEEKLY, DAILY))


def _year() -> list:
    specs = schedule_specs(start=START, end=START + YEAR)
    return [final_shifts(spec, START, START + YEAR) for spec in specs]


def _now() -> list:
    at = START + timedelta(days=200, hours=13)
    specs = schedule_specs(start=at, end=at + timedelta(seconds=1))
    return [on_call_at(spec, at) for spec in specs]


def _ms(func) -> tuple[float, object]:
    started = time.perf_counter()
    result = func()
    return (time.perf_counter() - started) * 1000, result


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):7.2f} ms   min {min(values):7.2f} ms   max {max(values):7.2f} ms"


@pytest.mark.perf
@pytest.mark.django_db
def test_who_is_on_call_for_fifty_schedules_over_a_year():
    users = [UserFactory(username=f"bench-oncall-{i}") for i in range(12)]
    _fill(users)
    _year(), _now(), _floor()  # warm: imports, zoneinfo caches, the database's pages
    floor, year, now = [], [], []
    for _ in range(ROUNDS):  # interleaved: a noisy neighbour slows all three alike
        floor.append(_ms(_floor)[0])
        ms, timelines = _ms(_year)
        year.append(ms)
        now.append(_ms(_now)[0])
    assert len(timelines) == SCHEDULES and all(any(not s.is_gap for s in t) for t in timelines)
    shifts = sum(len(t) for t in timelines)
    ratio = statistics.median(year) / statistics.median(floor)
    print(
        f"\n== Who is on call: {SCHEDULES} schedules x 2 layers + 24 overrides each, {connection.vendor} ==\n"
        f"   a year of shifts ({shifts:,} pieces) : {_summary(year)}\n"
        f"   on call at one instant         : {_summary(now)}\n"
        f"   floor (bare rrule, same layers) : {_summary(floor)}\n"
        f"   ratio year / floor             : x{ratio:.1f}\n"
        f"   target 50 ms for the year: {'met' if statistics.median(year) < 50 else 'NOT met'}; "
        f"for one instant: {'met' if statistics.median(now) < 50 else 'NOT met'}\n"
    )
