"""Findings, action items and regulatory decisions and submissions over the API."""

import datetime

import pytest
from django.utils import timezone

from incidents.constants import Category
from incidents.models import ActionItem, Incident, RegulatoryObligation

from .test_incident_writes import LIST_URL, call, declare, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def billing(db):
    from tests.incidents.factories import AIFeatureFactory

    return AIFeatureFactory(key="billing-bot", name="Billing assistant")


@pytest.fixture
def incident(commander, billing):
    body = {"title": "Leak", "feature": "billing-bot", "category": Category.DATA_LEAK, "impact": "regulatory"}
    return Incident.objects.get(pk=declare(token_for(commander), body).json()["id"])


def test_a_finding_marked_root_cause_sets_the_incidents_root_cause(commander, incident):
    raw = token_for(commander)
    response = call(
        "post",
        f"{LIST_URL}/{incident.pk}/findings",
        raw,
        {"layer": "retrieval", "text": "The index lost its tenant filter.", "is_root_cause": True},
    )
    assert response.status_code == 201, response.content
    incident.refresh_from_db()
    assert incident.root_cause_layer == "retrieval" and "tenant filter" in incident.root_cause
    bad = call("post", f"{LIST_URL}/{incident.pk}/findings", raw, {"layer": "vibes", "text": ""})
    assert bad.status_code == 400 and {"layer", "text"} <= set(bad.json()["errors"])


def test_an_action_item_is_added_and_completed_by_its_owner(commander, incident):
    raw = token_for(commander)
    due = (timezone.localdate() + datetime.timedelta(days=14)).isoformat()
    body = {"title": "Tenant filter in the retriever", "kind": "prevent", "owner": commander.username, "due_date": due}
    made = call("post", f"{LIST_URL}/{incident.pk}/action-items", raw, body)
    assert made.status_code == 201, made.content
    done = call("post", f"{LIST_URL}/{incident.pk}/action-items/{made.json()['id']}/actions/complete", raw, {})
    assert done.status_code == 200 and done.json()["state"] == "done"
    assert ActionItem.objects.get(pk=made.json()["id"]).state == "done"
    past = call("post", f"{LIST_URL}/{incident.pk}/action-items", raw, {**body, "due_date": "2001-01-01"})
    assert past.status_code == 400 and "due_date" in past.json()["errors"]


def test_legal_decides_gdpr_applies_and_records_the_submission(legal, incident):
    raw = token_for(legal)
    aware = timezone.now() - datetime.timedelta(hours=2)
    response = call(
        "post",
        f"{LIST_URL}/{incident.pk}/reportability-decisions",
        raw,
        {
            "regimes": ["gdpr-33"],
            "reason": "Personal data of customers exposed to other customers.",
            "triggers": {"awareness": {"at": aware.isoformat(), "evidence": "The on-call acknowledged the alert."}},
        },
    )
    assert response.status_code == 201, response.content
    obligations = RegulatoryObligation.objects.filter(pk__in=response.json()["obligations"])
    assert obligations.exists()
    first = obligations.order_by("deadline").first()
    assert abs(first.deadline - (aware + datetime.timedelta(hours=72))) < datetime.timedelta(minutes=1)  # Art. 33(1)
    submitted = call(
        "post",
        f"{LIST_URL}/{incident.pk}/obligations/{first.pk}/submission",
        raw,
        {"submitted_to": "The DPA", "reference": "N-1"},
    )
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["state"] == "submitted" and submitted.json()["submission_reference"] == "N-1"


def test_an_unknown_regime_or_trigger_is_refused_by_name(legal, incident):
    raw = token_for(legal)
    url = f"{LIST_URL}/{incident.pk}/reportability-decisions"
    assert "regimes" in call("post", url, raw, {"regimes": ["mars"], "reason": "x"}).json()["errors"]
    bad = call("post", url, raw, {"regimes": ["gdpr-33"], "reason": "x", "triggers": {"vibes": {"at": "x"}}})
    assert bad.status_code == 400 and "triggers" in bad.json()["errors"]
    assert not RegulatoryObligation.objects.filter(incident=incident).exists()


def test_a_communications_lead_may_not_decide_reportability(incident):
    from tests.incidents.factories import UserFactory

    comms = UserFactory(username="comms-lead", role="Communications")
    incident.members.add(comms)  # they see the restricted incident, but the decision is not theirs
    response = call(
        "post",
        f"{LIST_URL}/{incident.pk}/reportability-decisions",
        token_for(comms),
        {"regimes": ["gdpr-33"], "reason": "x"},
    )
    assert response.status_code == 403
    assert not RegulatoryObligation.objects.filter(incident=incident).exists()
