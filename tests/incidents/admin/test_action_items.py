"""Action items, key events and the learning library in the admin, as the people who use them see them."""

import datetime

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from audit.models import ActionLogEntry
from incidents.models import ActionItem, ActionItemSource, ActionItemState, LearningScope, TimelineEntry
from incidents.services import timeline_add_note
from incidents.services.action_items import action_item_create
from incidents.services.postmortems import learning_add, postmortem_create
from tests.incidents.factories import UserFactory

CHANGELIST = "admin:incidents_actionitem_changelist"


def days(n):
    return timezone.localdate() + datetime.timedelta(days=n)


def said(response):
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def add(incident, actor, title="Tone evals", **kwargs):
    kwargs.setdefault("kind", "prevent")
    kwargs.setdefault("due_date", days(5))
    kwargs.setdefault("owner", actor)
    return action_item_create(incident_id=incident.pk, title=title, actor=actor, **kwargs)


def make_overdue(item, by_days=3):
    ActionItem.objects.filter(pk=item.pk).update(due_date=days(-by_days))


def incident_page(incident):
    return reverse("admin:incidents_incident_change", args=[incident.pk])


# --- the changelist --------------------------------------------------------------------------------


def test_changelist_lists_postmortem_and_drill_items_overdue_in_red(client, open_incident, commander):
    incident = open_incident()
    drill = open_incident(is_drill=True)
    late = add(incident, commander, title="Freshness monitor")
    make_overdue(late)
    add(drill, commander, title="Runbook link in the alert", source=ActionItemSource.DRILL)
    client.force_login(commander)
    html = client.get(reverse(CHANGELIST)).content.decode()
    assert "Freshness monitor" in html and "Runbook link in the alert" in html
    assert 'class="fl-overdue"' in html and "overdue 3 days" in html
    assert f"{drill.reference}</a> (drill)" in html
    overdue_only = client.get(reverse(CHANGELIST), {"due": "overdue"}).content.decode()
    assert "Freshness monitor" in overdue_only and "Runbook link" not in overdue_only
    drills_only = client.get(reverse(CHANGELIST), {"source__exact": "drill"}).content.decode()
    assert "Runbook link" in drills_only and "Freshness monitor" not in drills_only
    by_ref = client.get(reverse(CHANGELIST), {"q": drill.reference}).content.decode()
    assert "Runbook link" in by_ref and "Freshness monitor" not in by_ref


def test_restricted_incidents_items_are_hidden_from_those_who_may_not_see_it(client, open_incident, commander):
    secret = open_incident(title="Leak", is_restricted=True)
    item = add(secret, commander, title="Purge the leaked rows")
    outsider = UserFactory(username="outsider", role="Responder")
    client.force_login(outsider)
    assert "Purge the leaked rows" not in client.get(reverse(CHANGELIST)).content.decode()
    assert "Purge" not in client.get(reverse(CHANGELIST), {"q": secret.reference}).content.decode()
    change = client.get(reverse("admin:incidents_actionitem_change", args=[item.pk]))
    assert change.status_code == 302  # the admin's "does not exist" redirect, no details
    response = client.post(reverse("admin:incidents_actionitem_close", args=[item.pk, "done"]))
    assert response.status_code == 404
    assert ActionItem.objects.get(pk=item.pk).state == ActionItemState.OPEN
    client.force_login(commander)
    assert "Purge the leaked rows" in client.get(reverse(CHANGELIST)).content.decode()


@pytest.mark.parametrize("count", [5, 60])
def test_changelist_query_count_does_not_grow(client, open_incident, commander, count, django_assert_max_num_queries):
    incident = open_incident()
    owners = [UserFactory(username=f"owner{i}", role="Responder") for i in range(3)]
    ActionItem.objects.bulk_create(
        ActionItem(incident=incident, title=f"item {i}", kind="detect", owner=owners[i % 3], due_date=days(i - 2))
        for i in range(count)
    )
    client.force_login(commander)
    with django_assert_max_num_queries(8):  # the same at 5 and 60 rows
        response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200


