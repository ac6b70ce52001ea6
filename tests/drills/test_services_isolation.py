"""A drill rehearses on the real workflow but touches no real metric, status page or legal clock."""

from django.db.models import Q

from drills.models import Scenario
from incidents.constants import Category
from incidents.models import Incident, Notification, RegulatoryObligation, ReportabilityDecision
from incidents.services.regulatory import privacy_proposals_due
from incidents.status import status_incidents


def test_drill_incident_is_not_a_real_incident(running_drill, open_incident):
    real = open_incident()
    drill = running_drill()
    assert list(Incident.objects.real()) == [real]
    assert drill.incident not in Incident.objects.real()


def test_data_leak_drill_opens_no_regulatory_obligation(running_drill, feature, contacts):
    scenario = Scenario.objects.get(category=Category.DATA_LEAK)
    drill = running_drill(scenario=scenario)
    privacy_proposals_due()
    assert drill.incident.is_restricted  # data leaks start restricted, drills too
    assert not ReportabilityDecision.objects.filter(incident=drill.incident).exists()
    assert not RegulatoryObligation.objects.exists()


def test_drill_never_reaches_the_status_page(running_drill, client):
    drill = running_drill()
    assert drill.incident not in status_incidents()
    response = client.get("/status/")
    assert response.status_code == 200
    assert drill.incident.title.encode() not in response.content


def test_every_message_a_drill_sends_goes_to_its_people_and_says_drill(running_drill, contacts, outsider):
    drill = running_drill()
    messages = Notification.objects.filter(Q(incident=drill.incident) | Q(dedup_key__startswith="drill-"))
    assert messages.exists()
    assert not messages.filter(recipient__startswith="outsider").exists()
    for message in messages.filter(page__isnull=False):
        assert message.subject.startswith("[DRILL]")
