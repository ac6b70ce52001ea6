"""The incident page as a commander uses it: buttons, reasons, containment, timeline, bad input."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from incidents import services
from incidents.constants import ContainmentType
from incidents.models import Incident
from tests.incidents.factories import IncidentFactory


def page(incident):
    return reverse("admin:incidents_incident_change", args=[incident.pk])


def post_transition(client, incident, name, **data):
    data.setdefault("expected_state", incident.state)
    return client.post(reverse("admin:incidents_incident_transition", args=[incident.pk, name]), data)


def said(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def logged_in(client, commander):
    client.force_login(commander)
    return client


def test_page_shows_state_severity_clocks_checklist_and_buttons(logged_in, open_incident):
    incident = open_incident()
    response = logged_in.get(page(incident))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="incident-state">Detected<' in html and 'id="incident-severity">SEV3<' in html
    assert "Since detection" in html and "Time to contain" in html and "Time open" in html
    assert "Playbook: Detect and triage" in html
    assert 'data-transition="triage"' in html and 'data-transition="dismiss"' in html
    assert 'data-transition="close"' not in html


def test_a_button_moves_the_incident_and_reports_it(logged_in, open_incident):
    incident = open_incident()
    response = post_transition(logged_in, incident, "triage")
    assert response.status_code == 302
    assert Incident.objects.get(pk=incident.pk).state == "triaged"
    assert any("moved on" in m for m in said(response))


def test_a_failed_guard_says_why_and_changes_nothing(logged_in, open_incident, commander):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    incident.refresh_from_db()
    html = logged_in.get(page(incident)).content.decode()
    assert "Record an active containment action first" in html
    response = post_transition(logged_in, incident, "contain")
    assert any("active containment" in m for m in said(response))
    assert Incident.objects.get(pk=incident.pk).state == "triaged"


def test_a_stale_page_is_told_to_reload(logged_in, open_incident, commander):
    incident = open_incident()
    stale_state = incident.state
    services.incident_triage(incident_id=incident.pk, actor=commander)
    response = post_transition(logged_in, incident, "dismiss", expected_state=stale_state, dismiss_reason="false_alarm")
    assert any("changed since you opened it" in m for m in said(response))
    assert Incident.objects.get(pk=incident.pk).state == "triaged"


def test_viewer_sees_no_buttons_and_cannot_post_one(client, viewer, open_incident):
    incident = open_incident()
    client.force_login(viewer)
    html = client.get(page(incident)).content.decode()
    assert "data-transition=" not in html and "containment-form" not in html
    response = post_transition(client, incident, "triage")
    assert any("may not" in m for m in said(response))
    assert Incident.objects.get(pk=incident.pk).state == "detected"


def test_unknown_transition_is_404(logged_in, open_incident):
    assert post_transition(logged_in, open_incident(), "explode").status_code == 404


def test_containment_form_records_and_rejects_missing_parameters(logged_in, open_incident, commander):
    incident = open_incident()
    url = reverse("admin:incidents_incident_containment", args=[incident.pk])
    bad = logged_in.post(url, {"action_type": ContainmentType.ROLLBACK, "from_version": "v2"})
    assert any("To version: required for roll back" in m for m in said(bad))
    assert not incident.containment_actions.exists()
    good = logged_in.post(
        url,
        {
            "action_type": ContainmentType.ROLLBACK,
            "from_version": "v2",
            "to_version": "v1",
            "is_reversible": "on",
            "approved_by": commander.pk,
        },
    )
    assert any("recorded" in m for m in said(good))
    action = incident.containment_actions.get()
    assert action.parameters == {"from_version": "v2", "to_version": "v1"} and action.approved_by == commander
    html = logged_in.get(page(incident)).content.decode()
    assert "ACTIVE" in html and "from version: v2" in html


def test_lifting_containment_needs_a_reason(logged_in, open_incident, commander):
    incident = open_incident()
    action = services.containment_record(
        incident_id=incident.pk, action_type=ContainmentType.FEATURE_FLAG_OFF, actor=commander
    )
    url = reverse("admin:incidents_incident_revert", args=[incident.pk, action.pk])
    logged_in.post(url, {"reason": ""})
    action.refresh_from_db()
    assert action.is_active
    logged_in.post(url, {"reason": "fixed upstream"})
    action.refresh_from_db()
    assert not action.is_active and action.revert_reason == "fixed upstream"


def test_timeline_note_with_its_own_time_and_sanitized_text(logged_in, open_incident):
    incident = open_incident()
    url = reverse("admin:incidents_incident_timeline", args=[incident.pk])
    logged_in.post(
        url, {"text": "Model version changed **at 02:00** <script>alert(1)</script>", "occurred_at": "2020-01-02 02:00"}
    )
    note = incident.timeline.get(kind="note")
    assert note.occurred_at.year == 2020 and note.occurred_at.hour == 2
    html = logged_in.get(page(incident)).content.decode()
    assert "<strong>at 02:00</strong>" in html
    assert "<script>alert(1)</script>" not in html
    bad = logged_in.post(url, {"text": "", "occurred_at": "yesterday"})
    assert any("Text:" in m and "Occurred at:" in m for m in said(bad))


def test_add_form_opens_an_incident_through_the_service(logged_in, feature, commander):
    response = logged_in.post(
        reverse("admin:incidents_incident_add"),
        {
            "title": "Refund agent looped",
            "summary": "",
            "feature": feature.pk,
            "detection_signal": "monitoring_alert",
            "category": "unauthorized_action",
            "users_affected": "20",
            "commander": commander.pk,
            "detected_at_0": "2026-11-29",
            "detected_at_1": "01:00:00",
            "severity_override": "",
            "severity_override_reason": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    incident = Incident.objects.get(title="Refund agent looped")
    assert incident.severity == "SEV2" and incident.created_by == commander
    assert incident.timeline.filter(kind="opened").exists()


def test_add_form_names_the_field_in_error(logged_in, feature, commander):
    response = logged_in.post(
        reverse("admin:incidents_incident_add"),
        {
            "title": "",
            "feature": feature.pk,
            "detection_signal": "user_report",
            "category": "harmful_output",
            "users_affected": "-3",
            "severity_override": "SEV1",
            "severity_override_reason": "",
            "detected_at_0": "2026-11-29",
            "detected_at_1": "01:00:00",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"title", "users_affected", "severity_override_reason"} <= set(errors)
    assert not Incident.objects.exists()


@pytest.mark.parametrize("count", [10, 200])
def test_changelist_query_count_does_not_grow(logged_in, feature, count, django_assert_max_num_queries):
    IncidentFactory.create_batch(count, feature=feature)
    with django_assert_max_num_queries(11):
        response = logged_in.get(reverse("admin:incidents_incident_changelist"), {"all": ""})
    assert response.status_code == 200


@pytest.mark.parametrize("entries", [10, 200])
def test_incident_page_query_count_does_not_grow(
    logged_in, open_incident, commander, entries, django_assert_max_num_queries
):
    incident = open_incident()
    for i in range(entries):
        services.timeline_add_note(incident_id=incident.pk, text=f"note {i}", actor=commander)
    for _ in range(entries // 10):
        services.containment_record(
            incident_id=incident.pk,
            action_type=ContainmentType.FEATURE_FLAG_OFF,
            actor=commander,
            approved_by=commander,
        )
    # the command panel, plus 4 for the investigation cards (findings, evidence, what changed),
    # plus 2 for the action items card (the items with their owners, the owner choices),
    # plus 3 for the Paging card's "can anyone be paged" (the policy, the triage cell, the contacts' roles)
    with django_assert_max_num_queries(39):  # a fixed number, whatever the timeline, ledger and communications hold
        response = logged_in.get(page(incident))
    assert response.status_code == 200
