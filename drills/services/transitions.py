"""A drill's transitions: scheduled, started (opening its drill incident), exercise ended, completed
with the debrief, or cancelled; `TRANSITION_SERVICES` maps each transition to its service.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from incidents.constants import DetectionSignal
from incidents.services.containment import incident_end_drill
from incidents.services.flags import killswitch_stand_in
from incidents.services.incidents import incident_open
from incidents.services.workflow import (
    transition_run,
)

from ..constants import REMINDERS
from ..models import Drill, DrillChecklistItem, DrillInject, DrillReminder
from ..quarters import quarter_label
from ..scoring import drill_score
from ..timing import drill_step_results
from .common import _as_drill, _lock, _require_run
from .debrief import drill_record_contact_gaps
from .running import drill_release_injects


@transaction.atomic
def drill_schedule(*, drill_id: int, scheduled_for: datetime.datetime | None, participants, actor) -> Drill:
    """Set the time and the participants; reminders go out a week, a day and an hour before."""
    _require_run(actor)
    drill = _lock(drill_id)
    if scheduled_for is None:
        raise ValidationError({"scheduled_for": "Give the date and time of the drill."})
    if scheduled_for <= timezone.now():
        raise ValidationError({"scheduled_for": "A drill is scheduled in the future."})
    participants = list(participants)
    if not participants:
        raise ValidationError({"participants": "Choose at least one participant."})
    was_scheduled_for = drill.scheduled_for

    def prepare(drill: Drill) -> None:
        drill.scheduled_for = scheduled_for
        drill.quarter = drill.quarter or quarter_label(scheduled_for, settings.TIME_ZONE)
        drill.participants.set(participants)

    details = {
        "scheduled_for": scheduled_for.isoformat(),
        "was_scheduled_for": was_scheduled_for.isoformat() if was_scheduled_for else None,
        "participants": [u.pk for u in participants],
    }
    transition_run(drill, "schedule", actor=actor, prepare=prepare, **_as_drill("schedule", details=details))
    drill.reminders.filter(sent_at__isnull=True).delete()
    now = timezone.now()
    for key, minutes, _ in REMINDERS:
        due = scheduled_for - datetime.timedelta(minutes=minutes)
        if due > now:
            DrillReminder.objects.update_or_create(drill=drill, key=key, defaults={"due_at": due, "sent_at": None})
    return drill


def _open_drill_incident(drill: Drill, actor) -> None:
    """Open the drill incident from the scenario, with its checklist and injects; it pages only the participants."""
    scenario = drill.scenario
    participants = list(drill.participants.all())
    members = {u.pk: u for u in participants}
    if drill.facilitator_id:
        # The facilitator watches the drill incident (and so may see it when it is restricted).
        members.setdefault(drill.facilitator_id, drill.facilitator)
    incident = incident_open(
        title=f"[DRILL] {scenario.name}",
        summary=(scenario.briefing or "") + "\n\n**The hypothetical bad output:**\n\n" + scenario.bad_output,
        category=scenario.category,
        detection_signal=DetectionSignal.USER_REPORT,
        feature=drill.drill_feature,
        users_affected=scenario.users_affected,
        is_public=scenario.is_public,
        severity_override=scenario.severity_override,
        severity_override_reason="Set by the drill scenario." if scenario.severity_override else "",
        members=list(members.values()),
        actor=actor,
        is_drill=True,
    )
    drill.incident = incident
    killswitch_stand_in(incident)  # participants see (and may wire) the stand-in key before they contain
    for position, action in enumerate(scenario.expected_actions.all()):
        DrillChecklistItem.objects.create(drill=drill, text=action.text, position=position)
    for inject in scenario.injects.all():
        DrillInject.objects.create(
            drill=drill,
            inject=inject,
            minute=inject.minute,
            text=inject.text,
            due_at=drill.started_at + datetime.timedelta(minutes=inject.minute),
        )


@transaction.atomic
def drill_start(*, drill_id: int, actor) -> Drill:
    """Open the drill incident from the scenario: the real workflow, paging only the participants."""
    _require_run(actor)
    drill = _lock(drill_id)
    transition_run(
        drill,
        "start",
        actor=actor,
        apply=lambda drill: _open_drill_incident(drill, actor),
        **_as_drill("start", details=lambda drill, source: {"incident": drill.incident_id}),
    )
    drill_release_injects(drill_id=drill.pk)  # minute-0 injects go out with the start
    return drill


@transaction.atomic
def drill_end_exercise(*, drill_id: int, actor) -> Drill:
    """Stop the clock and open the debrief; stale contacts in the escalation path become gaps."""
    _require_run(actor)
    drill = _lock(drill_id)
    transition_run(drill, "end_exercise", actor=actor, **_as_drill("end_exercise"))
    drill.injects.filter(released_at__isnull=True).delete()  # injects after the end are never released
    drill_record_contact_gaps(drill=drill, actor=actor)
    return drill


@transaction.atomic
def drill_complete(*, drill_id: int, actor, debrief_notes: str | None = None) -> Drill:
    """Score the drill with the documented rule and close the debrief."""
    _require_run(actor)
    drill = _lock(drill_id)
    results = []

    def score(drill: Drill) -> None:
        if debrief_notes is not None:
            drill.debrief_notes = debrief_notes
        results.extend(drill_step_results(drill))
        checklist = list(drill.checklist.all())
        drill.score = drill_score([r.status for r in results], sum(i.is_done for i in checklist), len(checklist))

    transition_run(
        drill,
        "complete",
        actor=actor,
        apply=score,
        **_as_drill(
            "complete",
            details=lambda drill, source: {"score": drill.score, "steps": {r.step: r.status for r in results}},
        ),
    )
    if drill.incident_id:
        incident_end_drill(incident_id=drill.incident_id, reason=f"Drill {drill.reference} completed", actor=actor)
    return drill


@transaction.atomic
def drill_cancel(*, drill_id: int, reason: str, actor) -> Drill:
    _require_run(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the drill is cancelled."})
    drill = _lock(drill_id)
    transition_run(
        drill,
        "cancel",
        actor=actor,
        apply=lambda drill: setattr(drill, "cancel_reason", reason),
        **_as_drill("cancel", details={"reason": reason}),
    )
    drill.reminders.filter(sent_at__isnull=True).delete()
    drill.injects.filter(released_at__isnull=True).delete()
    if drill.incident_id:
        incident_end_drill(
            incident_id=drill.incident_id, reason=f"Drill {drill.reference} cancelled: {reason}", actor=actor
        )
    return drill


TRANSITION_SERVICES = {
    "start": drill_start,
    "end_exercise": drill_end_exercise,
    "complete": drill_complete,
}
