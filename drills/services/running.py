"""During the drill: injects released at their offsets and reminders sent when due, each once, with
the beat task's sweeps for both.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents.constants import TimelineKind
from incidents.services.workflow import (
    timeline_add,
)

from ..constants import REMINDERS, DrillState
from ..models import Drill, DrillInject, DrillReminder
from .common import _link, _local, _lock, _notify


@transaction.atomic
def drill_release_injects(*, drill_id: int, now: datetime.datetime | None = None) -> int:
    """Release every inject whose minute has come: a timeline note and a message to the participants.

    Each inject row is claimed under a lock and marked released in the same transaction, so a beat that
    runs twice releases nothing twice.
    """
    now = now or timezone.now()
    drill = _lock(drill_id)
    if drill.state != DrillState.RUNNING or drill.incident is None:
        return 0
    due = list(drill.injects.select_for_update().filter(released_at__isnull=True, due_at__lte=now).order_by("due_at"))
    participants = list(drill.participants.all())
    for inject in due:
        inject.released_at = now
        inject.save(update_fields=["released_at"])
        timeline_add(
            drill.incident,
            kind=TimelineKind.NOTE,
            occurred_at=now,
            text=f"Inject: {inject.text}",
        )
        _notify(
            participants,
            subject=f"[DRILL] {drill.incident.reference} +{inject.minute} min: new development",
            body=f"[DRILL] {inject.text}\n\nDrill incident: "
            + settings.FIRELINE_BASE_URL.rstrip("/")
            + reverse("admin:incidents_incident_change", args=[drill.incident_id])
            + "\n",
            dedup_prefix=f"drill-inject:{inject.pk}",
            incident=drill.incident,
        )
    return len(due)


def drills_release_injects_due(*, now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    ids = (
        DrillInject.objects.filter(released_at__isnull=True, due_at__lte=now, drill__state=DrillState.RUNNING)
        .values_list("drill_id", flat=True)
        .distinct()
    )
    return sum(drill_release_injects(drill_id=drill_id, now=now) for drill_id in list(ids))


@transaction.atomic
def drill_send_reminder(*, reminder_id: int, now: datetime.datetime | None = None) -> bool:
    now = now or timezone.now()
    reminder = DrillReminder.objects.select_for_update().get(pk=reminder_id)
    if reminder.sent_at is not None:
        return False
    drill = Drill.objects.select_related("scenario").get(pk=reminder.drill_id)
    reminder.sent_at = now
    reminder.save(update_fields=["sent_at"])
    if drill.state != DrillState.SCHEDULED or drill.scheduled_for is None or drill.scheduled_for <= now:
        return False
    label = dict((k, text) for k, _, text in REMINDERS)[reminder.key]
    _notify(
        drill.participants.all(),
        subject=f"[DRILL] Fire drill {label}: {_local(drill.scheduled_for)}",
        body=(
            f"You take part in the fire drill {drill.reference} for {drill.subject or 'your team'} on "
            f"{_local(drill.scheduled_for)}. It runs on the real incident workflow; you will be paged.\n"
            f"{_link(drill)}\n"
        ),
        # A rescheduled drill reminds again: the due time is part of the key.
        dedup_prefix=f"drill-reminder:{reminder.pk}:{int(reminder.due_at.timestamp())}",
    )
    return True


def drills_send_reminders_due(*, now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    ids = list(DrillReminder.objects.filter(sent_at__isnull=True, due_at__lte=now).values_list("pk", flat=True))
    return sum(drill_send_reminder(reminder_id=pk, now=now) for pk in ids)
