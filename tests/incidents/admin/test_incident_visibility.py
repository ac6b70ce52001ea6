"""Restricted incidents are invisible to everyone but members, Legal and superusers: 404, no hint."""

import json

import pytest
from django.urls import reverse

from audit.models import ActionLogEntry
from incidents.constants import Category
from tests.conftest import fresh
from tests.incidents.factories import UserFactory

SECRET = "Leaked addresses of customers"


@pytest.fixture
def leak(open_incident, commander):
    return open_incident(title=SECRET, category=Category.DATA_LEAK)


@pytest.fixture
def outsider(db):
    # a fellow commander, who is not on this incident
    return fresh(UserFactory(username="other-cmdr", role="Incident Commander"))


def admin_pages(incident):
    return [
        reverse("admin:incidents_incident_change", args=[incident.pk]),
        reverse("admin:incidents_incident_history", args=[incident.pk]),
    ]


def test_leak_is_restricted_and_hidden_from_other_commanders(client, leak, outsider):
    client.force_login(outsider)
    changelist = client.get(reverse("admin:incidents_incident_changelist"))
    assert changelist.status_code == 200 and SECRET.encode() not in changelist.content
    search = client.get(reverse("admin:incidents_incident_changelist"), {"q": "Leaked"})
    assert SECRET.encode() not in search.content and b"0 incidents" in search.content
    for url in admin_pages(leak):
        response = client.get(url)
        # the admin redirects to its index with a "doesn't exist" message for a missing object
        assert response.status_code in (302, 404), url
        if response.status_code == 302:
            assert response.url == reverse("admin:index")
    post = client.post(
        reverse("admin:incidents_incident_transition", args=[leak.pk, "triage"]), {"expected_state": "detected"}
    )
    assert post.status_code == 404
    leak.refresh_from_db()
    assert leak.state == "detected"


def test_missing_and_hidden_look_the_same(client, leak, outsider):
    client.force_login(outsider)
    hidden = client.get(reverse("admin:incidents_incident_change", args=[leak.pk]), follow=True)
    missing = client.get(reverse("admin:incidents_incident_change", args=[999999]), follow=True)

    def seen(response):
        said = [
            str(m).replace(f"“{leak.pk}”", "“ID”").replace("“999999”", "“ID”") for m in response.context["messages"]
        ]
        return response.redirect_chain[-1][0], response.status_code, said

    assert seen(hidden) == seen(missing)
    assert SECRET.encode() not in hidden.content


def test_autocomplete_hides_restricted_incidents(client, leak, outsider, open_incident):
    open_incident(title="Leaked nothing, just slow")
    client.force_login(outsider)
    # autocomplete is asked for on behalf of a field that points at incidents: Incident.duplicate_of
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "incidents", "model_name": "incident", "field_name": "duplicate_of", "term": "Leaked"},
    )
    assert response.status_code == 200
    texts = [r["text"] for r in json.loads(response.content)["results"]]
    assert any("Leaked nothing" in t for t in texts)
    assert not any(SECRET in t for t in texts)


@pytest.mark.parametrize("who", ["commander", "member", "legal", "superuser"])
def test_insiders_see_it(client, leak, who, legal, superuser):
    users = {"commander": leak.commander, "legal": legal, "superuser": superuser}
    if who == "member":
        users["member"] = fresh(UserFactory(username="member", role="Responder"))
        leak.members.add(users["member"])
    client.force_login(users[who])
    assert SECRET.encode() in client.get(reverse("admin:incidents_incident_changelist")).content
    page = client.get(reverse("admin:incidents_incident_change", args=[leak.pk]))
    assert page.status_code == 200 and SECRET.encode() in page.content


def test_action_log_hides_entries_about_restricted_incidents(client, leak, outsider, legal, open_incident):
    open_incident(title="Visible one")
    assert ActionLogEntry.objects.filter(incident=leak).exists()
    client.force_login(outsider)
    page = client.get(reverse("admin:audit_actionlogentry_changelist"))
    assert page.status_code == 403 or SECRET.encode() not in page.content
    search = client.get(reverse("admin:audit_actionlogentry_changelist"), {"q": "Leaked"})
    assert search.status_code == 403 or SECRET.encode() not in search.content
    client.force_login(legal)
    assert SECRET.encode() in client.get(reverse("admin:audit_actionlogentry_changelist")).content


def test_history_of_a_restricted_incident_is_hidden(client, leak, outsider):
    client.force_login(outsider)
    response = client.get(reverse("admin:incidents_incident_history", args=[leak.pk]))
    assert response.status_code == 404


def test_feature_counts_do_not_reveal_restricted_incidents(client, leak, outsider):
    client.force_login(outsider)
    page = client.get(reverse("admin:incidents_aifeature_changelist"))
    assert page.status_code == 200
    assert page.context["cl"].result_list[0].open_count == 0
