"""Who is on call when: rotations across DST, restrictions, layer precedence, overrides and gaps.

The expected instants are written out by hand from the time zone rules (Europe/Berlin moves to CEST on
2026-03-29 and back on 2026-10-25; America/New_York to EDT on 2026-03-08 and back on 2026-11-01).
"""

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from oncall.constants import RotationLength
from oncall.rotation import (
    LayerSpec,
    OverrideSpec,
    Restriction,
    ScheduleSpec,
    final_shifts,
    gaps,
    handoffs,
    layer_shifts,
    on_call_at,
    rotation_shifts,
)

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def layer(members, *, zone="Europe/Berlin", start=date(2026, 3, 2), handoff=time(9), length="weekly", interval=1,
          priority=1, restriction=None, layer_id=1, name="primary"):  # fmt: skip
    return LayerSpec(
        layer_id=layer_id,
        name=name,
        priority=priority,
        time_zone=zone,
        rotation_start=start,
        handoff_time=handoff,
        length=length,
        interval=interval,
        members=members,
        restriction=restriction,
    )


def schedule(*layers, overrides=()):
    return ScheduleSpec(1, "AI on-call", "Europe/Berlin", list(layers), list(overrides))


def test_weekly_handoff_stays_at_nine_local_across_the_berlin_spring_change():
    spec = schedule(layer([ALICE, BOB]))  # Mondays 09:00 Berlin, from Monday 2 March 2026
    shifts = final_shifts(spec, utc(2026, 3, 23), utc(2026, 4, 7))
    # Monday 23 March 09:00 CET is 08:00 UTC; Monday 30 March 09:00 CEST is 07:00 UTC.
    # weeks from 2 March: Alice, Bob, Alice (16-23), Bob (23-30), Alice (from 30 March) ...
    assert [(s.start, s.user_id) for s in shifts] == [
        (utc(2026, 3, 23), ALICE),
        (utc(2026, 3, 23, 8), BOB),
        (utc(2026, 3, 30, 7), ALICE),
        (utc(2026, 4, 6, 7), BOB),
    ]
    # the week that spans the change is an hour shorter
    assert shifts[1].end - shifts[1].start == timedelta(hours=167)
    assert on_call_at(spec, utc(2026, 3, 30, 6, 59)).user_id == BOB
    assert on_call_at(spec, utc(2026, 3, 30, 7, 0)).user_id == ALICE


def test_daily_handoff_in_new_york_across_the_autumn_change_is_a_25_hour_shift():
    spec = schedule(layer([ALICE, BOB, CAROL], zone="America/New_York", start=date(2026, 10, 30), length="daily"))
    shifts = final_shifts(spec, utc(2026, 10, 30, 13), utc(2026, 11, 3, 14))
    # 09:00 EDT is 13:00 UTC until Saturday 31 October; 09:00 EST is 14:00 UTC from Sunday 1 November.
    assert [(s.start, s.end, s.user_id) for s in shifts] == [
        (utc(2026, 10, 30, 13), utc(2026, 10, 31, 13), ALICE),
        (utc(2026, 10, 31, 13), utc(2026, 11, 1, 14), BOB),
        (utc(2026, 11, 1, 14), utc(2026, 11, 2, 14), CAROL),
        (utc(2026, 11, 2, 14), utc(2026, 11, 3, 14), ALICE),
    ]
    assert handoffs(shifts)[0] == (utc(2026, 10, 31, 13), ALICE, BOB)


def test_twelve_hour_custom_rotation_in_new_york_across_the_spring_change():
    spec = schedule(
        layer(
            [ALICE, BOB], zone="America/New_York", start=date(2026, 3, 6), handoff=time(8), length="custom", interval=12
        )  # fmt: skip
    )
    shifts = final_shifts(spec, utc(2026, 3, 7, 13), utc(2026, 3, 9, 12))
    # 08:00/20:00 local: 20:00 EST on 7 March is 01:00 UTC on the 8th, 08:00 EDT on the 8th is 12:00 UTC.
    assert [(s.start, s.user_id) for s in shifts] == [
        (utc(2026, 3, 7, 13), ALICE),
        (utc(2026, 3, 8, 1), BOB),
        (utc(2026, 3, 8, 12), ALICE),
        (utc(2026, 3, 9, 0), BOB),
    ]
    assert shifts[1].end - shifts[1].start == timedelta(hours=11)  # the night the clocks go forward


