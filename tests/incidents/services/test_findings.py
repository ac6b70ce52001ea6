"""Findings: the root-cause layer and what was found; the root cause feeds the "Mark fixed" guard."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import Category, ContainmentType, RootCauseLayer
from incidents.models import CommonFinding, Finding, Incident, TimelineEntry, guards
from incidents.services import finding_record, transition_blockers
from tests.conftest import fresh
from tests.incidents.factories import UserFactory

ROOT_CAUSE_BLOCKER = guards.has_root_cause.failure


@pytest.fixture
def investigating(open_incident, commander):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.containment_record(
        incident_id=incident.pk,
        action_type=ContainmentType.FEATURE_FLAG_OFF,
        parameters={},
        description="",
        approved_by=None,
        is_reversible=True,
        actor=commander,
    )
    services.incident_contain(incident_id=incident.pk, actor=commander)
    services.incident_investigate(incident_id=incident.pk, actor=commander)
    return Incident.objects.get(pk=incident.pk)


def record(incident, actor, **kwargs):
    kwargs.setdefault("layer", RootCauseLayer.MODEL)
    kwargs.setdefault("common_finding", CommonFinding.MODEL_UPGRADE)
    kwargs.setdefault("text", "model-2 answers refund questions with made-up policies")
    kwargs.setdefault("is_root_cause", False)
    return finding_record(incident_id=incident.pk, actor=actor, **kwargs)


def test_a_root_cause_finding_feeds_the_fixed_guard(investigating, responder):
    assert ROOT_CAUSE_BLOCKER in transition_blockers(investigating, "mark_fixed")
    record(investigating, responder, is_root_cause=False)
    investigating.refresh_from_db()
    assert ROOT_CAUSE_BLOCKER in transition_blockers(investigating, "mark_fixed")

    finding = record(investigating, responder, is_root_cause=True)
    investigating.refresh_from_db()
    assert investigating.root_cause_layer == RootCauseLayer.MODEL
    assert investigating.root_cause == (
        "A model upgrade changed behaviour. model-2 answers refund questions with made-up policies"
    )
    assert ROOT_CAUSE_BLOCKER not in transition_blockers(investigating, "mark_fixed")
    services.incident_update(
        incident_id=investigating.pk,
        actor=responder,
        changes={"fix_layer": RootCauseLayer.MODEL, "fix_description": "Rolled back to model-1"},
    )
    services.incident_mark_fixed(incident_id=investigating.pk, actor=responder)
    assert Incident.objects.get(pk=investigating.pk).state == "fixed"
    assert finding.is_root_cause


def test_only_one_finding_is_the_root_cause(investigating, responder):
    first = record(investigating, responder, is_root_cause=True)
    second = record(
        investigating,
        responder,
        layer=RootCauseLayer.RETRIEVAL,
        common_finding=CommonFinding.RETRIEVAL_UNEXPECTED,
        text="The refund article was outdated",
        is_root_cause=True,
    )
    first.refresh_from_db()
    assert not first.is_root_cause and second.is_root_cause
    investigating.refresh_from_db()
    assert investigating.root_cause_layer == RootCauseLayer.RETRIEVAL
    unmarked = ActionLogEntry.objects.get(target_type="incidents.finding", target_id=str(first.pk), verb="changed")
    assert unmarked.before == {"is_root_cause": True} and unmarked.after == {"is_root_cause": False}


def test_a_finding_is_logged_and_on_the_timeline(investigating, responder):
    finding = record(
        investigating,
        responder,
        layer=RootCauseLayer.PROMPT,
        common_finding=CommonFinding.OTHER,
        text="The new system prompt drops the refund rule",
    )
    entry = ActionLogEntry.objects.get(target_type="incidents.finding", target_id=str(finding.pk))
    assert entry.verb == "created" and entry.after["layer"] == "prompt" and entry.incident_id == investigating.pk
    assert TimelineEntry.objects.filter(
        incident=investigating, text="Finding (prompt): The new system prompt drops the refund rule"
    ).exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"text": "   "}, "text"), ({"layer": "vibes"}, "layer"), ({"common_finding": "bad luck"}, "common_finding")],
)
def test_bad_findings_are_refused(investigating, responder, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        record(investigating, responder, **kwargs)
    assert field in exc.value.message_dict
    assert not Finding.objects.exists()


def test_viewer_may_not_record_findings(investigating, viewer):
    with pytest.raises(PermissionDenied):
        record(investigating, viewer)
    assert not Finding.objects.exists()


def test_outsiders_of_a_restricted_incident_cannot_record_findings(open_incident, commander):
    leak = open_incident(category=Category.DATA_LEAK)
    outsider = fresh(UserFactory(username="other-resp", role="Responder"))
    with pytest.raises(Incident.DoesNotExist):
        record(leak, outsider)


def test_closed_incidents_take_no_findings(open_incident, commander):
    incident = open_incident()
    services.incident_dismiss(incident_id=incident.pk, reason="false_alarm", actor=commander)
    with pytest.raises(ValidationError):
        record(incident, commander)


# --- on the incident page -----------------------------------------------------------------------


def page(incident):
    return reverse("admin:incidents_incident_change", args=[incident.pk])


def test_the_findings_card_records_a_root_cause(client, investigating, responder):
    client.force_login(responder)
    html = client.get(page(investigating)).content.decode()
    assert 'id="finding-form"' in html and "Moderation missed a pattern" in html
    response = client.post(
        reverse("admin:incidents_incident_finding", args=[investigating.pk]),
        {
            "layer": "moderation",
            "common_finding": "moderation_missed",
            "text": "The <b>filter</b> missed refund scams",
            "is_root_cause": "on",
        },
        follow=True,
    )
    html = response.content.decode()
    assert "Finding recorded as the root cause." in html
    assert "ROOT CAUSE" in html and "<b>filter</b>" not in html
    investigating.refresh_from_db()
    assert investigating.root_cause_layer == "moderation"


def test_viewer_sees_the_findings_but_no_form_and_cannot_post(client, investigating, viewer, responder):
    record(investigating, responder)
    client.force_login(viewer)
    html = client.get(page(investigating)).content.decode()
    assert 'id="findings"' in html and "made-up policies" in html and 'id="finding-form"' not in html
    response = client.post(
        reverse("admin:incidents_incident_finding", args=[investigating.pk]),
        {"layer": "model", "common_finding": "other", "text": "I think it is the model"},
        follow=True,
    )
    assert "You may not record findings." in response.content.decode()
    assert Finding.objects.count() == 1


def test_an_incomplete_form_says_what_is_missing(client, investigating, responder):
    client.force_login(responder)
    response = client.post(
        reverse("admin:incidents_incident_finding", args=[investigating.pk]),
        {"layer": "", "common_finding": "other", "text": ""},
        follow=True,
    )
    html = response.content.decode()
    assert "Finding not recorded." in html and "Layer:" in html
    assert not Finding.objects.exists()
