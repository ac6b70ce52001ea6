"""Every regulatory deadline Fireline shows is computed here, and only here.

Two halves:

1. The arithmetic (`compute_deadline`, `reminder_points`): how a count of hours, calendar days,
   business days or calendar months turns a clock start into a deadline.
2. The catalogue (`SEED_REGIMES`): the regimes Fireline ships with, each rule next to its legal
   source. The seed migration loads it into the Regime / DeadlineRule tables, where Legal can edit
   it; an obligation copies the computed deadline when it is created, so a later edit of a rule
   never moves a deadline that is already running.

How time is counted (the same for every rule; the rule's unit chooses which line applies):

- Everything is aware. The database holds UTC; the admin shows the reader's zone.
- HOURS are exact elapsed time: 72 hours are 72 × 3600 seconds in UTC, whatever a daylight-saving
  change does to the wall clock (72 h from Friday 10:00 CET before the last Sunday of March end
  on Monday 11:00 CEST). The Regulation on periods of time (EEC, Euratom) No 1182/71, Art. 3(1),
  would start an hour-period at the next full hour; we start it at the minute of awareness, which
  is never later than the law allows.
- CALENDAR DAYS and CALENDAR MONTHS land on the same local wall time in the rule's time zone (15
  days from 10:00 in Brussels is 10:00 in Brussels, 15 days later, even across a DST change), or
  at the rule's `due_local_time` when one is set. Regulation 1182/71 Art. 3(2)(b) would allow
  until the end of the last day; the same-wall-time reading is earlier and therefore safe.
- BUSINESS DAYS skip Saturdays, Sundays and the public holidays of the rule's country/subdivision
  (the `holidays` package, never a hand-written list). The day of the clock start is not counted.
  The deadline is `due_local_time` on the last business day (for the SEC: EDGAR's 17:30 Eastern
  filing cut-off), or the clock start's wall time when no cut-off is set.
- A "target" rule (GDPR Art. 34: "without undue delay") is not a legal deadline: the law sets no
  number. Fireline shows it as an internal target and says so everywhere it is shown.
"""

from __future__ import annotations

import calendar
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import holidays
from django.db import models


class Unit(models.TextChoices):
    HOURS = "hours", "hours (exact elapsed time)"
    CALENDAR_DAYS = "calendar_days", "calendar days (same local wall time)"
    BUSINESS_DAYS = "business_days", "business days (weekends and public holidays skipped)"
    CALENDAR_MONTHS = "calendar_months", "calendar months (same day and wall time)"


class ReportRecipient(models.TextChoices):
    """Who a regime's report goes to (`Regime.audience`): an authority or the data subjects.

    Not `incidents.constants.Audience`, which is who a communication is written for.
    """

    AUTHORITY = "authority", "Authority"
    DATA_SUBJECTS = "data_subjects", "Data subjects"


class ClockStart(models.TextChoices):
    AWARENESS = "awareness", "Awareness of the incident"
    MATERIALITY = "materiality", "Determination that the incident is material"
    DISCOVERY = "discovery", "Discovery of the incident"


class OpensOn(models.TextChoices):
    """When a report of a chain is owed: with the decision, or after something happens to an earlier one."""

    DECISION = "decision", "With the reportability decision"
    INCOMPLETE = "incomplete", "When an earlier report of the regime is sent incomplete (information to follow)"
    REQUEST = "request", "When the authority requests it"
    ONGOING = "ongoing", "When the report it follows is sent while the incident is still ongoing"
    AMENDMENT = "amendment", "When the organisation decides to amend a report it sent"


class ClockFrom(models.TextChoices):
    """What a rule's count runs from."""

    TRIGGER = "trigger", "The regime's trigger (awareness, discovery or materiality determination)"
    PREDECESSOR = "predecessor", "The submission of the report it follows"
    EVENT = "event", "An event recorded on the report itself (e.g. the information is determined)"
    REQUEST = "request", "The deadline the authority sets in its request"
    NONE = "none", "No deadline (a voluntary report)"


def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name or "UTC")


