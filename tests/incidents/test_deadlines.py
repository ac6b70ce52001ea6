"""Deadlines for every seeded rule: hours, calendar days, business days, months; DST and holidays."""

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest

from incidents import deadlines
from incidents.deadlines import Unit, compute_deadline, reminder_points
from incidents.models import DeadlineRule

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
LOS_ANGELES = zoneinfo.ZoneInfo("America/Los_Angeles")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# (regime code, rule code): (clock start, expected deadline, why) — one line per seeded rule.
EXPECTED = {
    # 15 calendar days across the EU change to summer time (Sunday 29 March 2026): same Brussels wall
    # time, 11:00 CET -> 11:00 CEST, so one hour less than 15 × 24 h has elapsed.
    ("eu-ai-act-73", "report"): (utc(2026, 3, 20, 10, 0), utc(2026, 4, 4, 9, 0)),
    # 2 days from Saturday 10:00 CET: Monday 10:00 CEST (47 elapsed hours).
    ("eu-ai-act-73", "widespread"): (utc(2026, 3, 28, 9, 0), utc(2026, 3, 30, 8, 0)),
    ("eu-ai-act-73", "death"): (utc(2026, 6, 1, 12, 0), utc(2026, 6, 11, 12, 0)),
    # 72 exact hours across the same DST change.
    ("gdpr-33", "notification"): (utc(2026, 3, 27, 9, 0), utc(2026, 3, 30, 9, 0)),
    ("gdpr-34", "communication"): (utc(2026, 3, 27, 9, 0), utc(2026, 3, 30, 9, 0)),
    ("nis2-23", "early-warning"): (utc(2026, 5, 4, 22, 30), utc(2026, 5, 5, 22, 30)),
    ("nis2-23", "notification"): (utc(2026, 5, 4, 22, 30), utc(2026, 5, 7, 22, 30)),
    # One month from the notification submitted 31 January 16:00 CET: the last day of February.
    ("nis2-23", "final-report"): (utc(2026, 1, 31, 15, 0), utc(2026, 2, 28, 15, 0)),
    # Wednesday before Thanksgiving 2026, 14:00 ET: Thu 26 is a federal holiday, Sat/Sun skipped, so
    # Fri 27, Mon 30, Tue 1, Wed 2 December; due 17:30 ET (EDGAR cut-off) = 22:30 UTC.
    ("sec-8k-105", "8k"): (utc(2026, 11, 25, 19, 0), utc(2026, 12, 2, 22, 30)),
    # 15 days across the US return to standard time (1 November 2026): 09:00 PDT -> 09:00 PST.
    ("ca-sb53", "report"): (utc(2026, 10, 25, 16, 0), utc(2026, 11, 9, 17, 0)),
    ("ca-sb53", "imminent-risk"): (utc(2026, 10, 31, 16, 0), utc(2026, 11, 1, 16, 0)),
    # Follow-ups of report chains, each from its own start (see tests/incidents/services/test_regulatory_chains.py).
    # AI Act Art. 73(5): internal target 15 days after an incomplete initial report (10:00 CEST -> 10:00 CEST).
    ("eu-ai-act-73", "complete-report"): (utc(2026, 4, 1, 8, 0), utc(2026, 4, 16, 8, 0)),
    # GDPR Art. 33(4): next phase, internal target 7 days, across the spring change (10:00 CET -> 10:00 CEST).
    ("gdpr-33", "further-information"): (utc(2026, 3, 27, 9, 0), utc(2026, 4, 3, 8, 0)),
    # NIS2 Art. 23(4)(e): one month after the incident is handled; 31 May lands on 30 June.
    ("nis2-23", "final-report-after-handling"): (utc(2026, 5, 31, 10, 0), utc(2026, 6, 30, 10, 0)),
    # Form 8-K Item 1.05 Instruction 2: 4 business days after the information is determined, Thursday 2
    # July 2026 10:00 EDT; Friday 3 July is Independence Day observed: Mon 6, Tue 7, Wed 8, Thu 9, 17:30 EDT.
    ("sec-8k-105", "8k-a"): (utc(2026, 7, 2, 14, 0), utc(2026, 7, 9, 21, 30)),
}
# Rules with no count of their own: NIS2 Art. 23(4)(c) is due when the authority's request says; an SB 53
# amended report (§ 22757.13(c)(3)) is voluntary.
NO_COUNT = {("nis2-23", "intermediate-report"), ("ca-sb53", "amended-report")}