def test_weekly_handoff_in_berlin_across_the_autumn_change():
    spec = schedule(layer([ALICE, BOB], start=date(2026, 10, 19)))
    # Monday 19 Oct 09:00 CEST = 07:00 UTC; Monday 26 Oct 09:00 CET = 08:00 UTC: a 169-hour week
    shifts = final_shifts(spec, utc(2026, 10, 19), utc(2026, 10, 27))
    assert [(s.user_id, s.start, s.end) for s in shifts] == [
        (None, utc(2026, 10, 19), utc(2026, 10, 19, 7)),  # before the first handoff: no one
        (ALICE, utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)),
        (BOB, utc(2026, 10, 26, 8), utc(2026, 10, 27)),
    ]


def test_no_one_is_on_call_before_the_rotation_starts():
    spec = schedule(layer([ALICE], start=date(2026, 6, 1)))
    assert on_call_at(spec, utc(2026, 5, 31, 12)).is_gap
    assert on_call_at(spec, utc(2026, 6, 1, 7)).user_id == ALICE  # 09:00 CEST


def test_weekdays_nine_to_six_restriction():
    business = Restriction(weekdays=(0, 1, 2, 3, 4), start=time(9), end=time(18))
    spec = schedule(layer([ALICE, BOB], restriction=business))
    assert on_call_at(spec, utc(2026, 3, 3, 9)).user_id == ALICE  # Tuesday 3 March 10:00 CET
    assert on_call_at(spec, utc(2026, 3, 3, 16, 59)).user_id == ALICE  # 17:59
    assert on_call_at(spec, utc(2026, 3, 3, 17)).is_gap  # 18:00: closed
    assert on_call_at(spec, utc(2026, 3, 14, 11)).is_gap  # Saturday
    assert on_call_at(spec, utc(2026, 3, 9, 8)).user_id == BOB  # Monday 9 March 09:00: Bob's week
    # after the change to summer time the window is still 09:00-18:00 local
    assert on_call_at(spec, utc(2026, 3, 30, 7)).user_id == ALICE
    assert on_call_at(spec, utc(2026, 3, 30, 6, 59)).is_gap


def test_overnight_restriction_runs_into_the_next_morning():
    nights = Restriction(weekdays=(4,), start=time(22), end=time(6))  # Friday 22:00 to Saturday 06:00
    spec = schedule(layer([CAROL], zone="UTC", start=date(2026, 1, 1), restriction=nights))
    window = [s for s in final_shifts(spec, utc(2026, 3, 13), utc(2026, 3, 15)) if not s.is_gap]
    assert [(s.start, s.end, s.user_id) for s in window] == [(utc(2026, 3, 13, 22), utc(2026, 3, 14, 6), CAROL)]


def test_a_higher_layer_wins_where_it_has_someone_and_the_lower_one_shows_through_elsewhere():
    base = layer([ALICE, BOB], layer_id=1, name="24/7", priority=1)
    office = layer(
        [CAROL], layer_id=2, name="office hours", priority=2,
        restriction=Restriction(weekdays=(0, 1, 2, 3, 4), start=time(9), end=time(18)),
    )  # fmt: skip
    spec = schedule(base, office)
    assert on_call_at(spec, utc(2026, 3, 10, 10)).user_id == CAROL  # Tuesday 11:00 CET
    assert on_call_at(spec, utc(2026, 3, 10, 10)).source == "office hours"
    assert on_call_at(spec, utc(2026, 3, 10, 20)).user_id == BOB  # Tuesday 21:00: the 24/7 layer (Bob's week)
    assert on_call_at(spec, utc(2026, 3, 14, 10)).user_id == BOB  # Saturday
    # order in the spec does not matter, only the priority
    assert on_call_at(schedule(office, base), utc(2026, 3, 10, 10)).user_id == CAROL
    assert gaps(spec, utc(2026, 3, 9, 8), utc(2026, 3, 23, 8)) == []


