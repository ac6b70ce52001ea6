"""Demo drills for `seed_demo`: last quarter's drill completed and scored, this quarter's proposed."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from incidents.constants import ContainmentType
from incidents.models import ActionItemKind, Incident, Page
from incidents.services import containment_record, incident_contain, incident_triage, incident_update
from incidents.services.escalation import page_acknowledge

from . import services
from .models import Drill, DrillPolicy, Scenario
from .quarters import previous_quarter_label, quarter_label


def seed_demo_drills(*, users: dict, features: dict | None = None) -> Drill | None:
    """Idempotent: does nothing when a demo drill policy exists already."""
    from incidents.models import AIFeature

    feature = AIFeature.objects.filter(key="support-bot").first()
    facilitator, commander, responder = users.get("facilitator"), users.get("commander"), users.get("responder")
    if feature is None or facilitator is None or commander is None or responder is None:
        return None
    if DrillPolicy.objects.filter(feature=feature).exists():
        return None
    scenario = Scenario.objects.filter(category="harmful_output").order_by("pk").first()
    if scenario is None:
        return None
    with transaction.atomic():
        policy = DrillPolicy.objects.create(feature=feature, facilitator=facilitator, time_zone="Europe/London")
        policy.participants.set([commander, responder])
        drill = _completed_drill(scenario, feature, facilitator, commander, responder)
        services.drill_propose(policy=policy)  # this quarter's drill, planned, facilitator notified
    return drill


def _completed_drill(scenario, feature, facilitator, commander, responder) -> Drill:
    now = timezone.now()
    drill = services.drill_plan(
        scenario=scenario, feature=feature, facilitator=facilitator, participants=[commander, responder], actor=None
    )
    services.drill_schedule(
        drill_id=drill.pk,
        scheduled_for=now + datetime.timedelta(hours=1),
        participants=[commander, responder],
        actor=facilitator,
    )
    drill = services.drill_start(drill_id=drill.pk, actor=facilitator)
    incident = drill.incident
    for page in Page.objects.filter(incident=incident, contact__user=commander)[:1]:
        page_acknowledge(page_id=page.pk, actor=commander, via="demo")
    incident_update(incident_id=incident.pk, changes={"commander": commander}, actor=commander)
    incident_triage(incident_id=incident.pk, actor=commander)
    containment_record(
        incident_id=incident.pk,
        action_type=ContainmentType.FEATURE_FLAG_OFF,
        actor=responder,
        description="Kill switch off (drill: recorded, not flipped for real).",
    )
    incident_contain(incident_id=incident.pk, actor=responder)
    # Spread the steps over the exercise as they happened, three months ago.
    start = now - datetime.timedelta(days=91, minutes=90)
    last_quarter = previous_quarter_label(quarter_label(now, "Europe/London"))
    Incident.objects.filter(pk=incident.pk).update(
        detected_at=start,
        triaged_at=start + datetime.timedelta(minutes=12),
        contained_at=start + datetime.timedelta(minutes=41),
    )
    Page.objects.filter(incident=incident, acknowledged_at__isnull=False).update(
        acknowledged_at=start + datetime.timedelta(minutes=3)
    )
    incident.timeline.update(occurred_at=start)
    Drill.objects.filter(pk=drill.pk).update(
        started_at=start, scheduled_for=start, quarter=last_quarter, created_at=start
    )
    for inject in drill.injects.all():
        inject.due_at = inject.released_at = start + datetime.timedelta(minutes=inject.minute)
        inject.save(update_fields=["due_at", "released_at"])
    services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    for item in drill.checklist.all()[:3]:
        services.drill_tick(drill_id=drill.pk, item_id=item.pk, is_done=True, actor=facilitator)
    services.drill_correct_step(
        drill_id=drill.pk,
        step="communicate",
        occurred_at=start + datetime.timedelta(minutes=55),
        reason="The holding statement went out by phone to the press office; not recorded in Fireline.",
        actor=facilitator,
    )
    services.drill_add_gap(
        drill_id=drill.pk,
        title="The kill switch runbook does not say who may flip it at night",
        kind=ActionItemKind.PROCESS,
        owner=commander,
        due_date=timezone.localdate() + datetime.timedelta(days=14),
        actor=facilitator,
    )
    services.drill_complete(
        drill_id=drill.pk,
        debrief_notes="Containment came late: nobody knew who may flip the kill switch. Investigation and fix "
        "were not reached in the time box.",
        actor=facilitator,
    )
    end = start + datetime.timedelta(minutes=75)
    Drill.objects.filter(pk=drill.pk).update(debrief_at=end, completed_at=end)
    return Drill.objects.get(pk=drill.pk)
