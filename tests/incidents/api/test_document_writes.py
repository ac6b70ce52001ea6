"""Communications and post-mortems over the API: the same services, permissions and visibility as the admin."""

import pytest

from incidents.constants import Category
from incidents.models import Communication, Incident, PostMortem
from tests.incidents.factories import UserFactory
from tests.incidents.postmortem_text import WRITTEN

from .test_incident_writes import LIST_URL, call, declare, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(commander, legal):
    comms = UserFactory(username="comms-lead", role="Communications")
    return {"cmdr": token_for(commander), "legal": token_for(legal), "comms": token_for(comms)}


@pytest.fixture
def incident(people, billing):
    body = {
        "title": "Harmful advice",
        "feature": "billing-bot",
        "category": Category.HARMFUL_OUTPUT,
        "impact": "public",
    }
    return Incident.objects.get(pk=declare(people["cmdr"], body).json()["id"])


@pytest.fixture
def billing(db):
    from tests.incidents.factories import AIFeatureFactory

    return AIFeatureFactory(key="billing-bot", name="Billing assistant")


def test_an_affected_users_letter_is_drafted_edited_approved_by_legal_and_sent(people, incident):
    drafted = call("post", f"{LIST_URL}/{incident.pk}/communications", people["cmdr"], {"audience": "affected_users"})
    assert drafted.status_code == 201, drafted.content
    url = f"{LIST_URL}/{incident.pk}/communications/{drafted.json()['id']}"
    assert drafted.json()["state"] == "draft"
    edited = call(
        "patch",
        url,
        people["cmdr"],
        {"body": "Our assistant gave unsafe advice. Never mix cleaners. We fixed it.", "recipients": "a@example.com"},
    )
    assert edited.status_code == 200, edited.content
    assert call("post", f"{url}/actions/submit", people["cmdr"], {}).json()["state"] == "pending_approval"
    refused = call("post", f"{url}/actions/approve", people["cmdr"], {})
    assert refused.status_code == 403 and "Legal or Communications" in refused.json()["detail"]
    approved = call("post", f"{url}/actions/approve", people["legal"], {})
    assert approved.status_code == 200 and approved.json()["approved_by"] == "lawyer"
    sent = call("post", f"{url}/actions/send", people["cmdr"], {})
    assert sent.status_code == 200 and sent.json()["state"] == "sent"
    assert Communication.objects.get(pk=drafted.json()["id"]).sent_at is not None


def test_leftover_guidance_or_a_bad_action_is_refused_in_words(people, incident):
    drafted = call("post", f"{LIST_URL}/{incident.pk}/communications", people["cmdr"], {"audience": "internal"})
    url = f"{LIST_URL}/{incident.pk}/communications/{drafted.json()['id']}"
    submitted = call("post", f"{url}/actions/submit", people["cmdr"], {})
    assert submitted.status_code == 400  # the template's guidance is still in it
    assert Communication.objects.get(pk=drafted.json()["id"]).state == "draft"
    assert call("post", f"{url}/actions/teleport", people["cmdr"], {}).status_code == 404
    assert call("patch", url, people["cmdr"], {"state": "sent"}).status_code == 400


def test_a_post_mortem_is_written_reviewed_and_published_over_the_api(people, incident, commander):
    Incident.objects.filter(pk=incident.pk).update(state="postmortem")
    started = call("post", f"{LIST_URL}/{incident.pk}/postmortem", people["cmdr"], {})
    assert started.status_code == 201, started.content
    url = f"{LIST_URL}/{incident.pk}/postmortem"
    early = call("post", f"{url}/actions/submit", people["cmdr"], {})
    assert early.status_code == 400  # empty sections or the template's guidance
    sections = dict(WRITTEN)
    assert call("patch", url, people["cmdr"], sections).status_code == 200
    assert call("post", f"{url}/actions/submit", people["cmdr"], {}).json()["state"] == "in_review"
    for who in ("cmdr", "legal", "comms"):  # each reviewer the triage matrix names, as themselves
        response = call("post", f"{url}/actions/approve", people[who], {})
        assert response.status_code == 200, (who, response.content)
    assert PostMortem.objects.get(pk=started.json()["id"]).state == "approved"
    published = call("post", f"{url}/actions/publish", people["cmdr"], {})
    assert published.status_code == 200 and published.json()["state"] == "published"
    again = call("post", f"{LIST_URL}/{incident.pk}/postmortem", people["cmdr"], {})
    assert again.status_code == 400  # one per incident


def test_documents_of_a_restricted_incident_are_404_to_outsiders(people, billing):
    leak = Incident.objects.get(
        pk=declare(people["cmdr"], {"title": "Leak", "feature": "billing-bot", "category": "data_leak"}).json()["id"]
    )
    drafted = call("post", f"{LIST_URL}/{leak.pk}/communications", people["cmdr"], {"audience": "internal"})
    outsider = token_for(UserFactory(username="other-cmdr", role="Incident Commander"))
    url = f"{LIST_URL}/{leak.pk}/communications/{drafted.json()['id']}"
    assert call("get", url, outsider).status_code == 404
    assert call("post", f"{url}/actions/submit", outsider, {}).status_code == 404
    assert call("post", f"{LIST_URL}/{leak.pk}/communications", outsider, {"audience": "internal"}).status_code == 404
