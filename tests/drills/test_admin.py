"""The drill pages in the admin: what the facilitator sees and does; fixed query counts."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from drills import services
from drills.constants import DrillState
from drills.models import Drill


def change_url(drill):
    return reverse("admin:drills_drill_change", args=[drill.pk])


def act_url(drill, action):
    return reverse("admin:drills_drill_act", args=[drill.pk, action])


def test_facilitator_schedules_and_starts_from_the_page(
    scheduled_drill, client, facilitator, commander, scenario, feature
):
    drill = services.drill_plan(scenario=scenario, feature=feature, facilitator=facilitator, actor=facilitator)
    client.force_login(facilitator)
    page = client.get(change_url(drill)).content.decode()
    assert 'data-transition="schedule"' in page and 'data-transition="start"' not in page
    when = (timezone.now() + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    client.post(act_url(drill, "schedule"), {"scheduled_for": when, "participants": [commander.pk]})
    drill.refresh_from_db()
    assert drill.state == DrillState.SCHEDULED
    response = client.post(act_url(drill, "start"), follow=True)
    drill.refresh_from_db()
    assert drill.state == DrillState.RUNNING and drill.incident.is_drill
    assert "participants are paged" in response.content.decode()
    # the drill incident's own page says at a glance that it is an exercise
    client.force_login(commander)
    incident_page = client.get(reverse("admin:incidents_incident_change", args=[drill.incident_id])).content.decode()
    assert 'id="drill-banner"' in incident_page and "DRILL" in incident_page


def test_a_real_incident_page_carries_no_drill_banner(client, commander, open_incident):
    client.force_login(commander)
    page = client.get(reverse("admin:incidents_incident_change", args=[open_incident().pk])).content.decode()
    assert 'id="drill-banner"' not in page


def test_bad_schedule_input_is_reported_and_changes_nothing(client, facilitator, scenario, feature):
    drill = services.drill_plan(scenario=scenario, feature=feature, facilitator=facilitator, actor=facilitator)
    client.force_login(facilitator)
    response = client.post(act_url(drill, "schedule"), {"scheduled_for": "not a date"}, follow=True)
    assert "Scheduled for" in response.content.decode()
    drill.refresh_from_db()
    assert drill.state == DrillState.PLANNED and drill.scheduled_for is None


def test_viewer_sees_the_drill_but_no_buttons_and_cannot_start_it(scheduled_drill, client, viewer):
    drill = scheduled_drill()
    client.force_login(viewer)
    page = client.get(change_url(drill))
    assert page.status_code == 200
    assert "data-transition" not in page.content.decode()
    response = client.post(act_url(drill, "start"), follow=True)
    assert "You may not run drills" in response.content.decode()
    drill.refresh_from_db()
    assert drill.state == DrillState.SCHEDULED and drill.incident is None


def test_checklist_and_score_on_the_page(running_drill, client, facilitator):
    drill = running_drill()
    services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    first, second = drill.checklist.all()[:2]
    client.force_login(facilitator)
    client.post(act_url(drill, "checklist"), {"done": [first.pk, second.pk]})
    assert drill.checklist.filter(is_done=True).count() == 2
    client.post(act_url(drill, "checklist"), {"done": [first.pk]})
    assert list(drill.checklist.filter(is_done=True)) == [first]
    response = client.post(act_url(drill, "complete"), {"debrief_notes": "ok"}, follow=True)
    drill.refresh_from_db()
    body = response.content.decode()
    assert f"score {drill.score} / 100" in body
    assert 'id="drill-score"' in body and "70 points for the six steps" in body


def _many_drills(n, scenario, feature, facilitator, commander, responder):
    for _ in range(n):
        drill = services.drill_plan(
            scenario=scenario, feature=feature, facilitator=facilitator, participants=[commander], actor=None
        )
        services.drill_schedule(
            drill_id=drill.pk,
            scheduled_for=timezone.now() + datetime.timedelta(days=5),
            participants=[commander, responder],
            actor=None,
        )
        drill = services.drill_start(drill_id=drill.pk, actor=None)
        services.drill_end_exercise(drill_id=drill.pk, actor=None)
        services.drill_complete(drill_id=drill.pk, actor=None)


@pytest.mark.parametrize("path", ["changelist", "trends"])
def test_list_pages_run_a_fixed_number_of_queries(
    path, client, facilitator, commander, responder, scenario, feature, django_assert_max_num_queries
):
    url = reverse(f"admin:drills_drill_{path}")
    client.force_login(facilitator)
    _many_drills(2, scenario, feature, facilitator, commander, responder)
    client.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    _many_drills(6, scenario, feature, facilitator, commander, responder)
    with django_assert_max_num_queries(len(small)):
        response = client.get(url)
    assert response.status_code == 200
    if path == "trends":
        assert "<svg" in response.content.decode()


def test_drill_page_queries_do_not_grow_with_checklist_gaps_and_injects(
    running_drill, client, facilitator, commander, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    drill = running_drill()
    client.force_login(facilitator)
    client.get(change_url(drill))
    with CaptureQueriesContext(connection) as small:
        client.get(change_url(drill))
    for i in range(6):
        services.drill_add_gap(
            drill_id=drill.pk,
            title=f"gap {i}",
            kind="process",
            owner=commander,
            due_date=timezone.localdate(),
            actor=facilitator,
        )
        drill.checklist.create(text=f"extra {i}")
    with django_assert_max_num_queries(len(small)):
        assert client.get(change_url(drill)).status_code == 200


def test_a_drill_planned_by_hand_in_the_admin(client, facilitator, scenario, feature, commander):
    client.force_login(facilitator)
    response = client.post(
        reverse("admin:drills_drill_add"),
        {
            "scenario": scenario.pk,
            "feature": feature.pk,
            "team": "",
            "facilitator": facilitator.pk,
            "participants": [commander.pk],
            "scheduled_for": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    drill = Drill.objects.get()
    assert drill.state == DrillState.PLANNED and list(drill.participants.all()) == [commander]