def _at_local(day: date, wall: time, zone: zoneinfo.ZoneInfo, fold: int = 0) -> datetime:
    # A wall time that does not exist (the hour skipped in spring) resolves forward, as zoneinfo does
    # with fold=0; one that exists twice (autumn) keeps the fold of the clock start.
    return datetime.combine(day, wall.replace(tzinfo=None), tzinfo=zone).replace(fold=fold).astimezone(UTC)


def add_business_days(start_day: date, count: int, *, country: str, subdivision: str = "") -> date:
    """The `count`-th business day after `start_day` (which itself is not counted)."""
    calendar_ = holidays.country_holidays(country, subdiv=subdivision or None)
    day, counted = start_day, 0
    while counted < count:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in calendar_:
            counted += 1
    return day


def add_months(day: date, count: int) -> date:
    """Same day of the month `count` months later; the 31st lands on the month's last day."""
    year, month = divmod(day.month - 1 + count, 12)
    year += day.year
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def compute_deadline(
    *,
    start: datetime,
    count: int,
    unit: str,
    time_zone: str = "UTC",
    holiday_country: str = "",
    holiday_subdivision: str = "",
    due_local_time: time | None = None,
) -> datetime:
    """The deadline, as an aware UTC datetime, of a rule counted from `start` (aware)."""
    if start.tzinfo is None:
        raise ValueError("A clock start must be an aware datetime.")
    start = start.astimezone(UTC)
    if unit == Unit.HOURS:
        # UTC arithmetic: an aware local datetime plus a timedelta would count wall-clock hours.
        return start + timedelta(hours=count)
    zone = _zone(time_zone)
    local = start.astimezone(zone)
    wall = due_local_time or local.time()
    if unit == Unit.CALENDAR_DAYS:
        day = local.date() + timedelta(days=count)
    elif unit == Unit.CALENDAR_MONTHS:
        day = add_months(local.date(), count)
    elif unit == Unit.BUSINESS_DAYS:
        if not holiday_country:
            raise ValueError("A business-day rule needs a holiday country.")
        day = add_business_days(local.date(), count, country=holiday_country, subdivision=holiday_subdivision)
    else:
        raise ValueError(f"Unknown unit {unit!r}.")
    return _at_local(day, wall, zone, fold=local.fold)


@dataclass(frozen=True)
class ReminderPoint:
    key: str  # stable name, part of the dedup key: "50%", "24h-before", "overdue"
    due_at: datetime
    label: str


def reminder_points(*, start: datetime, deadline: datetime, percentages=(), hours_before=()) -> list[ReminderPoint]:
    """When to remind, in time order: percentages of the window, hours before the deadline, overdue.

    A point at or before the clock start is dropped (24 hours before a 24-hour deadline says nothing
    new); the overdue point is always there.
    """
    window = deadline - start
    points = {}
    for percent in percentages:
        due = start + window * (float(percent) / 100)
        if start < due < deadline:
            points[f"{percent:g}%"] = ReminderPoint(f"{percent:g}%", due, f"{percent:g}% of the time has passed")
    for hours in hours_before:
        due = deadline - timedelta(hours=float(hours))
        if start < due < deadline:
            points[f"{hours:g}h-before"] = ReminderPoint(f"{hours:g}h-before", due, f"{hours:g} hours left")
    ordered = sorted(points.values(), key=lambda p: p.due_at)
    return ordered + [ReminderPoint("overdue", deadline, "the deadline has passed")]


# --- the catalogue: every seeded rule with its legal source ------------------------------------
#
# Each regime: code, name, citation, audience, what starts its clock, time zone for day counts,
# and its rules. A rule with is_variant=True applies only when the reportability decision picks it;
# replaces_default=True means it takes the place of the regime's standard rules (AI Act: the 2- and
# 10-day reports instead of the 15-day one). `after` names a rule whose submission starts this
# rule's clock (NIS2's final report counts from the notification, not from awareness).
#
# Reports come in chains. `opens_on` says when a follow-up becomes owed (an earlier report sent
# incomplete, the authority's request, an incident still ongoing, a voluntary amendment) and
# `clock_from` what its count runs from (the earlier report's submission, an event recorded later
# such as "the information is determined", the deadline in the authority's request, or nothing).