def test_the_change_form_edits_through_the_service_and_replans(client, open_incident, commander, responder):
    item = add(open_incident(), commander)
    client.force_login(commander)
    url = reverse("admin:incidents_actionitem_change", args=[item.pk])
    data = {"title": "Tone evals, all personas", "kind": "detect", "owner": responder.pk, "details": ""}
    response = client.post(url, {**data, "due_date": days(-1).isoformat()})
    assert response.status_code == 200 and "in the past" in response.content.decode()
    assert ActionItem.objects.get(pk=item.pk).title == "Tone evals"
    response = client.post(url, {**data, "due_date": days(9).isoformat()})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.title == "Tone evals, all personas" and item.owner == responder and item.due_date == days(9)
    assert item.reminders.filter(outcome="", key__endswith=days(9).isoformat()).exists()
    assert ActionLogEntry.objects.filter(target_type="incidents.actionitem", verb="changed").exists()


# --- the card on the incident and post-mortem pages --------------------------------------------------


def test_the_card_adds_an_item_and_says_what_is_wrong(client, open_incident, commander, responder):
    incident = open_incident()
    client.force_login(commander)
    html = client.get(incident_page(incident)).content.decode()
    assert 'id="action-items"' in html and 'id="action-item-form"' in html
    url = reverse("admin:incidents_actionitem_add_to", args=[incident.pk])
    good = {"title": "Freshness monitor", "kind": "detect", "owner": responder.pk, "due_date": days(7).isoformat()}
    response = client.post(url, {**good, "due_date": days(-3).isoformat()})
    assert "in the past" in said(response) and not ActionItem.objects.exists()
    response = client.post(url, {**good, "title": ""})
    assert "Title" in said(response) and not ActionItem.objects.exists()
    response = client.post(url, good)
    assert response.status_code == 302 and response["Location"].endswith("#action-items")
    item = ActionItem.objects.get()
    assert item.owner == responder and item.kind == "detect" and item.created_by == commander
    html = client.get(incident_page(incident)).content.decode()
    assert "Freshness monitor" in html and "1 open" in html


def test_done_and_wont_do_buttons(client, open_incident, commander):
    incident = open_incident()
    first, second = add(incident, commander, title="One"), add(incident, commander, title="Two")
    client.force_login(commander)
    response = client.post(reverse("admin:incidents_actionitem_close", args=[first.pk, "done"]), {"back": "incident"})
    assert response.status_code == 302 and ActionItem.objects.get(pk=first.pk).state == ActionItemState.DONE
    response = client.post(reverse("admin:incidents_actionitem_close", args=[second.pk, "wont_do"]), {"reason": ""})
    assert "Say why" in said(response) and ActionItem.objects.get(pk=second.pk).state == ActionItemState.OPEN
    client.post(reverse("admin:incidents_actionitem_close", args=[second.pk, "wont_do"]), {"reason": "Retired."})
    assert ActionItem.objects.get(pk=second.pk).state == ActionItemState.WONT_DO
    assert client.get(reverse("admin:incidents_actionitem_close", args=[second.pk, "done"])).status_code == 405


def test_a_viewer_sees_the_items_but_no_buttons(client, open_incident, commander, viewer):
    incident = open_incident()
    item = add(incident, commander, title="Freshness monitor")
    client.force_login(viewer)
    html = client.get(incident_page(incident)).content.decode()
    assert "Freshness monitor" in html and 'id="action-item-form"' not in html
    assert reverse("admin:incidents_actionitem_close", args=[item.pk, "done"]) not in html
    url = reverse("admin:incidents_actionitem_add_to", args=[incident.pk])
    response = client.post(url, {"title": "x", "kind": "detect", "owner": viewer.pk, "due_date": days(3).isoformat()})
    assert "may not" in said(response) and ActionItem.objects.count() == 1
    response = client.post(reverse("admin:incidents_actionitem_close", args=[item.pk, "done"]))
    assert "Only the owner" in said(response) and ActionItem.objects.get(pk=item.pk).state == ActionItemState.OPEN


def test_the_postmortem_page_has_the_card_and_the_key_events(client, open_incident, commander):
    incident = open_incident()
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    add(incident, commander, title="Freshness monitor")
    note = timeline_add_note(incident_id=incident.pk, text="Bot told a customer to **go away**", actor=commander)
    TimelineEntry.objects.filter(pk=note.pk).update(is_key_event=True)
    client.force_login(commander)
    html = client.get(reverse("admin:incidents_postmortem_change", args=[pm.pk])).content.decode()
    assert 'id="action-items"' in html and "Freshness monitor" in html
    assert 'id="key-events"' in html and "<strong>go away</strong>" in html
    response = client.post(
        reverse("admin:incidents_actionitem_add_to", args=[incident.pk]),
        {
            "title": "Tone evals",
            "kind": "prevent",
            "owner": commander.pk,
            "due_date": days(4).isoformat(),
            "back": "postmortem",
        },
    )
    assert response["Location"].endswith(reverse("admin:incidents_postmortem_change", args=[pm.pk]) + "#action-items")
    assert ActionItem.objects.get(title="Tone evals").postmortem == pm


