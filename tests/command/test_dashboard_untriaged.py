"""The command centre's untriaged tile counts what nobody has triaged yet (open, real, in Detected,
whatever severity it was declared with) and matches the list it links to; regulatory obligations are
listed by deadline, "clock not started" last."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from incidents.models import DeadlineRule, Regime
from incidents.services.regulatory import reportability_decide
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def untriaged_tile(body: str) -> tuple[int, str]:
    match = re.search(r'id="tile-untriaged"\s+href="([^"]+)">\s*<b>(\d+)</b><span>untriaged open', body)
    assert match, "no untriaged tile on the command centre"
    return int(match.group(2)), match.group(1).replace("&amp;", "&")


def test_untriaged_counts_detected_incidents_whatever_their_severity(client, superuser, feature):
    declared_sev2 = IncidentFactory(feature=feature, severity="SEV2", state="detected", commander=None)
    no_severity = IncidentFactory(feature=feature, severity="", state="detected", commander=None)
    IncidentFactory(feature=feature, severity="SEV2", state="triaged", commander=superuser)
    IncidentFactory(feature=feature, severity="SEV3", state="detected", is_drill=True)  # a drill: not counted
    IncidentFactory(feature=feature, severity="", state="dismissed")  # not open
    client.force_login(superuser)
    count, link = untriaged_tile(client.get("/admin/").content.decode())
    assert count == 2
    listed = client.get(link)
    assert listed.status_code == 200
    assert {i.pk for i in listed.context["cl"].result_list} == {declared_sev2.pk, no_severity.pk}


def test_sev2_tile_matches_its_list_too(client, superuser, feature):
    sev2 = IncidentFactory(feature=feature, severity="SEV2", state="investigating")
    IncidentFactory(feature=feature, severity="SEV2", state="investigating", is_drill=True)
    client.force_login(superuser)
    body = client.get("/admin/").content.decode()
    match = re.search(r'href="([^"]*severity__exact=SEV2[^"]*)">\s*<b>(\d+)</b>', body)
    assert match and int(match.group(2)) == 1
    listed = client.get(match.group(1).replace("&amp;", "&"))
    assert [i.pk for i in listed.context["cl"].result_list] == [sev2.pk]


def test_the_untriaged_come_right_after_sev1_on_the_board(client, superuser, feature):
    IncidentFactory(feature=feature, severity="SEV2", state="investigating", title="being fixed")
    IncidentFactory(feature=feature, severity="SEV3", state="detected", title="nobody looked yet")
    IncidentFactory(feature=feature, severity="SEV1", state="contained", title="on fire")
    client.force_login(superuser)
    centre = client.get("/admin/").context["centre"]
    assert [i.title for i in centre.open_incidents] == ["on fire", "nobody looked yet", "being fixed"]


def test_incident_page_lists_obligations_by_deadline_clock_not_started_last(
    client, open_incident, commander, time_machine
):
    t0 = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
    time_machine.move_to(t0 + timedelta(hours=1), tick=False)
    incident = open_incident(detected_at=t0)
    reportability_decide(
        incident_id=incident.pk, regimes=[Regime.objects.get(code="nis2-23")], reason="Significant.", actor=commander
    )
    rules = {o.rule.name: o.deadline for o in incident.regulatory_obligations.select_related("rule")}
    assert None in rules.values() and len(rules) >= 3  # NIS2's final report waits for the notification
    client.force_login(commander)
    body = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    card = body[body.index('id="regulatory"') :]
    shown = sorted(rules, key=lambda name: card.index(f"<b>{name}</b>"))
    with_deadline = [n for n in shown if rules[n] is not None]
    assert shown == sorted(with_deadline, key=lambda n: rules[n]) + [n for n in rules if rules[n] is None]
    # the follow-ups that open later (on request, when still ongoing) are not owed yet
    assert DeadlineRule.objects.filter(regime__code="nis2-23", opens_on="decision").count() == len(rules)
