"""Declaring an incident from the admin's one-screen form."""

import pytest
from django.urls import reverse

from incidents.constants import Category, DetectionSignal, IncidentState
from incidents.models import Incident
from tests.incidents.factories import UserFactory

DECLARE = reverse("admin:incidents_incident_declare")


def valid(feature, commander, **overrides):
    data = {
        "title": "Support bot told a user to mix bleach and ammonia",
        "feature": feature.pk,
        "category": Category.HARMFUL_OUTPUT,
        "impact": "public",
        "users_affected": "",
        "public_link": "",
        "detection_signal": DetectionSignal.INTERNAL_DISCOVERY,
        "commander": commander.pk,
        "severity_override": "",
        "severity_override_reason": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def logged_in(client, commander):
    client.force_login(commander)
    return client


def test_the_form_opens_with_me_as_commander_and_internal_discovery(logged_in, commander, feature):
    response = logged_in.get(DECLARE)
    assert response.status_code == 200
    form = response.context["form"]
    assert form["commander"].value() == commander.pk
    assert form["detection_signal"].value() == DetectionSignal.INTERNAL_DISCOVERY
    html = response.content.decode()
    assert f'<option value="{commander.pk}" selected>cmdr</option>' in html
    assert "Support assistant" in html
    assert 'aria-keyshortcuts="d"' in html and 'id="declare-incident"' in html


def test_the_declare_button_is_on_every_admin_page_for_who_may_declare(logged_in):
    for url in (reverse("admin:index"), reverse("admin:incidents_incident_changelist")):
        html = logged_in.get(url).content.decode()
        assert f'href="{DECLARE}"' in html
        assert "fireline/shortcuts.js" in html


def test_declaring_a_public_harmful_output_gives_sev1_and_lands_on_its_page(logged_in, commander, feature):
    response = logged_in.post(DECLARE, valid(feature, commander))
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:incidents_incident_change", args=[incident.pk])
    assert incident.severity == "SEV1"
    assert incident.is_public and incident.commander == commander and incident.created_by == commander
    assert incident.detection_signal == DetectionSignal.INTERNAL_DISCOVERY
    assert incident.state == IncidentState.DETECTED
    assert incident.timeline.filter(text__contains="triage matrix gives SEV1").exists()

    page = logged_in.get(response["Location"]).content.decode()
    assert f"{incident.reference} declared: SEV1" in page
    assert 'id="contain-now"' in page and "SEV1: contain it now" in page


def test_a_severity_override_needs_its_reason_and_is_recorded_with_it(logged_in, commander, feature):
    response = logged_in.post(DECLARE, valid(feature, commander, impact="limited", severity_override="SEV2"))
    assert response.status_code == 200
    assert response.context["form"].errors["severity_override_reason"]
    assert not Incident.objects.exists()

    logged_in.post(
        DECLARE,
        valid(
            feature,
            commander,
            impact="limited",
            severity_override="SEV2",
            severity_override_reason="A journalist asked",
        ),
    )
    incident = Incident.objects.get()
    assert incident.severity == "SEV2" and incident.severity_override_reason == "A journalist asked"


def test_bad_input_is_refused_field_by_field_and_nothing_is_created(logged_in, commander, feature):
    response = logged_in.post(
        DECLARE,
        {
            **valid(feature, commander),
            "title": "",
            "feature": "999999",
            "category": "made-up",
            "users_affected": "-3",
            "public_link": "not a link",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) >= {"title", "feature", "category", "users_affected", "public_link"}
    html = response.content.decode()
    assert "Nothing was declared" in html
    assert 'id="title-errors"' in html and 'id="public_link-errors"' in html
    assert not Incident.objects.exists()


def test_widespread_needs_a_number_of_users(logged_in, commander, feature):
    response = logged_in.post(DECLARE, valid(feature, commander, impact="widespread", users_affected="40"))
    assert "Widespread means at least" in " ".join(response.context["form"].errors["users_affected"])
    assert not Incident.objects.exists()
    logged_in.post(DECLARE, valid(feature, commander, impact="widespread", users_affected="5000"))
    assert Incident.objects.get().impact == "widespread"


def test_a_viewer_sees_no_button_and_gets_403(client, commander, feature):
    viewer = UserFactory(username="reader", role="Viewer")
    client.force_login(viewer)
    assert 'id="declare-incident"' not in client.get(reverse("admin:index")).content.decode()
    assert client.get(DECLARE).status_code == 403
    assert client.post(DECLARE, valid(feature, commander)).status_code == 403
    assert not Incident.objects.exists()
