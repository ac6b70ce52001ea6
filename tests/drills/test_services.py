"""Schedule, start, injects, reminders, end, complete: the drill state machine through its services."""

import datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from drills import services
from drills.constants import DrillState
from drills.models import Drill, DrillReminder
from incidents.constants import TimelineKind
from incidents.models import Notification, Page


def test_schedule_needs_a_future_time_and_participants(scenario, feature, facilitator, commander):
    drill = services.drill_plan(scenario=scenario, feature=feature, facilitator=facilitator, actor=facilitator)
    with pytest.raises(ValidationError) as no_time:
        services.drill_schedule(drill_id=drill.pk, scheduled_for=None, participants=[commander], actor=facilitator)
    assert "scheduled_for" in no_time.value.message_dict
    with pytest.raises(ValidationError) as past:
        services.drill_schedule(
            drill_id=drill.pk,
            scheduled_for=timezone.now() - datetime.timedelta(hours=1),
            participants=[commander],
            actor=facilitator,
        )
    assert "future" in str(past.value)
    with pytest.raises(ValidationError) as nobody:
        services.drill_schedule(
            drill_id=drill.pk,
            scheduled_for=timezone.now() + datetime.timedelta(days=2),
            participants=[],
            actor=facilitator,
        )
    assert "participants" in nobody.value.message_dict
    drill.refresh_from_db()
    assert (drill.state, drill.scheduled_for) == (DrillState.PLANNED, None)
    assert not drill.reminders.exists()


def test_reminders_a_week_a_day_and_an_hour_before_each_sent_once(
    scheduled_drill, commander, responder, django_capture_on_commit_callbacks
):
    with time_machine.travel("2026-11-01 09:00:00+00:00", tick=False):
        drill = scheduled_drill()  # ten days ahead: 2026-11-11 09:00
    assert sorted(drill.reminders.values_list("key", flat=True)) == ["day", "hour", "week"]
    sent = lambda: Notification.objects.filter(dedup_key__startswith="drill-reminder:")  # noqa: E731
    with time_machine.travel("2026-11-04 09:00:00+00:00", tick=False):
        assert services.drills_send_reminders_due() == 1
        assert services.drills_send_reminders_due() == 0
    assert sent().count() == 2  # one per participant
    assert set(sent().values_list("recipient", flat=True)) == {commander.email, responder.email}
    assert "in a week" in sent().first().subject
    with time_machine.travel("2026-11-11 08:05:00+00:00", tick=False):
        assert services.drills_send_reminders_due() == 2  # the day and the hour reminders
    assert sent().count() == 6
    assert not DrillReminder.objects.filter(sent_at__isnull=True).exists()


def test_start_opens_a_drill_incident_with_the_participants(running_drill, facilitator, commander, responder, scenario):
    drill = running_drill()
    incident = drill.incident
    assert drill.state == DrillState.RUNNING and drill.started_at is not None
    assert incident.is_drill
    assert incident.category == scenario.category
    assert incident.title.startswith("[DRILL]")
    assert {commander, responder} <= set(incident.members.all())
    assert drill.checklist.count() == scenario.expected_actions.count()


def test_start_needs_the_drill_to_be_scheduled(scenario, feature, facilitator):
    drill = services.drill_plan(scenario=scenario, feature=feature, facilitator=facilitator, actor=facilitator)
    with pytest.raises(ValidationError, match="planned"):
        services.drill_start(drill_id=drill.pk, actor=facilitator)
    assert Drill.objects.get(pk=drill.pk).incident is None