# --- starring key events -------------------------------------------------------------------------------


def test_star_and_unstar_a_timeline_entry(client, open_incident, commander, viewer):
    incident = open_incident()
    entry = incident.timeline.first()
    url = reverse("admin:incidents_incident_star", args=[incident.pk, entry.pk])
    client.force_login(commander)
    assert f'action="{url}"' in client.get(incident_page(incident)).content.decode()
    response = client.post(url, {"star": "1"})
    assert response.status_code == 302 and response["Location"].endswith(f"#tl-{entry.pk}")
    assert TimelineEntry.objects.get(pk=entry.pk).is_key_event
    log = ActionLogEntry.objects.get(target_type="incidents.timelineentry", verb="changed")
    assert log.before == {"is_key_event": False} and log.after == {"is_key_event": True}
    client.post(url, {"star": "1"})  # starring again changes nothing and logs nothing
    assert ActionLogEntry.objects.filter(target_type="incidents.timelineentry").count() == 1
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    assert list(pm.key_events()) == [TimelineEntry.objects.get(pk=entry.pk)]
    client.force_login(viewer)
    assert f'action="{url}"' not in client.get(incident_page(incident)).content.decode()
    response = client.post(url, {"star": "0"})
    assert "may not" in said(response) and TimelineEntry.objects.get(pk=entry.pk).is_key_event
    client.force_login(commander)
    client.post(url, {"star": "0"})
    assert not TimelineEntry.objects.get(pk=entry.pk).is_key_event and not list(pm.key_events())


def test_starring_a_restricted_incidents_entry_is_a_404_to_outsiders(client, open_incident, commander):
    secret = open_incident(is_restricted=True)
    entry = secret.timeline.first()
    outsider = UserFactory(username="outsider2", role="Incident Commander")
    client.force_login(outsider)
    response = client.post(reverse("admin:incidents_incident_star", args=[secret.pk, entry.pk]), {"star": "1"})
    assert response.status_code == 404 and not TimelineEntry.objects.get(pk=entry.pk).is_key_event
    other = open_incident()
    client.force_login(commander)  # an entry of another incident through this incident's URL
    response = client.post(reverse("admin:incidents_incident_star", args=[other.pk, entry.pk]), {"star": "1"})
    assert response.status_code == 404


# --- the learning library ------------------------------------------------------------------------------


def test_the_learning_library_opens_on_transferable_learnings_and_searches_across_incidents(
    client, open_incident, commander
):
    a = postmortem_create(incident_id=open_incident(title="Stale hours").pk, actor=commander)
    b = postmortem_create(incident_id=open_incident(title="Insults").pk, actor=commander)
    secret = postmortem_create(incident_id=open_incident(title="Leak", is_restricted=True).pk, actor=commander)
    learning_add(
        postmortem_id=a.pk,
        text="Retrieval indexes need a freshness monitor.",
        scope=LearningScope.TRANSFERABLE,
        actor=commander,
    )
    learning_add(postmortem_id=b.pk, text="Persona v3 prompt was too loose.", actor=commander)
    learning_add(
        postmortem_id=secret.pk, text="Restricted lesson about PII.", scope=LearningScope.TRANSFERABLE, actor=commander
    )
    outsider = UserFactory(username="reader", role="Viewer")
    client.force_login(outsider)
    url = reverse("admin:incidents_learning_changelist")
    html = client.get(url).content.decode()
    assert "freshness monitor" in html and "Persona v3" not in html and "Restricted lesson" not in html
    assert "Persona v3" in client.get(url, {"scope": "all"}).content.decode()
    found = client.get(url, {"q": "Stale hours"}).content.decode()  # by the incident's title
    assert "freshness monitor" in found
    assert "Restricted lesson" not in client.get(url, {"q": "PII", "scope": "all"}).content.decode()
