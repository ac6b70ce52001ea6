"""The command centre's reads: what needs a person now, with the visibility rules applied.

Every section is one query (lists are capped, totals counted in the database), so the page runs the
same number of queries with ten incidents or ten thousand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from incidents.constants import OPEN_STATES, IncidentState, NotificationState, PageState, Severity
from incidents.models import (
    ActionItem,
    Alert,
    AlertState,
    Incident,
    Notification,
    ObligationState,
    Page,
    RegulatoryObligation,
    ReportState,
    UserReport,
)
from incidents.paging_gaps import paging_gap_list
from incidents.selectors import user_sees_all_restricted, visible_incidents
from incidents.services.flags import switch_disagreements

from .formatting import format_duration
from .models import QualityMonitor

OPEN_LIST_LIMIT = 25
SIDE_LIST_LIMIT = 10
# A failed notification older than this has been dealt with or is not going to be.
FAILED_NOTIFICATION_DAYS = 7
# Regulatory deadlines this close are shown with the overdue ones.
DEADLINE_SOON = timedelta(hours=24)

# Most urgent first: SEV1, then what is not triaged yet (no severity, or still in Detected), then the rest.
SEVERITY_RANK = Case(
    When(severity=Severity.SEV1, then=Value(0)),
    When(severity="", then=Value(1)),
    When(state=IncidentState.DETECTED, then=Value(1)),
    When(severity=Severity.SEV2, then=Value(2)),
    When(severity=Severity.SEV3, then=Value(3)),
    default=Value(4),
    output_field=IntegerField(),
)

# Drill states after the exercise (the strings of drills.constants.DrillState, kept here so the
# command centre does not import the drills app to read its own page).
ENDED_DRILL_STATES = ["debrief", "completed", "cancelled"]


def incident_filter_for(user, prefix: str = "incident") -> Q:
    """Rows of a model with an incident foreign key that the user may see.

    The rule of incidents.selectors.incident_visibility_q, written through the foreign key, so the
    database starts from the (usually few) rows of the related table instead of every visible incident.
    """
    if user_sees_all_restricted(user):
        return Q()
    if user is None or not user.is_authenticated:
        return Q(**{f"{prefix}__is_restricted": False})
    membership = Incident.members.through.objects.filter(incident_id=OuterRef(f"{prefix}_id"), user_id=user.pk)
    return Q(**{f"{prefix}__is_restricted": False}) | Q(**{f"{prefix}__commander_id": user.pk}) | Q(Exists(membership))


def _or_no_incident(visible: Q) -> Q:
    # An empty Q means "everything": OR-ing it with another Q would narrow it to that Q.
    return visible if not visible else Q(incident__isnull=True) | visible


@dataclass
class CommandCentre:
    now: datetime
    severity_counts: dict[str, int]
    open_total: int
    open_incidents: list[Incident]
    drill_incidents: list[Incident]
    obligations: list[RegulatoryObligation]
    obligations_overdue: int
    action_items: list[ActionItem]
    action_items_overdue: int
    failed_notifications: list[Notification]
    failed_notifications_total: int
    pages: list[Page]
    pages_total: int
    pages_overdue: int
    alert_inbox: int
    report_inbox: int
    firing_monitors: list[QualityMonitor]
    upcoming_drills: list = field(default_factory=list)
    drills_available: bool = False
    switch_warnings: list = field(default_factory=list)
    # open real incidents still in Detected, whatever severity they were declared with: nobody has
    # triaged them yet (the untriaged tile, and the changelist it links to)
    untriaged: int = 0
    # severities whose escalation policy cannot page everyone it names (a fresh install: no one at all)
    paging_gaps: list = field(default_factory=list)


def _open_real(user) -> QuerySet[Incident]:
    return visible_incidents(user=user).open().real()


def _upcoming_drills(user) -> tuple[list, bool]:
    try:
        from drills.selectors import upcoming_drills
    except ImportError:  # the drills app not there yet: the section says so
        return [], False
    return list(upcoming_drills(user, limit=5)), True


def counts_in_one_query(querysets: dict[str, QuerySet]) -> dict[str, int]:
    """COUNT(*) of several querysets in one round trip: SELECT (SELECT COUNT(*) FROM (...)), ..."""
    parts, params = [], []
    for i, qs in enumerate(querysets.values()):
        sql, qs_params = qs.order_by().values("pk").query.sql_with_params()
        # sql is the ORM's own compiled query; every value in it is a bound parameter
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted_{i})")  # noqa: S608
        params.extend(qs_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return dict(zip(querysets, row, strict=True))


def command_centre_get(*, user, now: datetime | None = None) -> CommandCentre:
    now = now or timezone.now()
    open_real = _open_real(user)
    visible = incident_filter_for(user)
    obligations_qs = RegulatoryObligation.objects.filter(
        visible, state=ObligationState.OPEN, incident__is_drill=False, deadline__isnull=False
    )
    overdue_items = ActionItem.objects.overdue(timezone.localdate(now)).filter(visible)
    failed = Notification.objects.filter(
        _or_no_incident(visible),
        state=NotificationState.FAILED,
        created_at__gte=now - timedelta(days=FAILED_NOTIFICATION_DAYS),
    )
    waiting = Page.objects.filter(
        visible, state__in=[PageState.PENDING, PageState.SENT, PageState.FAILED], incident__state__in=OPEN_STATES
    )
    counts = counts_in_one_query(
        {
            **{f"severity:{value}": open_real.filter(severity=value) for value in [*Severity.values, ""]},
            "untriaged": open_real.filter(state=IncidentState.DETECTED),
            "obligations_overdue": obligations_qs.filter(deadline__lte=now),
            "action_items_overdue": overdue_items,
            "failed": failed,
            "pages": waiting,
            "pages_overdue": waiting.filter(ack_due_at__lte=now),
            "alert_inbox": Alert.objects.filter(state=AlertState.INBOX),
            "report_inbox": UserReport.objects.filter(state=ReportState.INBOX),
        }
    )
    severity_counts = {
        value: counts[f"severity:{value}"] for value in [*Severity.values, ""] if counts[f"severity:{value}"]
    }
    open_incidents = list(
        open_real.select_related("feature", "commander")
        .annotate(rank=SEVERITY_RANK)
        .order_by("rank", "detected_at", "pk")[:OPEN_LIST_LIMIT]
    )
    drill_incidents = list(
        visible_incidents(user=user)
        .open()
        .filter(is_drill=True)
        # an exercise that has ended leaves its incident where it stopped; it is not running any more
        .exclude(drill__state__in=ENDED_DRILL_STATES)
        .select_related("feature", "commander")
        .order_by("detected_at", "pk")[:SIDE_LIST_LIMIT]
    )
    obligations = list(
        obligations_qs.filter(deadline__lte=now + DEADLINE_SOON)
        .select_related("incident", "rule__regime")
        .order_by("deadline", "pk")[:SIDE_LIST_LIMIT]
    )
    action_items = list(overdue_items.select_related("incident", "owner").order_by("due_date", "pk")[:SIDE_LIST_LIMIT])
    failed_notifications = list(
        failed.select_related("incident", "contact").order_by("-created_at", "-pk")[:SIDE_LIST_LIMIT]
    )
    pages = list(waiting.select_related("incident", "contact").order_by("ack_due_at", "pk")[:SIDE_LIST_LIMIT])
    firing = list(
        QualityMonitor.objects.filter(is_enabled=True, is_firing=True).select_related("feature")[:SIDE_LIST_LIMIT]
    )
    drills, drills_available = _upcoming_drills(user)
    # the ledger against the switch the product reads, for every open incident the user sees (drills too)
    switch_warnings = switch_disagreements(visible_incidents(user=user).open())
    for incident in open_incidents + drill_incidents:
        incident.clock_open = format_duration(now - incident.detected_at)
        incident.clock_contain = (
            format_duration(incident.contained_at - incident.detected_at) if incident.contained_at else None
        )
    for monitor in firing:
        monitor.value_text = monitor.format_value(monitor.last_value)
        monitor.threshold_text = monitor.format_value(monitor.threshold)
    for obligation in obligations:
        obligation.overdue = obligation.deadline <= now
        obligation.left = obligation.deadline - now
    for page in pages:
        page.overdue = page.ack_due_at <= now
    return CommandCentre(
        now=now,
        severity_counts=severity_counts,
        open_total=sum(severity_counts.values()),
        open_incidents=open_incidents,
        drill_incidents=drill_incidents,
        obligations=obligations,
        obligations_overdue=counts["obligations_overdue"],
        action_items=action_items,
        action_items_overdue=counts["action_items_overdue"],
        failed_notifications=failed_notifications,
        failed_notifications_total=counts["failed"],
        pages=pages,
        pages_total=counts["pages"],
        pages_overdue=counts["pages_overdue"],
        alert_inbox=counts["alert_inbox"],
        report_inbox=counts["report_inbox"],
        firing_monitors=firing,
        upcoming_drills=drills,
        drills_available=drills_available,
        switch_warnings=switch_warnings,
        untriaged=counts["untriaged"],
        paging_gaps=paging_gap_list(),
    )
