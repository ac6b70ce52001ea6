"""Action items: added with an owner, a due date and a type; done, or won't do with a reason; changed
while open; who may do what; restricted incidents' items stay hidden."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.models import ActionLogEntry
from incidents.models import ActionItem, ActionItemReminder, ActionItemSource, ActionItemState
from incidents.services.action_items import (
    action_item_complete,
    action_item_create,
    action_item_update,
    action_item_wont_do,
)
from incidents.services.postmortems import postmortem_create
from tests.incidents.factories import UserFactory


def days(n):
    return timezone.localdate() + datetime.timedelta(days=n)


def add(incident, actor, owner=None, **kwargs):
    kwargs.setdefault("title", "Tone evals for every persona")
    kwargs.setdefault("kind", "prevent")
    kwargs.setdefault("due_date", days(10))
    return action_item_create(incident_id=incident.pk, owner=owner or actor, actor=actor, **kwargs)


def pending_keys(item):
    return sorted(item.reminders.filter(outcome="").values_list("key", flat=True))


def test_an_item_is_added_logged_and_its_reminders_planned(open_incident, commander, responder):
    incident = open_incident()
    item = add(incident, commander, owner=responder)
    assert item.state == ActionItemState.OPEN and item.owner == responder
    due = item.due_date.isoformat()
    assert pending_keys(item) == [f"before-1d:{due}", f"before-3d:{due}", f"overdue:{due}"]
    assert ActionLogEntry.objects.filter(target_type="incidents.actionitem", verb="created").count() == 1
    assert incident.timeline.filter(text__startswith="Action item added: Tone evals").exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"title": "  "}, "title"),
        ({"kind": "hope"}, "kind"),
        ({"due_date": "2026-13-01"}, "due_date"),
        ({"owner": None}, "owner"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(open_incident, commander, kwargs, field):
    incident = open_incident()
    with pytest.raises(ValidationError) as caught:
        if "owner" in kwargs:
            action_item_create(
                incident_id=incident.pk, title="x", kind="detect", due_date=days(3), actor=commander, **kwargs
            )
        else:
            add(incident, commander, **kwargs)
    assert field in caught.value.message_dict
    assert not ActionItem.objects.exists() and not ActionItemReminder.objects.exists()


def test_a_due_date_in_the_past_is_refused(open_incident, commander):
    with pytest.raises(ValidationError, match="in the past"):
        add(open_incident(), commander, due_date=days(-1))
    assert not ActionItem.objects.exists()


def test_a_viewer_may_not_add_and_an_outsider_does_not_see_a_restricted_incident(open_incident, commander, viewer):
    with pytest.raises(PermissionDenied):
        add(open_incident(), viewer, owner=commander)
    restricted = open_incident(is_restricted=True)
    outsider = UserFactory(username="outsider", role="Responder")
    outsider = type(outsider).objects.get(pk=outsider.pk)
    with pytest.raises(type(restricted).DoesNotExist):
        add(restricted, outsider)
    item = add(restricted, commander)
    with pytest.raises(type(restricted).DoesNotExist):
        action_item_complete(item_id=item.pk, actor=outsider)
    assert ActionItem.objects.get(pk=item.pk).state == ActionItemState.OPEN


def test_the_owner_closes_their_own_item_without_the_change_permission(open_incident, commander, viewer):
    item = add(open_incident(), commander, owner=viewer)
    stranger = UserFactory(username="stranger", role="Viewer")
    with pytest.raises(PermissionDenied):
        action_item_complete(item_id=item.pk, actor=type(stranger).objects.get(pk=stranger.pk))
    done = action_item_complete(item_id=item.pk, actor=viewer)
    assert done.state == ActionItemState.DONE and done.closed_by == viewer and done.closed_at
    assert not done.reminders.filter(outcome="").exists()  # nothing left to remind
    with pytest.raises(ValidationError, match="Not possible while the action item is done"):
        action_item_wont_do(item_id=item.pk, reason="late", actor=commander)


def test_wont_do_needs_a_reason(open_incident, commander):
    item = add(open_incident(), commander)
    with pytest.raises(ValidationError) as caught:
        action_item_wont_do(item_id=item.pk, reason="   ", actor=commander)
    assert "wont_do_reason" in caught.value.message_dict
    assert ActionItem.objects.get(pk=item.pk).state == ActionItemState.OPEN
    item = action_item_wont_do(item_id=item.pk, reason="The persona is retired.", actor=commander)
    assert item.state == ActionItemState.WONT_DO and item.wont_do_reason == "The persona is retired."
    entry = ActionLogEntry.objects.get(verb="transition:wont_do")
    assert entry.after["reason"] == "The persona is retired."


def test_a_new_due_date_replans_the_reminders(open_incident, commander, responder):
    item = add(open_incident(), commander, due_date=days(10))
    old = item.due_date.isoformat()
    item = action_item_update(item_id=item.pk, changes={"due_date": days(20), "owner": responder}, actor=commander)
    new = item.due_date.isoformat()
    assert pending_keys(item) == [f"before-1d:{new}", f"before-3d:{new}", f"overdue:{new}"]
    assert item.reminders.filter(key__endswith=old, outcome="cancelled").count() == 3
    assert ActionLogEntry.objects.filter(target_type="incidents.actionitem", verb="changed").count() == 1
    assert item.incident.timeline.filter(text__contains="due date moved to").exists()
    assert item.owner == responder


def test_changes_are_refused_when_closed_or_bad(open_incident, commander, viewer):
    item = add(open_incident(), commander)
    with pytest.raises(PermissionDenied):
        action_item_update(item_id=item.pk, changes={"title": "x"}, actor=viewer)
    with pytest.raises(ValidationError, match="in the past"):
        action_item_update(item_id=item.pk, changes={"due_date": days(-2)}, actor=commander)
    with pytest.raises(ValidationError, match="Not editable"):
        action_item_update(item_id=item.pk, changes={"state": "done"}, actor=commander)
    assert ActionItem.objects.get(pk=item.pk).due_date == item.due_date
    action_item_complete(item_id=item.pk, actor=commander)
    with pytest.raises(ValidationError, match="no longer changes"):
        action_item_update(item_id=item.pk, changes={"title": "x"}, actor=commander)


def test_items_belong_to_the_postmortem_even_when_added_before_it(open_incident, commander):
    incident = open_incident()
    early = add(incident, commander, title="Early")
    drill_item = add(incident, commander, title="From a drill", source=ActionItemSource.DRILL)
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    late = add(incident, commander, title="Late", due_date=days(2))
    assert ActionItem.objects.get(pk=early.pk).postmortem == pm and late.postmortem == pm
    assert drill_item.postmortem is None
    assert [i.title for i in pm.report_action_items()] == ["Late", "Early"]
    action_item_complete(item_id=late.pk, actor=commander)
    assert [i.title for i in pm.open_action_items] == ["Early"]


def test_drills_add_items_with_the_stable_signature(open_incident, commander):
    facilitator = UserFactory(username="facil", role="Drill Facilitator")
    facilitator = type(facilitator).objects.get(pk=facilitator.pk)
    drill = open_incident(is_drill=True, members=[facilitator])
    item = action_item_create(
        incident_id=drill.pk,
        title="Runbook link in the alert",
        kind="process",
        owner=commander,
        due_date=days(14),
        actor=facilitator,
        source=ActionItemSource.DRILL,
    )
    assert item.source == ActionItemSource.DRILL and item.postmortem is None


def test_roles_are_seeded(db):
    perms = {
        g.name: set(g.permissions.filter(content_type__model="actionitem").values_list("codename", flat=True))
        for g in Group.objects.all()
    }
    for role in ("Incident Commander", "Responder", "Legal", "Drill Facilitator"):
        assert {"add_actionitem", "change_actionitem", "view_actionitem"} <= perms[role], role
    assert perms["Viewer"] == {"view_actionitem"}
    comms = Group.objects.get(name="Communications")
    assert comms.permissions.filter(codename="approve_postmortem").exists()