EU_ZONE = "Europe/Brussels"  # CET/CEST, the zone of the EU institutions; Berlin and Paris keep the same clock

SEED_REGIMES = [
    {
        "code": "eu-ai-act-73",
        "name": "EU AI Act: reporting of serious incidents",
        "citation": "Regulation (EU) 2024/1689 (AI Act), Art. 73",
        "clock_start": ClockStart.AWARENESS,
        "clock_start_note": "The provider (or deployer) becomes aware of the serious incident, or of a reasonable "
        "likelihood of a causal link between the AI system and it (Art. 73(2)).",
        "audience": ReportRecipient.AUTHORITY,
        "recipient": "Market surveillance authority of the Member State where the incident occurred",
        "time_zone": EU_ZONE,
        "rules": [
            {
                "code": "report",
                "name": "Serious incident report (15 days)",
                "citation": "AI Act Art. 73(2): immediately, and not later than 15 days after becoming aware",
                "count": 15,
                "unit": Unit.CALENDAR_DAYS,
            },
            {
                "code": "widespread",
                "name": "Widespread infringement or serious disruption of critical infrastructure (2 days)",
                "citation": "AI Act Art. 73(3) (with Art. 3(49)(b)): immediately, and not later than 2 days "
                "after becoming aware",
                "count": 2,
                "unit": Unit.CALENDAR_DAYS,
                "is_variant": True,
                "replaces_default": True,
                "condition": "A widespread infringement, or a serious and irreversible disruption of the "
                "management or operation of critical infrastructure.",
            },
            {
                "code": "death",
                "name": "Death of a person (10 days)",
                "citation": "AI Act Art. 73(4): immediately once a causal link is established or suspected, and "
                "not later than 10 days after becoming aware",
                "count": 10,
                "unit": Unit.CALENDAR_DAYS,
                "is_variant": True,
                "replaces_default": True,
                "condition": "The serious incident involves the death of a person.",
            },
            {
                "code": "complete-report",
                "name": "Complete report (after an incomplete initial report)",
                "citation": "AI Act Art. 73(5): where necessary to ensure timely reporting, an initial report that is "
                "incomplete may be submitted, followed by a complete report. The Act sets no number of days for the "
                "complete report; 15 days from the initial report is Fireline's internal target",
                "count": 15,
                "unit": Unit.CALENDAR_DAYS,
                "is_target": True,
                "opens_on": OpensOn.INCOMPLETE,
                "clock_from": ClockFrom.PREDECESSOR,
            },
        ],
    },
    {
        "code": "gdpr-33",
        "name": "GDPR: personal data breach notified to the supervisory authority",
        "citation": "Regulation (EU) 2016/679 (GDPR), Art. 33",
        "clock_start": ClockStart.AWARENESS,
        "clock_start_note": "The controller becomes aware of the personal data breach (Art. 33(1)).",
        "audience": ReportRecipient.AUTHORITY,
        "recipient": "Lead supervisory authority (Art. 55/56)",
        "time_zone": EU_ZONE,
        "rules": [
            {
                "code": "notification",
                "name": "Breach notification (72 hours)",
                "citation": "GDPR Art. 33(1): without undue delay and, where feasible, not later than 72 hours "
                "after having become aware; a later notification must give the reasons for the delay",
                "count": 72,
                "unit": Unit.HOURS,
            },
            {
                "code": "further-information",
                "name": "Further information (next phase)",
                "citation": "GDPR Art. 33(4): where, and in so far as, it is not possible to provide the information "
                "at the same time, it may be provided in phases without undue further delay. The law sets no number; "
                "7 days from the previous phase is Fireline's internal target",
                "count": 7,
                "unit": Unit.CALENDAR_DAYS,
                "is_target": True,
                "opens_on": OpensOn.INCOMPLETE,
                "clock_from": ClockFrom.PREDECESSOR,
            },
        ],
    },
    {
        "code": "gdpr-34",
        "name": "GDPR: personal data breach communicated to the data subjects",
        "citation": "Regulation (EU) 2016/679 (GDPR), Art. 34",
        "clock_start": ClockStart.AWARENESS,
        "clock_start_note": "Awareness of a breach likely to result in a high risk to the rights and freedoms of "
        "natural persons (Art. 34(1)). Not required in the cases of Art. 34(3): waive with that reason.",
        "audience": ReportRecipient.DATA_SUBJECTS,
        "recipient": "The affected data subjects",
        "time_zone": EU_ZONE,
        "rules": [
            {
                "code": "communication",
                "name": "Communication to data subjects (internal target: 72 hours)",
                "citation": "GDPR Art. 34(1): without undue delay. The law sets no number of hours; 72 hours is "
                "Fireline's internal target, aligned with Art. 33, not a legal deadline",
                "count": 72,
                "unit": Unit.HOURS,
                "is_target": True,
            },
        ],
    },
    {
        "code": "nis2-23",
        "name": "NIS2: significant incident reporting",
        "citation": "Directive (EU) 2022/2555 (NIS2), Art. 23",
        "clock_start": ClockStart.AWARENESS,
        "clock_start_note": "The entity becomes aware of the significant incident (Art. 23(4)(a), (b)); the "
        "final report counts from the submission of the incident notification (Art. 23(4)(d)).",
        "audience": ReportRecipient.AUTHORITY,
        "recipient": "The CSIRT or, where applicable, the competent authority",
        "time_zone": EU_ZONE,
        "rules": [
            {
                "code": "early-warning",
                "name": "Early warning (24 hours)",
                "citation": "NIS2 Art. 23(4)(a): without undue delay and in any event within 24 hours of becoming "
                "aware of the significant incident",
                "count": 24,
                "unit": Unit.HOURS,
                "reminder_percentages": [50],
                "reminder_hours_before": [4],
            },
            {
                "code": "notification",
                "name": "Incident notification (72 hours)",
                "citation": "NIS2 Art. 23(4)(b): without undue delay and in any event within 72 hours of becoming "
                "aware of the significant incident",
                "count": 72,
                "unit": Unit.HOURS,
            },
            {
                "code": "final-report",
                "name": "Final report (one month after the notification)",
                "citation": "NIS2 Art. 23(4)(d): not later than one month after the submission of the incident "
                "notification under point (b)",
                "count": 1,
                "unit": Unit.CALENDAR_MONTHS,
                "after": "notification",
                "clock_from": ClockFrom.PREDECESSOR,
            },
            {
                "code": "intermediate-report",
                "name": "Intermediate report (on request)",
                "citation": "NIS2 Art. 23(4)(c): upon the request of a CSIRT or, where relevant, the competent "
                "authority, an intermediate report on relevant status updates; due when the request says",
                "count": 0,
                "unit": Unit.HOURS,
                "opens_on": OpensOn.REQUEST,
                "clock_from": ClockFrom.REQUEST,
            },
            {
                "code": "final-report-after-handling",
                "name": "Final report (one month after the incident is handled)",
                "citation": "NIS2 Art. 23(4)(e): where the incident is still ongoing when the final report is due, a "
                "progress report is submitted at that time and a final report within one month of the handling of "
                "the incident",
                "count": 1,
                "unit": Unit.CALENDAR_MONTHS,
                "after": "final-report",
                "opens_on": OpensOn.ONGOING,
                "clock_from": ClockFrom.EVENT,
                "clock_event": "the handling of the incident",
            },
        ],
    },
    {
        "code": "sec-8k-105",
        "name": "SEC Form 8-K Item 1.05: material cybersecurity incident",
        "citation": "SEC Form 8-K, Item 1.05 and General Instruction B.1; 17 CFR 229.106",
        "clock_start": ClockStart.MATERIALITY,
        "clock_start_note": "The registrant determines that the cybersecurity incident is material (Item 1.05, "
        "Instruction 1: that determination must be made without unreasonable delay after discovery).",
        "audience": ReportRecipient.AUTHORITY,
        "recipient": "U.S. Securities and Exchange Commission (EDGAR)",
        "time_zone": "America/New_York",
        "rules": [
            {
                "code": "8k",
                "name": "Form 8-K filing (4 business days)",
                "citation": "Form 8-K General Instruction B.1 and Item 1.05: within four business days after the "
                "materiality determination; business days exclude Saturdays, Sundays and federal holidays "
                "(Exchange Act Rule 0-3); EDGAR treats a filing after 17:30 Eastern as filed the next business "
                "day (Regulation S-T Rule 13(a)(2))",
                "count": 4,
                "unit": Unit.BUSINESS_DAYS,
                "holiday_country": "US",
                "due_local_time": "17:30",
            },
            {
                "code": "8k-a",
                "name": "Form 8-K/A amendment (4 business days)",
                "citation": "Form 8-K Item 1.05, Instruction 2: information not determined or unavailable at the "
                "time of the filing is filed in an amendment within four business days after the registrant, "
                "without unreasonable delay, determines it or it becomes available",
                "count": 4,
                "unit": Unit.BUSINESS_DAYS,
                "holiday_country": "US",
                "due_local_time": "17:30",
                "opens_on": OpensOn.INCOMPLETE,
                "clock_from": ClockFrom.EVENT,
                "clock_event": "the information is determined or becomes available",
            },
        ],
    },
    {
        "code": "ca-sb53",
        "name": "California SB 53: critical safety incident",
        "citation": "California SB 53 (2025), Transparency in Frontier Artificial Intelligence Act, "
        "Bus. & Prof. Code § 22757.13",
        "clock_start": ClockStart.DISCOVERY,
        "clock_start_note": "The frontier developer discovers the critical safety incident (§ 22757.13(c)). The "
        "reporting duty applies to every frontier developer, not only to large frontier developers.",
        "audience": ReportRecipient.AUTHORITY,
        "recipient": "California Office of Emergency Services",
        "time_zone": "America/Los_Angeles",
        "rules": [
            {
                "code": "report",
                "name": "Critical safety incident report (15 days)",
                "citation": "SB 53, Bus. & Prof. Code § 22757.13(c)(1): a frontier developer reports a critical "
                "safety incident to the Office of Emergency Services within 15 days of discovering it",
                "count": 15,
                "unit": Unit.CALENDAR_DAYS,
            },
            {
                "code": "imminent-risk",
                "name": "Imminent risk of death or serious physical injury (24 hours)",
                "citation": "SB 53, Bus. & Prof. Code § 22757.13(c)(2): when the incident poses an imminent risk of "
                "death or serious physical injury, the frontier developer discloses it within 24 hours to an "
                "appropriate authority, such as a law enforcement or public safety agency with jurisdiction",
                "count": 24,
                "unit": Unit.HOURS,
                "is_variant": True,
                "replaces_default": False,
                "condition": "The incident poses an imminent risk of death or serious physical injury.",
                "recipient": "An appropriate authority, such as a law enforcement or public safety agency with "
                "jurisdiction",
                "reminder_percentages": [50],
                "reminder_hours_before": [4],
            },
            {
                "code": "amended-report",
                "name": "Amended report",
                "citation": "SB 53, Bus. & Prof. Code § 22757.13(c)(3): a frontier developer that discovers "
                "information about a critical safety incident after filing the initial report may file an amended "
                "report; the law sets no deadline",
                "count": 0,
                "unit": Unit.HOURS,
                "opens_on": OpensOn.AMENDMENT,
                "clock_from": ClockFrom.NONE,
            },
        ],
    },
]

DEFAULT_REMINDER_PERCENTAGES = [50, 80]
DEFAULT_REMINDER_HOURS_BEFORE = [24]

# The regimes proposed automatically for a privacy incident (personal data involved, or a data leak).
PRIVACY_REGIME_CODES = ["gdpr-33", "gdpr-34"]
