"""Action item reminders under frozen time: before the due date and when overdue, to the owner, each once,
never for a closed item, re-planned when the due date moves."""

import datetime

import pytest
import time_machine
from django.test import override_settings

from incidents.constants import StakeholderRole
from incidents.models import ActionItemReminder, Notification
from incidents.services.action_items import (
    action_item_complete,
    action_item_create,
    action_item_reminders_due,
    action_item_update,
)
from incidents.tasks import remind_action_items
from tests.incidents.factories import make_contact

UTC = datetime.UTC
START = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
DUE = datetime.date(2026, 12, 10)


def at(day, hour=9, minute=0):
    return datetime.datetime(2026, 12, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def item(open_incident, commander, responder):
    with time_machine.travel(START, tick=False):
        incident = open_incident(title="Bot insulted a customer")
        return action_item_create(
            incident_id=incident.pk,
            title="Tone evals for every persona",
            kind="prevent",
            owner=responder,
            due_date=DUE,
            actor=commander,
        )


def sent():
    return list(Notification.objects.filter(dedup_key__startswith="ai:").order_by("id"))


def beat(moment):
    with time_machine.travel(moment, tick=False):
        return action_item_reminders_due()


def test_three_days_before_one_day_before_and_overdue_each_once(item):
    assert beat(at(7, 8, 59)) == 0 and not sent()
    assert beat(at(7)) == 1
    assert beat(at(7, 9, 1)) == 0  # the beat runs again: nothing twice
    first = sent()[0]
    assert first.recipient == "resp@example.com" and "is due 2026-12-10" in first.subject
    assert "Tone evals for every persona" in first.body and f"/admin/incidents/actionitem/{item.pk}/" in first.body
    assert beat(at(9)) == 1 and "due tomorrow" in sent()[1].body
    assert beat(at(10, 23, 59)) == 0  # due today is not overdue yet
    assert beat(at(11)) == 1
    overdue = sent()[2]
    assert overdue.subject.startswith("OVERDUE: ") and "was due 2026-12-10" in overdue.subject
    assert beat(at(12)) == 0 and len(sent()) == 3


def test_the_beat_task_sends_through_the_outbox(item, django_capture_on_commit_callbacks):
    with time_machine.travel(at(7, 9, 30), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert remind_action_items.delay().get() == 1
    assert sent()[0].state == "sent"


def test_no_reminder_for_a_closed_item(item, responder):
    with time_machine.travel(at(2), tick=False):
        action_item_complete(item_id=item.pk, actor=responder)
    for day in (7, 9, 11):
        assert beat(at(day)) == 0
    assert not sent()
    assert set(ActionItemReminder.objects.values_list("outcome", flat=True)) == {"cancelled"}


def test_a_missed_beat_sends_only_the_latest_point(item):
    assert beat(at(11, 10)) == 1  # the beat was down for days: one overdue message, not three
    assert len(sent()) == 1 and sent()[0].subject.startswith("OVERDUE")
    outcomes = dict(ActionItemReminder.objects.values_list("label", "outcome"))
    assert outcomes == {"due in 3 days": "skipped", "due tomorrow": "skipped", "overdue": "sent"}


def test_a_moved_due_date_replans_the_reminders(item, commander):
    assert beat(at(7)) == 1  # "3 days before" the old date went out
    with time_machine.travel(at(8), tick=False):
        action_item_update(item_id=item.pk, changes={"due_date": datetime.date(2026, 12, 20)}, actor=commander)
    assert beat(at(9)) == 0 and beat(at(11)) == 0  # the old date's points are gone
    assert beat(at(17)) == 1 and "is due 2026-12-20" in sent()[-1].subject
    assert beat(at(19)) == 1 and beat(at(21)) == 1
    assert len(sent()) == 4


def test_the_owners_own_contact_is_used_before_their_email(item, responder):
    make_contact(
        name="Resp",
        role=StakeholderRole.ENGINEERING_ON_CALL,
        chat="https://chat.example.com/r",
        user=responder,
    )
    beat(at(7))
    assert [n.recipient for n in sent()] == ["https://chat.example.com/r"]


def test_an_owner_with_no_address_is_said_on_the_timeline(item, responder):
    type(responder).objects.filter(pk=responder.pk).update(email="")
    assert beat(at(7)) == 0
    assert item.incident.timeline.filter(kind="delivery_failed", text__contains="reached no one").exists()
    assert beat(at(7, 10)) == 0  # and it is not retried every minute
    assert item.incident.timeline.filter(kind="delivery_failed", text__contains="Action item reminder").count() == 1


def test_a_restricted_incidents_reminder_names_only_the_reference(open_incident, commander, responder):
    with time_machine.travel(START, tick=False):
        incident = open_incident(title="Customer emails leaked", is_restricted=True, members=[responder])
        action_item_create(
            incident_id=incident.pk,
            title="Purge the leaked emails",
            kind="mitigate",
            owner=responder,
            due_date=DUE,
            actor=commander,
        )
    beat(at(7))
    message = sent()[0]
    assert incident.reference in message.subject
    assert "leaked" not in message.subject.lower() and "leaked" not in message.body.lower()


@override_settings(FIRELINE_ACTION_ITEM_REMIND_DAYS_BEFORE=[7], FIRELINE_ACTION_ITEM_REMIND_HOUR=14)
def test_the_points_are_configurable(open_incident, commander, responder):
    with time_machine.travel(START, tick=False):
        incident = open_incident()
        action_item_create(
            incident_id=incident.pk, title="x", kind="detect", owner=responder, due_date=DUE, actor=commander
        )
    assert sorted(ActionItemReminder.objects.values_list("key", flat=True)) == [
        "before-7d:2026-12-10",
        "overdue:2026-12-10",
    ]
    assert beat(at(3, 13, 59)) == 0 and beat(at(3, 14)) == 1


def test_a_point_already_past_when_added_is_not_planned(open_incident, commander, responder):
    with time_machine.travel(at(9, 12), tick=False):
        incident = open_incident()
        action_item_create(
            incident_id=incident.pk, title="x", kind="detect", owner=responder, due_date=DUE, actor=commander
        )
        assert action_item_reminders_due() == 0  # no "in 3 days" message for something due tomorrow
    assert sorted(ActionItemReminder.objects.values_list("key", flat=True)) == ["overdue:2026-12-10"]