@pytest.mark.django_db
def test_every_seeded_rule_has_an_expected_deadline_and_a_citation():
    seeded = {(r.regime.code, r.code) for r in DeadlineRule.objects.select_related("regime")}
    assert seeded == set(EXPECTED) | NO_COUNT
    for regime_code, rule_code in NO_COUNT:
        rule = DeadlineRule.objects.get(regime__code=regime_code, code=rule_code)
        assert rule.clock_from in ("request", "none") and rule.opens_on != "decision"
    assert {code for code, _ in seeded} == {r["code"] for r in deadlines.SEED_REGIMES}
    for rule in DeadlineRule.objects.select_related("regime"):
        assert "Art." in rule.citation or "§" in rule.citation or "Item 1.05" in rule.citation, rule


@pytest.mark.django_db
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_seeded_rule_deadline(key):
    rule = DeadlineRule.objects.select_related("regime").get(regime__code=key[0], code=key[1])
    start, expected = EXPECTED[key]
    deadline = rule.deadline_from(start)
    assert deadline == expected
    assert deadline.tzinfo is not None and deadline.utcoffset() == timedelta(0)


def test_seventy_two_hours_across_the_european_spring_change_are_exact_and_shown_in_local_time():
    aware = datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN)  # Friday, CET (+01:00)
    deadline = compute_deadline(start=aware, count=72, unit=Unit.HOURS)
    assert deadline - aware == timedelta(hours=72)
    assert deadline == utc(2026, 3, 30, 9, 0)  # stored in UTC
    local = deadline.astimezone(BERLIN)
    assert (local.hour, local.minute, local.tzname()) == (11, 0, "CEST")  # shown as 11:00 local, not 10:00


def test_calendar_days_keep_the_local_wall_time_across_the_change():
    aware = datetime(2026, 3, 28, 10, 0, tzinfo=BERLIN)
    deadline = compute_deadline(start=aware, count=2, unit=Unit.CALENDAR_DAYS, time_zone="Europe/Berlin")
    assert deadline.astimezone(BERLIN).isoformat() == "2026-03-30T10:00:00+02:00"
    assert deadline - aware == timedelta(hours=47)


def test_business_days_skip_a_weekend():
    # Friday 6 March 2026, 09:00 ET: Mon 9, Tue 10, Wed 11, Thu 12 (and the US changes to EDT on the 8th).
    start = datetime(2026, 3, 6, 9, 0, tzinfo=NEW_YORK)
    deadline = compute_deadline(
        start=start,
        count=4,
        unit=Unit.BUSINESS_DAYS,
        time_zone="America/New_York",
        holiday_country="US",
        due_local_time=time(17, 30),
    )
    assert deadline.astimezone(NEW_YORK).isoformat() == "2026-03-12T17:30:00-04:00"
    assert deadline == utc(2026, 3, 12, 21, 30)


def test_business_days_skip_a_public_holiday_and_the_weekend_after_it():
    start = datetime(2026, 11, 25, 14, 0, tzinfo=NEW_YORK)  # Wednesday before Thanksgiving
    deadline = compute_deadline(
        start=start, count=4, unit=Unit.BUSINESS_DAYS, time_zone="America/New_York", holiday_country="US"
    )
    # Without a cut-off the deadline keeps the determination's wall time.
    assert deadline.astimezone(NEW_YORK).isoformat() == "2026-12-02T14:00:00-05:00"
    assert deadlines.add_business_days(start.date(), 1, country="US") == date(2026, 11, 27)


def test_business_days_use_the_subdivision_calendar():
    # Good Friday (3 April 2026) is a holiday everywhere in Germany; 6 April Easter Monday too.
    start = datetime(2026, 4, 2, 10, 0, tzinfo=BERLIN)
    day = deadlines.add_business_days(start.date(), 1, country="DE", subdivision="BE")
    assert day == date(2026, 4, 7)


def test_a_naive_clock_start_is_refused():
    with pytest.raises(ValueError, match="aware"):
        compute_deadline(start=datetime(2026, 1, 1, 12, 0), count=72, unit=Unit.HOURS)  # noqa: DTZ001


def test_business_days_need_a_calendar():
    with pytest.raises(ValueError, match="holiday country"):
        compute_deadline(start=utc(2026, 1, 1), count=4, unit=Unit.BUSINESS_DAYS)


def test_reminder_points_in_time_order_with_overdue_last():
    start = utc(2026, 5, 1, 0, 0)
    points = reminder_points(start=start, deadline=start + timedelta(hours=72), percentages=[50, 80], hours_before=[24])
    assert [(p.key, p.due_at - start) for p in points] == [
        ("50%", timedelta(hours=36)),
        ("24h-before", timedelta(hours=48)),
        ("80%", timedelta(hours=57.6)),
        ("overdue", timedelta(hours=72)),
    ]


def test_a_reminder_at_or_before_the_clock_start_is_dropped():
    start = utc(2026, 5, 1, 0, 0)
    points = reminder_points(start=start, deadline=start + timedelta(hours=24), percentages=[50], hours_before=[24])
    assert [p.key for p in points] == ["50%", "overdue"]