def test_an_override_wins_over_every_layer_and_the_newest_wins_where_two_overlap():
    office = layer([CAROL], layer_id=2, priority=5)
    created = utc(2026, 3, 1)
    spec = schedule(
        layer([ALICE], layer_id=1),
        office,
        overrides=[
            OverrideSpec(10, DAVE, utc(2026, 3, 10, 12), utc(2026, 3, 11, 12), created),
            OverrideSpec(11, BOB, utc(2026, 3, 11, 0), utc(2026, 3, 11, 6), created + timedelta(hours=1)),
        ],
    )
    assert on_call_at(spec, utc(2026, 3, 10, 11)).user_id == CAROL
    assert on_call_at(spec, utc(2026, 3, 10, 12)).user_id == DAVE
    assert on_call_at(spec, utc(2026, 3, 11, 3)).user_id == BOB
    assert on_call_at(spec, utc(2026, 3, 11, 7)).user_id == DAVE
    assert on_call_at(spec, utc(2026, 3, 11, 12)).user_id == CAROL
    shifts = final_shifts(spec, utc(2026, 3, 10), utc(2026, 3, 12))
    assert [(s.user_id, s.source) for s in shifts] == [
        (CAROL, "primary"),
        (DAVE, "override"),
        (BOB, "override"),
        (DAVE, "override"),
        (CAROL, "primary"),
    ]


def test_gaps_are_the_hours_no_layer_covers():
    business = Restriction(weekdays=(0, 1, 2, 3, 4), start=time(9), end=time(18))
    spec = schedule(layer([ALICE], zone="UTC", start=date(2026, 1, 5), restriction=business))
    found = gaps(spec, utc(2026, 3, 13, 12), utc(2026, 3, 16, 12))  # Friday noon to Monday noon
    assert [(g.start, g.end) for g in found] == [(utc(2026, 3, 13, 18), utc(2026, 3, 16, 9))]
    # an override closes part of the gap
    spec.overrides.append(OverrideSpec(1, BOB, utc(2026, 3, 14), utc(2026, 3, 15), utc(2026, 3, 1)))
    found = gaps(spec, utc(2026, 3, 13, 12), utc(2026, 3, 16, 12))
    assert [(g.start, g.end) for g in found] == [
        (utc(2026, 3, 13, 18), utc(2026, 3, 14)),
        (utc(2026, 3, 15), utc(2026, 3, 16, 9)),
    ]


def test_a_layer_with_no_one_is_a_gap_everywhere():
    spec = schedule(layer([]))
    assert [(g.start, g.end) for g in gaps(spec, utc(2026, 3, 1), utc(2026, 3, 2))] == [
        (utc(2026, 3, 1), utc(2026, 3, 2))
    ]


def test_layer_shifts_keep_their_full_length_beyond_the_window():
    shifts = layer_shifts(layer([ALICE, BOB], zone="UTC", start=date(2026, 3, 2)), utc(2026, 3, 4), utc(2026, 3, 5))
    assert [(s.start, s.end, s.user_id) for s in shifts] == [(utc(2026, 3, 2, 9), utc(2026, 3, 9, 9), ALICE)]


def test_every_other_week():
    spec = schedule(layer([ALICE, BOB], zone="UTC", start=date(2026, 3, 2), interval=2, length=RotationLength.WEEKLY))
    assert on_call_at(spec, utc(2026, 3, 15, 12)).user_id == ALICE
    assert on_call_at(spec, utc(2026, 3, 16, 9)).user_id == BOB


@settings(max_examples=150, deadline=None)
@given(
    length=st.sampled_from(["daily", "weekly", "custom"]),
    interval=st.integers(min_value=1, max_value=13),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe"]),
    handoff=st.times(),
    offset_hours=st.integers(min_value=-200, max_value=24 * 800),
    span_hours=st.integers(min_value=1, max_value=24 * 40),
    people=st.integers(min_value=1, max_value=5),
)
def test_skipping_ahead_gives_the_same_handoffs_as_walking_from_the_start(
    length, interval, zone, handoff, offset_hours, span_hours, people
):
    spec = layer(list(range(1, people + 1)), zone=zone, start=date(2025, 1, 1), handoff=handoff.replace(
        microsecond=0), length=length, interval=interval)  # fmt: skip
    start = utc(2025, 1, 1) + timedelta(hours=offset_hours)
    end = start + timedelta(hours=span_hours)
    assert rotation_shifts(spec, start, end) == rotation_shifts(spec, start, end, skip_ahead=False)
