import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from incidents import services
from incidents.services.communications import (
    communication_approve,
    communication_create,
    communication_send,
    communication_submit,
    communication_update,
)

ATOM = "{http://www.w3.org/2005/Atom}"


def publish(incident, commander, legal, subject, body, send=True):
    c = communication_create(incident_id=incident.pk, audience="public", actor=commander)
    communication_update(communication_id=c.pk, changes={"subject": subject, "body": body}, actor=commander)
    communication_submit(communication_id=c.pk, actor=commander)
    communication_approve(communication_id=c.pk, actor=legal)
    if send:
        communication_send(communication_id=c.pk, actor=commander)
    return c


@pytest.fixture
def public_world(open_incident, commander, legal):
    shown = open_incident(title="INTERNAL-TITLE-Alice")
    services.incident_update(
        incident_id=shown.pk, actor=commander, changes={"summary": "INTERNAL-SUMMARY", "is_public": True}
    )
    publish(shown, commander, legal, "Assistant answers degraded", "First **update**.")
    publish(shown, commander, legal, "Fix deployed", "Second update <script>alert(1)</script>")
    publish(shown, commander, legal, "Not yet sent", "APPROVED-ONLY", send=False)
    drill = open_incident(title="Drill title")
    type(drill).objects.filter(pk=drill.pk).update(is_drill=True)
    publish(drill, commander, legal, "DRILL-UPDATE", "drill text")
    restricted = open_incident(title="RESTRICTED-TITLE")
    publish(restricted, commander, legal, "RESTRICTED-UPDATE", "restricted text")
    type(restricted).objects.filter(pk=restricted.pk).update(is_restricted=True)
    internal = communication_create(
        incident_id=shown.pk, audience="internal", recipients="t@example.com", actor=commander
    )
    communication_update(communication_id=internal.pk, changes={"body": "INTERNAL-NOTE"}, actor=commander)
    return shown


def test_status_page_shows_only_sent_public_updates(client, public_world, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        response = client.get(reverse("status-page"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Assistant answers degraded" in html and "<strong>update</strong>" in html
    assert html.index("Fix deployed") < html.index("Assistant answers degraded")  # newest first
    assert "Investigating" in html
    for secret in ("APPROVED-ONLY", "DRILL-UPDATE", "Drill title", "RESTRICTED", "INTERNAL", "<script>", "Alice"):
        assert secret not in html


def test_status_page_is_empty_without_public_updates(client, db):
    response = client.get("/status/")
    assert response.status_code == 200 and b"No incidents" in response.content


def test_atom_feed_parses_and_has_the_entries(client, public_world):
    response = client.get("/status/feed.atom")
    assert response.status_code == 200 and "atom" in response["Content-Type"]
    root = ET.fromstring(response.content)  # noqa: S314 - our own feed, in a test
    titles = [e.findtext(f"{ATOM}title") for e in root.findall(f"{ATOM}entry")]
    assert titles == ["Fix deployed", "Assistant answers degraded"]
    body = response.content.decode()
    for secret in ("APPROVED-ONLY", "DRILL", "RESTRICTED", "INTERNAL", "<script>"):
        assert secret not in body
