"""`manage.py create_api_token`: prints the token once, on its last line; stores only a hash."""

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.forms.models import model_to_dict
from django.test import Client

from audit.models import ActionLogEntry
from incidents.models import ApiToken
from tests.incidents.factories import IncidentFactory


def create(*args) -> tuple[str, str]:
    """Run the command; return (its whole output, the raw token from the last line)."""
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    output = out.getvalue()
    return output, output.strip().splitlines()[-1].strip()


def api_get(url, raw):
    return Client().get(url, HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.mark.django_db
def test_prints_the_token_on_its_last_line_and_it_works():
    IncidentFactory(title="Visible to the token")

    _output, raw = create("--name", "x", "--scopes", "incidents,alerts")

    assert raw.startswith("fl_")
    assert " " not in raw
    response = api_get("/api/v1/incidents", raw)
    assert response.status_code == 200
    assert [row["title"] for row in response.json()["results"]] == ["Visible to the token"]


@pytest.mark.django_db
def test_stores_name_and_scopes():
    _output, raw = create("--name", "alertmanager-prod", "--scopes", "incidents, alerts")

    token = ApiToken.objects.get()
    assert token.name == "alertmanager-prod"
    assert sorted(token.scopes) == ["alerts", "incidents"]
    assert token.user is None
    assert token.revoked_at is None
    assert raw.startswith(token.prefix)


@pytest.mark.django_db
def test_token_without_the_incidents_scope_is_refused_by_the_incidents_api():
    _output, raw = create("--name", "alerts-only", "--scopes", "alerts")

    response = api_get("/api/v1/incidents", raw)

    assert response.status_code == 403
    assert "incidents" in response.json()["detail"]


@pytest.mark.django_db
def test_only_the_hash_of_the_token_is_stored():
    output, raw = create("--name", "x", "--scopes", "incidents,alerts")

    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = {**model_to_dict(token), "key_hash": token.key_hash, "created_at": token.created_at}
    for field, value in stored.items():
        assert raw not in str(value), f"the raw token is stored in {field}"
    # The raw token is printed only once, on the last line.
    assert output.count(raw) == 1


@pytest.mark.django_db
def test_creating_a_token_writes_an_action_log_entry():
    _output, raw = create("--name", "x", "--scopes", "incidents,alerts")

    token = ApiToken.objects.get()
    entry = ActionLogEntry.objects.get(verb="api_token_created")
    assert entry.target_type == "incidents.apitoken"
    assert entry.target_id == str(token.pk)
    assert entry.after["name"] == "x"
    assert sorted(entry.after["scopes"]) == ["alerts", "incidents"]
    # The log keeps the recognisable prefix, never the token itself.
    assert raw not in str(entry.after) + entry.target_label


@pytest.mark.django_db
def test_unknown_scope_is_an_error_naming_it_and_creates_nothing():
    with pytest.raises(CommandError, match="frobnicate"):
        create("--name", "x", "--scopes", "incidents,frobnicate")

    assert not ApiToken.objects.exists()
    assert not ActionLogEntry.objects.filter(verb="api_token_created").exists()


@pytest.mark.django_db
def test_empty_scopes_is_an_error():
    with pytest.raises(CommandError, match="scope"):
        create("--name", "x", "--scopes", " , ")

    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_blank_name_is_an_error():
    with pytest.raises(CommandError, match="--name"):
        create("--name", "  ", "--scopes", "incidents")

    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_unknown_user_is_an_error_and_creates_nothing():
    with pytest.raises(CommandError, match="nosuchuser"):
        create("--name", "x", "--scopes", "incidents", "--user", "nosuchuser")

    assert not ApiToken.objects.exists()
    assert not ActionLogEntry.objects.filter(verb="api_token_created").exists()


@pytest.mark.django_db
def test_token_for_a_user_gets_that_users_visibility(commander, feature):
    secret = IncidentFactory(feature=feature, is_restricted=True, commander=commander)

    _output, raw = create("--name", "cmdr-script", "--scopes", "incidents", "--user", "cmdr")

    assert ApiToken.objects.get().user == commander
    assert api_get(f"/api/v1/incidents/{secret.pk}", raw).status_code == 200


@pytest.mark.django_db
def test_token_without_user_does_not_see_restricted_incidents(commander, feature):
    secret = IncidentFactory(feature=feature, is_restricted=True, commander=commander)

    _output, raw = create("--name", "anonymous-script", "--scopes", "incidents")

    assert api_get(f"/api/v1/incidents/{secret.pk}", raw).status_code == 404


@pytest.mark.django_db
def test_each_run_makes_a_distinct_token():
    _o1, first = create("--name", "a", "--scopes", "incidents")
    _o2, second = create("--name", "b", "--scopes", "incidents")

    assert first != second
    assert ApiToken.objects.count() == 2
    assert api_get("/api/v1/incidents", first).status_code == 200
    assert api_get("/api/v1/incidents", second).status_code == 200
