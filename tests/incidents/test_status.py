import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.constants import IncidentState
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


# --- One status vocabulary: the page, the feed and the public drafts say the same word ---

OPEN_WORDS = {
    IncidentState.DETECTED: "Investigating",
    IncidentState.TRIAGED: "Investigating",
    IncidentState.CONTAINED: "Identified",
    IncidentState.INVESTIGATING: "Identified",
    IncidentState.FIXED: "Monitoring",
    IncidentState.VERIFIED: "Monitoring",
    IncidentState.POSTMORTEM: "Monitoring",
}


def move_to(incident, state, at=None):
    """Put an incident in a state as its transitions would have left it (the guards are tested elsewhere)."""
    stamp = {f"{state}_at": at or timezone.now()} if state != IncidentState.DETECTED else {}
    type(incident).objects.filter(pk=incident.pk).update(state=state, **stamp)
    incident.refresh_from_db()
    return incident


def group(html, name):
    """The HTML of the page's "ongoing" or "resolved" group, or "" when the page has none."""
    marker = f'id="{name}"'
    if marker not in html:
        return ""
    rest = html[html.index(marker) :]
    other = 'id="resolved"' if name == "ongoing" else 'id="ongoing"'
    return rest[: rest.index(other)] if other in rest else rest


def feed_entries(client):
    root = ET.fromstring(client.get("/status/feed.atom").content)  # noqa: S314 - our own feed, in a test
    return {
        e.findtext(f"{ATOM}title"): {
            "summary": e.findtext(f"{ATOM}summary") or "",
            "categories": [c.get("term") for c in e.findall(f"{ATOM}category")],
            "updated": e.findtext(f"{ATOM}updated"),
        }
        for e in root.findall(f"{ATOM}entry")
    }


@pytest.fixture
def announced(open_incident, commander, legal):
    incident = open_incident(title="INTERNAL-TITLE")
    publish(incident, commander, legal, "Answers in Assistant are wrong", "We are looking into it.")
    return incident


def test_a_verified_incident_is_ongoing_and_monitoring_on_the_page_in_the_feed_and_in_its_next_update(
    client, announced, commander
):
    move_to(announced, IncidentState.VERIFIED)

    html = client.get(reverse("status-page")).content.decode()
    assert "No ongoing incidents" not in html and "We are working on an ongoing incident." in html
    ongoing = group(html, "ongoing")
    assert "Answers in Assistant are wrong" in ongoing and "Monitoring" in ongoing
    assert "Resolved" not in html and group(html, "resolved") == ""

    entry = feed_entries(client)["Answers in Assistant are wrong"]
    assert "Current status: <strong>Monitoring</strong>" in entry["summary"]
    assert entry["categories"] == ["Monitoring"]

    draft = communication_create(incident_id=announced.pk, audience="public", actor=commander)
    assert draft.subject.endswith(": Monitoring") and "**Current status:** Monitoring." in draft.body


@pytest.mark.parametrize("state", list(OPEN_WORDS))
def test_every_open_incident_is_ongoing_with_the_word_its_public_update_uses(client, announced, commander, state):
    move_to(announced, state)
    word = OPEN_WORDS[state]

    html = client.get(reverse("status-page")).content.decode()
    ongoing = group(html, "ongoing")
    assert "Answers in Assistant are wrong" in ongoing
    assert f'<div class="status {word.lower()}">{word}</div>' in ongoing
    assert "No ongoing incidents" not in html and "Resolved" not in html
    assert feed_entries(client)["Answers in Assistant are wrong"]["categories"] == [word]

    draft = communication_create(incident_id=announced.pk, audience="public", actor=commander)
    assert draft.subject.endswith(f": {word}") and f"**Current status:** {word}." in draft.body


def test_only_a_closed_incident_is_resolved_and_its_feed_entry_is_updated_when_it_closes(
    client, announced, open_incident, commander, legal
):
    still_open = open_incident(title="Other")
    publish(still_open, commander, legal, "Slow answers in Search", "Looking into it.")
    move_to(still_open, IncidentState.POSTMORTEM)
    sent_before_closing = feed_entries(client)["Answers in Assistant are wrong"]["updated"]
    move_to(announced, IncidentState.CLOSED, at=timezone.now() + timedelta(hours=2))

    html = client.get(reverse("status-page")).content.decode()
    resolved, ongoing = group(html, "resolved"), group(html, "ongoing")
    assert "Answers in Assistant are wrong" in resolved and '<div class="status resolved">Resolved</div>' in resolved
    assert "Slow answers in Search" in ongoing and "Monitoring" in ongoing and "Resolved" not in ongoing
    assert html.index('id="ongoing"') < html.index('id="resolved"')

    entries = feed_entries(client)
    closed = entries["Answers in Assistant are wrong"]
    assert closed["categories"] == ["Resolved"] and "Current status: <strong>Resolved</strong>" in closed["summary"]
    assert closed["updated"] > sent_before_closing  # feed readers see the entry change
    assert entries["Slow answers in Search"]["categories"] == ["Monitoring"]

    move_to(still_open, IncidentState.CLOSED)
    html = client.get(reverse("status-page")).content.decode()
    assert "No ongoing incidents." in html and group(html, "ongoing") == ""


def test_an_announced_incident_dismissed_later_stays_as_resolved(client, announced):
    """What the public was told about is not silently taken back: it ends as Resolved."""
    move_to(announced, IncidentState.DISMISSED)
    html = client.get(reverse("status-page")).content.decode()
    assert "Answers in Assistant are wrong" in html and group(html, "ongoing") == ""
    assert "Answers in Assistant are wrong" in group(html, "resolved")
    assert [e["categories"] for e in feed_entries(client).values()] == [["Resolved"]]


def test_the_page_runs_a_fixed_number_of_queries_with_ongoing_and_resolved_incidents(
    client, open_incident, commander, legal, django_assert_max_num_queries
):
    for n, state in enumerate([IncidentState.TRIAGED, IncidentState.VERIFIED, IncidentState.CLOSED] * 2):
        incident = open_incident(title=f"Incident {n}")
        publish(incident, commander, legal, f"Update {n}", "Text.")
        move_to(incident, state)
    with django_assert_max_num_queries(3):
        html = client.get(reverse("status-page")).content.decode()
    assert group(html, "ongoing").count('class="incident"') == 4
    assert group(html, "resolved").count('class="incident"') == 2
    with django_assert_max_num_queries(2):
        assert len(feed_entries(client)) == 6
