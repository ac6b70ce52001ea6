"""The beat task's regulatory sweeps: GDPR proposals for privacy incidents, and the reminder points
that are due, each sent once through the outbox to Legal's tier-1 contacts and the commander.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from incidents import deadlines
from incidents.constants import OPEN_STATES, Category, ContactState, StakeholderRole, TimelineKind
from incidents.models import (
    Incident,
    ObligationState,
    RegulatoryObligation,
    RegulatoryReminder,
    StakeholderContact,
)

from ..notifications import reminder_point_send
from ..workflow import timeline_add
from .clocks import utc_text
from .decisions import reportability_propose_for_privacy


def privacy_proposals_due(*, limit: int = 200) -> int:
    """Propose GDPR for open, real privacy incidents that have no GDPR decision yet."""
    candidates = (
        Incident.objects.real()
        .filter(state__in=OPEN_STATES)
        .filter(Q(involves_privacy=True) | Q(category=Category.DATA_LEAK))
        .exclude(reportability__regimes__code__in=deadlines.PRIVACY_REGIME_CODES)
        .values_list("pk", flat=True)[:limit]
    )
    return sum(reportability_propose_for_privacy(incident_id=pk) is not None for pk in list(candidates))


def _recipients(incident: Incident) -> list[tuple[str, str, StakeholderContact | None, str]]:
    """(channel, address, contact, key) for Legal's tier-1 contacts and the commander."""
    live = StakeholderContact.objects.exclude(state=ContactState.RETIRED)
    contacts = list(live.filter(role=StakeholderRole.LEGAL, escalation_tier=1).order_by("pk"))
    commander_contacts = (
        list(live.filter(user_id=incident.commander_id).order_by("pk")) if incident.commander_id else []
    )
    out, seen = [], set()
    for contact in contacts + commander_contacts:
        if contact.pk in seen or not contact.channels():
            continue
        seen.add(contact.pk)
        channel = contact.channels()[0]
        out.append((channel, contact.address(channel), contact, f"c{contact.pk}"))
    if incident.commander_id and not commander_contacts and incident.commander.email:
        out.append(("email", incident.commander.email, None, f"u{incident.commander_id}"))
    return out


def _reminder_message(obligation: RegulatoryObligation, reminder: RegulatoryReminder, now: datetime) -> tuple:
    incident, rule = obligation.incident, obligation.rule
    link = settings.FIRELINE_BASE_URL.rstrip("/") + reverse("admin:incidents_incident_change", args=[incident.pk])
    local = obligation.deadline.astimezone(zoneinfo.ZoneInfo(rule.regime.time_zone))
    what = "target" if obligation.is_target else "deadline"
    drill = "[DRILL] " if incident.is_drill else ""
    if reminder.key == "overdue":
        subject = f"{drill}OVERDUE {incident.reference}: {rule.regime.citation}: {rule.name}"
    else:
        left = obligation.deadline - now
        hours = max(int(left.total_seconds() // 3600), 0)
        subject = f"{drill}{incident.reference}: {rule.regime.citation}: {rule.name} due in {hours}h"
    # The incident's title stays out: a restricted incident's details do not leave Fireline.
    body = (
        f"{reminder.label.capitalize()}.\n\n{rule.name} ({rule.regime.citation}) for {incident.reference} "
        f"is still open.\nThe {what} is {utc_text(obligation.deadline)} "
        f"({local:%Y-%m-%d %H:%M} {rule.regime.time_zone}).\nRecipient: {obligation.recipient or 'see the regime'}.\n"
        f"Rule: {obligation.rule_summary}\n\nRecord the submission, or ask Legal to waive it: {link}\n"
    )
    return subject, body


@transaction.atomic
def obligation_remind(*, obligation_id: int, now: datetime | None = None) -> int:
    """Send the latest due reminder point of one obligation; earlier points due at once are skipped."""
    now = now or timezone.now()
    obligation = (
        RegulatoryObligation.objects.select_for_update(of=("self",))
        .select_related("incident__commander", "rule__regime")
        .get(pk=obligation_id)
    )
    due = list(obligation.reminders.select_for_update().filter(outcome="", due_at__lte=now).order_by("due_at", "pk"))
    if not due or obligation.state != ObligationState.OPEN:
        return 0
    recipients = _recipients(obligation.incident)
    reminder, sent = reminder_point_send(
        due=due,
        now=now,
        message=lambda point: _reminder_message(obligation, point, now),
        recipients=recipients,
        dedup_prefix=f"reg:{obligation.pk}",
        incident=obligation.incident,
    )
    if recipients:
        timeline_add(
            obligation.incident,
            text=f"Regulatory reminder ({reminder.label}): {obligation.step_name} due {utc_text(obligation.deadline)}; "
            f"sent to {len(recipients)} recipient{'' if len(recipients) == 1 else 's'}",
            kind=TimelineKind.PAGE,
        )
    else:
        timeline_add(
            obligation.incident,
            text=f"Regulatory reminder ({reminder.label}) for {obligation.rule.name} reached no one: add a Legal "
            "stakeholder contact.",
            kind=TimelineKind.DELIVERY_FAILED,
        )
    return sent


def regulatory_reminders_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Every open obligation with a reminder point due and not handled yet: remind once."""
    now = now or timezone.now()
    ids = (
        RegulatoryReminder.objects.filter(outcome="", due_at__lte=now, obligation__state=ObligationState.OPEN)
        .order_by("obligation_id")
        .values_list("obligation_id", flat=True)
        .distinct()[:limit]
    )
    return sum(obligation_remind(obligation_id=pk, now=now) for pk in list(ids))
