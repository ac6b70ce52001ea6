"""The export buttons in the admin: on the incident page, each communication and each regulatory obligation."""

from django.urls import reverse

from incidents.constants import Audience, Category
from incidents.models import CommunicationState, Regime
from incidents.services.postmortems import postmortem_create
from incidents.services.regulatory import reportability_decide
from tests.conftest import fresh
from tests.incidents.exports.test_pdf_documents import communication
from tests.incidents.factories import UserFactory


def incident_page(client, incident):
    return client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))


def test_incident_page_has_the_export_group(client, open_incident, commander):
    incident = open_incident()
    client.force_login(commander)
    html = incident_page(client, incident).content.decode()
    summary = reverse("summary-pdf", args=[incident.pk])
    assert 'id="export"' in html
    assert f'href="{summary}"' in html
    assert f'href="{summary}?variant=public"' in html and f'href="{summary}?archive=1"' in html
    assert reverse("postmortem-pdf", args=[incident.pk]) not in html  # no post-mortem yet
    postmortem_create(incident_id=incident.pk, actor=commander)
    html = incident_page(client, incident).content.decode()
    postmortem = reverse("postmortem-pdf", args=[incident.pk])
    assert f'href="{postmortem}"' in html and f'href="{postmortem}?variant=public"' in html
    assert f'href="{postmortem}?archive=1"' in html


def test_incident_page_links_each_obligation_and_each_approved_or_sent_communication(client, open_incident, commander):
    incident = open_incident()
    reportability_decide(
        incident_id=incident.pk,
        regimes=[Regime.objects.get(code="eu-ai-act-73"), Regime.objects.get(code="nis2-23")],
        reason="Serious incident.",
        actor=commander,
    )
    sent = communication(incident, Audience.PUBLIC, subject="Public note")
    draft = communication(incident, Audience.INTERNAL, state=CommunicationState.DRAFT, subject="Draft note")
    client.force_login(commander)
    html = incident_page(client, incident).content.decode()
    assert reverse("regulator-pdf", args=[incident.pk, "eu-ai-act-73"]) in html
    assert reverse("regulator-pdf", args=[incident.pk, "nis2-23"]) in html
    assert reverse("communication-pdf", args=[incident.pk, sent.pk]) in html
    assert reverse("communication-pdf", args=[incident.pk, draft.pk]) not in html
    assert "PDF after approval" in html


def test_no_buttons_for_who_cannot_see_the_incident(client, open_incident):
    leak = open_incident(category=Category.DATA_LEAK)
    client.force_login(fresh(UserFactory(username="outsider", role="Incident Commander")))
    response = incident_page(client, leak)
    assert response.status_code in (302, 404)
    assert reverse("summary-pdf", args=[leak.pk]) not in response.content.decode()


def test_incident_page_queries_do_not_grow_with_communications(
    client, open_incident, commander, django_assert_max_num_queries
):
    incident = open_incident()
    client.force_login(commander)
    counts = []
    for size in (2, 8):
        while incident.communications.count() < size:
            communication(incident, Audience.INTERNAL, subject=f"Update {incident.communications.count()}")
        incident_page(client, incident)  # warm caches (content types, permissions)
        with django_assert_max_num_queries(120) as captured:
            assert incident_page(client, incident).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1], counts


def test_communication_admin_links_the_pdf_once_approved(client, open_incident, commander):
    incident = open_incident()
    sent = communication(incident, Audience.PUBLIC, subject="Public note")
    draft = communication(incident, Audience.INTERNAL, state=CommunicationState.DRAFT, subject="Draft")
    client.force_login(commander)
    url = reverse("admin:incidents_communication_changelist")
    html = client.get(url).content.decode()
    assert reverse("communication-pdf", args=[incident.pk, sent.pk]) in html
    assert reverse("communication-pdf", args=[incident.pk, draft.pk]) not in html and "after approval" in html
    page = client.get(reverse("admin:incidents_communication_change", args=[sent.pk])).content.decode()
    assert reverse("communication-pdf", args=[incident.pk, sent.pk]) in page


def changelist_queries(client, url, django_assert_max_num_queries) -> int:
    client.get(url)
    with django_assert_max_num_queries(60) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_changelists_with_pdf_links_run_the_same_queries_at_two_sizes(
    client, open_incident, commander, django_assert_max_num_queries
):
    client.force_login(commander)
    comm_url = reverse("admin:incidents_communication_changelist")
    obligation_url = reverse("admin:incidents_regulatoryobligation_changelist")
    counts = []
    for _ in range(2):
        incident = open_incident()
        for n in range(3):
            communication(incident, Audience.INTERNAL, subject=f"Update {n}")
        reportability_decide(
            incident_id=incident.pk,
            regimes=[Regime.objects.get(code="nis2-23")],
            reason="Significant incident.",
            actor=commander,
        )
        counts.append(
            (
                changelist_queries(client, comm_url, django_assert_max_num_queries),
                changelist_queries(client, obligation_url, django_assert_max_num_queries),
            )
        )
    assert counts[0] == counts[1], counts
    html = client.get(obligation_url).content.decode()
    assert reverse("regulator-pdf", args=[incident.pk, "nis2-23"]) in html
