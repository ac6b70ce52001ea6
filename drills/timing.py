"""Step times of a drill, read from its incident: state timestamps, pages and communications."""

from __future__ import annotations

import datetime

from django.db.models import Min, OuterRef, QuerySet, Subquery
from django.utils import timezone

from incidents.models import Communication, Page

from .constants import Step
from .models import Drill
from .scoring import StepResult, step_result

STATE_TIMESTAMPS = {
    Step.TRIAGE: "triaged_at",
    Step.CONTAIN: "contained_at",
    Step.INVESTIGATE: "investigating_at",
    Step.FIX: "fixed_at",
}


def _first(model, field: str):
    return Subquery(
        model.objects.filter(incident=OuterRef("incident"), **{f"{field}__isnull": False})
        .order_by(field)
        .values(field)[:1]
    )


def with_step_sources(drills: QuerySet[Drill]) -> QuerySet[Drill]:
    """Annotate the first acknowledgement and communication times: a list of drills reads them in one query."""
    return drills.annotate(
        first_ack_at=_first(Page, "acknowledged_at"),
        first_approved_at=_first(Communication, "approved_at"),
        first_sent_at=_first(Communication, "sent_at"),
    )


def recorded_step_times(drill: Drill) -> dict[str, datetime.datetime | None]:
    """When each step happened according to the drill incident, before corrections."""
    incident = drill.incident
    if incident is None:
        return dict.fromkeys(Step.values)
    if hasattr(drill, "first_ack_at"):
        first_ack = drill.first_ack_at
        comms = {"approved": drill.first_approved_at, "sent": drill.first_sent_at}
    else:
        first_ack = Page.objects.filter(incident=incident, acknowledged_at__isnull=False).aggregate(
            first=Min("acknowledged_at")
        )["first"]
        comms = Communication.objects.filter(incident=incident).aggregate(
            approved=Min("approved_at"), sent=Min("sent_at")
        )
    times: dict[str, datetime.datetime | None] = {Step.DETECT: first_ack}
    for step, field in STATE_TIMESTAMPS.items():
        times[step] = getattr(incident, field)
    firsts = [t for t in (comms["approved"], comms["sent"]) if t is not None]
    times[Step.COMMUNICATE] = min(firsts) if firsts else None
    return {step: times[step] for step in Step.values}


def drill_step_results(drill: Drill, now: datetime.datetime | None = None) -> list[StepResult]:
    """Each step against its target, corrections applied; empty before the drill started.

    While the exercise runs, a step not done is pending until its target time passes; once it has
    ended (debrief, completed or cancelled) a step not done is missed.
    """
    if drill.started_at is None:
        return []
    recorded = recorded_step_times(drill)
    corrections = {c.step: c for c in drill.corrections.all()}
    exercise_ended_at = drill.debrief_at or drill.cancelled_at
    now = now or timezone.now()
    ended_at = exercise_ended_at or now
    results = []
    for step in Step.values:
        correction = corrections.get(step)
        occurred_at = correction.occurred_at if correction else recorded[step]
        result = step_result(
            step=step,
            target_minutes=drill.scenario.target_minutes(step),
            started_at=drill.started_at,
            ended_at=ended_at,
            occurred_at=occurred_at,
            now=None if exercise_ended_at else now,
        )
        if correction:
            result.is_corrected = True
            result.correction_reason = correction.reason
            result.recorded_at = recorded[step]
        results.append(result)
    return results