def test_injects_are_released_at_their_minute_and_never_twice(
    scheduled_drill, facilitator, commander, django_capture_on_commit_callbacks
):
    drill = scheduled_drill()
    with time_machine.travel("2026-11-11 09:00:00+00:00", tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            drill = services.drill_start(drill_id=drill.pk, actor=facilitator)
    notes = drill.incident.timeline.filter(kind=TimelineKind.NOTE, text__startswith="Inject:")
    assert notes.count() == 1  # the minute-0 inject goes out with the start
    with time_machine.travel("2026-11-11 09:09:59+00:00", tick=False):
        assert services.drills_release_injects_due() == 0
    with time_machine.travel("2026-11-11 09:10:00+00:00", tick=False):
        assert services.drills_release_injects_due() == 1
        assert services.drills_release_injects_due() == 0
    assert notes.count() == 2
    assert "journalist" in notes.order_by("-id").first().text
    inject_messages = Notification.objects.filter(dedup_key__startswith="drill-inject:", recipient=commander.email)
    assert inject_messages.count() == 2
    assert inject_messages.filter(subject__contains="+10 min").exists()
    with time_machine.travel("2026-11-11 10:00:00+00:00", tick=False):
        assert services.drills_release_injects_due() == 1  # the +25 inject, late beat: released once
        assert services.drills_release_injects_due() == 0
    assert notes.count() == 3


def test_ending_the_exercise_drops_injects_not_yet_released(running_drill, facilitator):
    drill = running_drill()
    services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    assert services.drills_release_injects_due(now=timezone.now() + datetime.timedelta(hours=2)) == 0
    assert drill.incident.timeline.filter(text__startswith="Inject:").count() == 1


def test_complete_scores_and_cancel_needs_a_reason(running_drill, facilitator):
    drill = running_drill()
    with pytest.raises(ValidationError):
        services.drill_complete(drill_id=drill.pk, actor=facilitator)  # still running
    services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    done = services.drill_complete(drill_id=drill.pk, actor=facilitator)
    assert done.state == DrillState.COMPLETED and done.score is not None
    other = running_drill()
    with pytest.raises(ValidationError) as no_reason:
        services.drill_cancel(drill_id=other.pk, reason=" ", actor=facilitator)
    assert "reason" in no_reason.value.message_dict
    assert services.drill_cancel(drill_id=other.pk, reason="Outage", actor=facilitator).state == DrillState.CANCELLED


@pytest.mark.parametrize("who", ["viewer", "commander", "responder"])
def test_only_facilitators_run_drills(request, who, scheduled_drill, facilitator):
    user = request.getfixturevalue(who)
    drill = scheduled_drill()
    with pytest.raises(PermissionDenied):
        services.drill_start(drill_id=drill.pk, actor=user)
    with pytest.raises(PermissionDenied):
        services.drill_cancel(drill_id=drill.pk, reason="no", actor=user)
    drill.refresh_from_db()
    assert drill.state == DrillState.SCHEDULED and drill.incident is None


def test_a_viewer_cannot_score_a_drill(running_drill, facilitator, viewer):
    drill = running_drill()
    services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    item = drill.checklist.first()
    with pytest.raises(PermissionDenied):
        services.drill_tick(drill_id=drill.pk, item_id=item.pk, is_done=True, actor=viewer)
    with pytest.raises(PermissionDenied):
        services.drill_correct_step(drill_id=drill.pk, step="triage", occurred_at=None, reason="x", actor=viewer)
    with pytest.raises(PermissionDenied):
        services.drill_complete(drill_id=drill.pk, actor=viewer)
    drill.refresh_from_db()
    assert drill.state == DrillState.DEBRIEF and drill.score is None
    assert not drill.checklist.filter(is_done=True).exists()


def test_facilitator_cannot_open_real_incidents(facilitator, feature):
    from incidents.services import incident_open

    with pytest.raises(PermissionDenied):
        incident_open(title="real", detection_signal="user_report", feature=feature, actor=facilitator)


def test_pages_go_only_to_participants(running_drill, contacts, outsider, commander, responder):
    drill = running_drill()
    paged = set(Page.objects.filter(incident=drill.incident).values_list("contact__user", flat=True))
    assert paged, "the drill's participants are paged"
    assert paged <= {commander.pk, responder.pk}
    assert not Notification.objects.filter(contact__user=outsider).exists()


def test_rescheduling_reminds_again_for_the_new_date(scheduled_drill, facilitator, commander):
    with time_machine.travel("2026-11-01 09:00:00+00:00", tick=False):
        drill = scheduled_drill()  # 2026-11-11 09:00
    with time_machine.travel("2026-11-04 09:00:00+00:00", tick=False):
        services.drills_send_reminders_due()
        services.drill_schedule(
            drill_id=drill.pk,
            scheduled_for=timezone.now() + datetime.timedelta(days=14),
            participants=[commander],
            actor=facilitator,
        )
    week = Notification.objects.filter(dedup_key__startswith="drill-reminder:", subject__contains="in a week")
    assert week.count() == 2  # the old date, to both participants
    with time_machine.travel("2026-11-11 09:00:00+00:00", tick=False):
        assert services.drills_send_reminders_due() == 1
    assert week.count() == 3  # the new date, to the one participant left
    assert week.order_by("-pk").first().recipient == commander.email
