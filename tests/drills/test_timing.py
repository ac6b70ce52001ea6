"""Step times come from the drill incident (state timestamps, pages, communications) and corrections."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from drills import services
from drills.constants import StepStatus
from drills.timing import drill_step_results
from incidents import services as incident_services
from incidents.constants import ContainmentType

T0 = datetime.datetime(2026, 11, 11, 9, 0, tzinfo=datetime.UTC)


def at(minutes):
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


@pytest.fixture
def drill_at_t0(scheduled_drill, facilitator, django_capture_on_commit_callbacks):
    drill = scheduled_drill()
    with at(0), django_capture_on_commit_callbacks(execute=True):
        return services.drill_start(drill_id=drill.pk, actor=facilitator)


def test_steps_are_read_from_the_incident_state_timestamps(drill_at_t0, commander, responder, facilitator):
    drill, incident = drill_at_t0, drill_at_t0.incident  # targets: triage 15, contain 30
    with at(12):
        incident_services.incident_update(incident_id=incident.pk, changes={"commander": commander}, actor=commander)
        incident_services.incident_triage(incident_id=incident.pk, actor=commander)
    with at(41):
        incident_services.containment_record(
            incident_id=incident.pk, action_type=ContainmentType.FEATURE_FLAG_OFF, actor=responder
        )
        incident_services.incident_contain(incident_id=incident.pk, actor=responder)
    with at(70):
        services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    drill.refresh_from_db()
    results = {r.step: r for r in drill_step_results(drill)}
    assert (results["triage"].minutes, results["triage"].status) == (12, StepStatus.ON_TIME)
    assert (results["contain"].minutes, results["contain"].status) == (41, StepStatus.LATE)
    assert results["investigate"].status == StepStatus.MISSED
    assert results["communicate"].status == StepStatus.MISSED


def test_a_correction_replaces_the_recorded_time_with_a_reason_and_is_logged(drill_at_t0, facilitator):
    from audit.models import ActionLogEntry

    drill = drill_at_t0
    with at(50):
        services.drill_correct_step(
            drill_id=drill.pk,
            step="communicate",
            occurred_at=T0 + datetime.timedelta(minutes=20),
            reason="Statement sent by phone",
            actor=facilitator,
        )
    with at(51):
        results = {r.step: r for r in drill_step_results(drill)}
    communicate = results["communicate"]
    assert (communicate.minutes, communicate.status, communicate.is_corrected) == (20, StepStatus.ON_TIME, True)
    assert communicate.correction_reason == "Statement sent by phone"
    entry = ActionLogEntry.objects.filter(target_id=str(drill.pk), verb="changed").order_by("-pk").first()
    assert entry is not None and "communicate_reason" in entry.after
    assert drill.incident.timeline.filter(text__contains="communicate time corrected").exists()


def test_a_correction_needs_a_reason_and_a_time_within_the_drill(drill_at_t0, facilitator):
    drill = drill_at_t0
    with at(30):
        with pytest.raises(ValidationError) as no_reason:
            services.drill_correct_step(
                drill_id=drill.pk,
                step="triage",
                occurred_at=T0 + datetime.timedelta(minutes=5),
                reason="",
                actor=facilitator,
            )
        assert "reason" in no_reason.value.message_dict
        with pytest.raises(ValidationError) as before_start:
            services.drill_correct_step(
                drill_id=drill.pk,
                step="triage",
                occurred_at=T0 - datetime.timedelta(minutes=5),
                reason="typo",
                actor=facilitator,
            )
        assert "occurred_at" in before_start.value.message_dict
    assert not drill.corrections.exists()
