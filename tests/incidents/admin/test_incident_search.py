"""An incident is found by its reference (INC-12, inc-12, 12) as well as by title words, in the incident
list search and in the admin's autocomplete; restricted incidents stay hidden from outsiders."""

import json

import pytest
from django.urls import reverse

from incidents.constants import Category
from tests.conftest import fresh
from tests.incidents.factories import UserFactory


def changelist_titles(client, term):
    response = client.get(reverse("admin:incidents_incident_changelist"), {"q": term})
    assert response.status_code == 200
    return [row.title for row in response.context["cl"].result_list]


def autocomplete_texts(client, term):
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "incidents", "model_name": "incident", "field_name": "duplicate_of", "term": term},
    )
    assert response.status_code == 200
    return [r["text"] for r in json.loads(response.content)["results"]]


@pytest.fixture
def incidents(open_incident):
    first = open_incident(title="Bot quoted a competitor's prices")
    second = open_incident(title="Summaries invent refund policy")
    return first, second


@pytest.mark.parametrize("form", ["INC-{pk}", "inc-{pk}", "{pk}", " INC-{pk} ", "#{pk}"])
def test_reference_finds_the_incident_in_list_and_autocomplete(client, commander, incidents, form):
    _, second = incidents
    term = form.format(pk=second.pk)
    client.force_login(commander)
    assert changelist_titles(client, term) == [second.title]
    assert [t for t in autocomplete_texts(client, term) if second.title in t]
    assert not [t for t in autocomplete_texts(client, term) if "competitor" in t]


def test_title_words_still_find_it(client, commander, incidents):
    first, _ = incidents
    client.force_login(commander)
    assert changelist_titles(client, "competitor") == [first.title]
    assert any(first.title in t for t in autocomplete_texts(client, "competitor"))


def test_reference_does_not_reveal_a_restricted_incident(client, open_incident, legal):
    leak = open_incident(title="Leaked customer addresses", category=Category.DATA_LEAK)
    assert leak.is_restricted
    outsider = fresh(UserFactory(username="other-cmdr", role="Incident Commander"))
    client.force_login(outsider)
    for term in (f"INC-{leak.pk}", str(leak.pk)):
        assert changelist_titles(client, term) == []
        assert not any("Leaked" in t for t in autocomplete_texts(client, term))
    client.force_login(legal)
    assert changelist_titles(client, f"inc-{leak.pk}") == [leak.title]
    assert any("Leaked" in t for t in autocomplete_texts(client, f"inc-{leak.pk}"))


def test_a_reference_too_large_for_the_database_finds_nothing(client, commander, incidents):
    client.force_login(commander)
    assert changelist_titles(client, "INC-" + "9" * 40) == []
