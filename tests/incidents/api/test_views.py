"""The read-only incidents API: bearer tokens and scopes, listing and filters, visibility, OpenAPI."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.constants import Category, IncidentState, Severity
from incidents.services import api_token_create
from tests.incidents.factories import AIFeatureFactory, IncidentFactory, UserFactory

LIST_URL = "/api/v1/incidents"


def detail_url(pk) -> str:
    return f"/api/v1/incidents/{pk}"


def make_token(*, scopes=("incidents",), user=None, name="test-token") -> str:
    _token, raw = api_token_create(name=name, scopes=list(scopes), user=user)
    return raw


def get(url, raw=None, **params):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw is not None else {}
    return Client().get(url, params, **extra)


def result_ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def raw(db):
    """A token with the incidents scope and no user."""
    return make_token()


# --- authentication and scopes ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", [LIST_URL, detail_url(1)])
def test_missing_token_is_401_json_with_www_authenticate(url):
    response = Client().get(url)

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]
    assert response["WWW-Authenticate"].lower().startswith("bearer")


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Bearer", "Bearer two parts", "Basic dXNlcjpwYXNz", "Token abc"])
def test_malformed_or_foreign_authorization_header_is_401_json(header):
    response = Client().get(LIST_URL, HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]


@pytest.mark.django_db
def test_unknown_token_is_401_json(raw):
    response = get(LIST_URL, raw + "x")

    assert response.status_code == 401
    assert "Invalid or revoked token" in response.json()["detail"]


@pytest.mark.django_db
def test_revoked_token_is_401_json(superuser):
    token, raw = api_token_create(name="revoke-me", scopes=["incidents"])
    assert get(LIST_URL, raw).status_code == 200  # and now cached

    admin = Client()
    admin.force_login(superuser)
    admin.post("/admin/incidents/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    response = get(LIST_URL, raw)

    assert response.status_code == 401
    assert "Invalid or revoked token" in response.json()["detail"]


@pytest.mark.django_db
def test_a_token_revoked_or_deleted_outside_the_admin_action_stops_at_once():
    token, raw = api_token_create(name="revoke-me-too", scopes=["incidents"])
    assert get(LIST_URL, raw).status_code == 200
    token.revoked_at = timezone.now()
    token.save()
    assert get(LIST_URL, raw).status_code == 401
    other, other_raw = api_token_create(name="delete-me", scopes=["incidents"])
    assert get(LIST_URL, other_raw).status_code == 200
    other.delete()
    assert get(LIST_URL, other_raw).status_code == 401


@pytest.mark.django_db
def test_token_of_deactivated_user_is_401(viewer):
    raw = make_token(user=viewer)
    assert get(LIST_URL, raw).status_code == 200

    viewer.is_active = False
    viewer.save(update_fields=["is_active"])

    assert get(LIST_URL, raw).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("url", [LIST_URL, detail_url(1)])
def test_token_without_incidents_scope_is_403_naming_the_scope(url):
    raw = make_token(scopes=["alerts", "reports"])

    response = get(url, raw)

    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert "'incidents'" in response.json()["detail"]


@pytest.mark.django_db
def test_use_of_a_token_is_recorded():
    token, raw = api_token_create(name="used", scopes=["incidents"])
    assert token.last_used_at is None

    get(LIST_URL, raw)

    token.refresh_from_db()
    assert token.last_used_at is not None


# --- list: order, pagination, filters -----------------------------------------------------------


@pytest.mark.django_db
def test_list_is_newest_first(raw, feature):
    now = timezone.now()
    middle = IncidentFactory(feature=feature, detected_at=now - timedelta(hours=2))
    oldest = IncidentFactory(feature=feature, detected_at=now - timedelta(days=3))
    newest = IncidentFactory(feature=feature, detected_at=now - timedelta(minutes=5))

    response = get(LIST_URL, raw)

    assert response.status_code == 200
    assert result_ids(response) == [newest.pk, middle.pk, oldest.pk]


@pytest.mark.django_db
def test_list_is_paginated_with_limit_and_offset(raw, feature):
    now = timezone.now()
    incidents = [IncidentFactory(feature=feature, detected_at=now - timedelta(minutes=i)) for i in range(5)]

    first = get(LIST_URL, raw, limit=2)
    second = get(LIST_URL, raw, limit=2, offset=2)
    last = get(LIST_URL, raw, limit=2, offset=4)

    assert first.json()["count"] == 5
    assert result_ids(first) == [incidents[0].pk, incidents[1].pk]
    assert result_ids(second) == [incidents[2].pk, incidents[3].pk]
    assert result_ids(last) == [incidents[4].pk]
    assert first.json()["next"] and "offset=2" in first.json()["next"]
    assert first.json()["previous"] is None
    assert last.json()["next"] is None


@pytest.mark.django_db
def test_list_serializes_an_incident(raw, commander, viewer, feature):
    detected = timezone.now() - timedelta(hours=1)
    incident = IncidentFactory(
        feature=feature,
        commander=commander,
        detected_at=detected,
        contained_at=detected + timedelta(minutes=30),
        state=IncidentState.CONTAINED,
        severity=Severity.SEV2,
        title="Bot leaked prompts",
    )
    incident.members.set([viewer])

    row = get(LIST_URL, raw).json()["results"][0]

    assert row["id"] == incident.pk
    assert row["reference"] == f"INC-{incident.pk}"
    assert row["title"] == "Bot leaked prompts"
    assert row["state"] == "contained"
    assert row["severity"] == "SEV2"
    assert row["feature"] == "support-bot"
    assert row["commander"] == "cmdr"
    assert row["members"] == ["watcher"]
    assert row["time_to_contain_seconds"] == 30 * 60


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("param", "value", "field", "matching", "other"),
    [
        ("state", "triaged", "state", IncidentState.TRIAGED, IncidentState.DETECTED),
        ("severity", "SEV1", "severity", Severity.SEV1, Severity.SEV3),
        ("category", "data_leak", "category", Category.DATA_LEAK, Category.HARMFUL_OUTPUT),
    ],
)
def test_list_filters_by_field(raw, feature, param, value, field, matching, other):
    wanted = IncidentFactory(feature=feature, **{field: matching})
    IncidentFactory(feature=feature, **{field: other})

    response = get(LIST_URL, raw, **{param: value})

    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert result_ids(response) == [wanted.pk]


@pytest.mark.django_db
def test_list_filters_by_feature_key(raw, feature):
    other_feature = AIFeatureFactory(key="search-summary")
    wanted = IncidentFactory(feature=feature)
    IncidentFactory(feature=other_feature)

    response = get(LIST_URL, raw, feature="support-bot")

    assert response.status_code == 200
    assert result_ids(response) == [wanted.pk]


@pytest.mark.django_db
def test_list_filters_combine(raw, feature):
    wanted = IncidentFactory(feature=feature, state=IncidentState.TRIAGED, severity=Severity.SEV1)
    IncidentFactory(feature=feature, state=IncidentState.TRIAGED, severity=Severity.SEV2)
    IncidentFactory(feature=feature, state=IncidentState.DETECTED, severity=Severity.SEV1)

    response = get(LIST_URL, raw, state="triaged", severity="SEV1")

    assert result_ids(response) == [wanted.pk]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("param", "value"),
    [("state", "bogus"), ("severity", "SEV9"), ("category", "nonsense"), ("feature", "unknown-key")],
)
def test_bad_filter_value_is_400_naming_the_field(raw, feature, param, value):
    IncidentFactory(feature=feature)

    response = get(LIST_URL, raw, **{param: value})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["detail"]
    assert list(body["errors"]) == [param]
    assert body["errors"][param] and all(isinstance(reason, str) for reason in body["errors"][param])


@pytest.mark.django_db
def test_unknown_feature_filter_says_which_key(raw):
    body = get(LIST_URL, raw, feature="unknown-key").json()

    assert "unknown-key" in body["errors"]["feature"][0]


# --- visibility -----------------------------------------------------------------------------------


@pytest.fixture
def restricted(commander, viewer, feature):
    """One open incident, and one restricted incident commanded by `commander`."""
    now = timezone.now()
    public = IncidentFactory(feature=feature, detected_at=now - timedelta(minutes=2))
    secret = IncidentFactory(
        feature=feature, is_restricted=True, commander=commander, detected_at=now - timedelta(minutes=1)
    )
    return public, secret


@pytest.mark.django_db
def test_token_without_user_sees_only_unrestricted(restricted):
    public, secret = restricted
    raw = make_token()

    listed = get(LIST_URL, raw)

    assert listed.json()["count"] == 1
    assert result_ids(listed) == [public.pk]
    assert get(detail_url(public.pk), raw).status_code == 200
    assert get(detail_url(secret.pk), raw).status_code == 404


@pytest.mark.django_db
def test_restricted_incident_hidden_from_filters_too(restricted):
    _public, _secret = restricted
    raw = make_token()

    response = get(LIST_URL, raw, feature="support-bot")

    assert response.json()["count"] == 1


@pytest.mark.django_db
def test_token_of_uninvolved_user_does_not_see_restricted(restricted, viewer, responder):
    public, secret = restricted
    secret.members.add(responder)  # someone else is a member; the viewer is not
    raw = make_token(user=viewer)

    assert result_ids(get(LIST_URL, raw)) == [public.pk]
    assert get(detail_url(secret.pk), raw).status_code == 404


@pytest.mark.django_db
def test_commander_token_sees_restricted_incident(restricted, commander):
    public, secret = restricted
    raw = make_token(user=commander)

    assert result_ids(get(LIST_URL, raw)) == [secret.pk, public.pk]
    response = get(detail_url(secret.pk), raw)
    assert response.status_code == 200
    assert response.json()["id"] == secret.pk
    assert response.json()["is_restricted"] is True


@pytest.mark.django_db
def test_member_token_sees_restricted_incident(restricted, viewer):
    public, secret = restricted
    secret.members.add(viewer)
    raw = make_token(user=viewer)

    assert result_ids(get(LIST_URL, raw)) == [secret.pk, public.pk]
    assert get(detail_url(secret.pk), raw).status_code == 200


@pytest.mark.django_db
def test_member_of_one_restricted_incident_does_not_see_another(restricted, viewer, feature):
    _public, secret = restricted
    secret.members.add(viewer)
    other = IncidentFactory(feature=feature, is_restricted=True)
    raw = make_token(user=viewer)

    assert other.pk not in result_ids(get(LIST_URL, raw))
    assert get(detail_url(other.pk), raw).status_code == 404


@pytest.mark.django_db
def test_legal_token_sees_every_restricted_incident(restricted, legal, feature):
    public, secret = restricted
    unrelated = IncidentFactory(feature=feature, is_restricted=True, detected_at=timezone.now())
    raw = make_token(user=legal)

    assert result_ids(get(LIST_URL, raw)) == [unrelated.pk, secret.pk, public.pk]
    assert get(detail_url(unrelated.pk), raw).status_code == 200


@pytest.mark.django_db
def test_superuser_token_sees_restricted_incident(restricted, superuser):
    _public, secret = restricted
    raw = make_token(user=superuser)

    assert get(detail_url(secret.pk), raw).status_code == 200


@pytest.mark.django_db
def test_hidden_restricted_incident_is_indistinguishable_from_missing(restricted):
    _public, secret = restricted
    raw = make_token()
    missing_pk = secret.pk + 1000

    hidden = get(detail_url(secret.pk), raw)
    missing = get(detail_url(missing_pk), raw)

    assert hidden.status_code == missing.status_code == 404
    assert hidden["Content-Type"].startswith("application/json")
    assert hidden["Content-Type"] == missing["Content-Type"]
    assert hidden.json()["detail"]
    assert hidden.content == missing.content


@pytest.mark.django_db
def test_detail_returns_the_incident(raw, feature, commander):
    incident = IncidentFactory(
        feature=feature, commander=commander, title="Refuses everything", category=Category.CAPABILITY_LOSS
    )

    response = get(detail_url(incident.pk), raw)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == incident.pk
    assert body["title"] == "Refuses everything"
    assert body["category"] == "capability_loss"
    assert body["commander"] == "cmdr"
    assert body["time_to_contain_seconds"] is None


# --- query counts ---------------------------------------------------------------------------------


def _make_incidents(count, members):
    now = timezone.now()
    for i in range(count):
        incident = IncidentFactory(
            commander=members[i % len(members)],
            is_restricted=bool(i % 3 == 0),
            detected_at=now - timedelta(minutes=i),
            contained_at=now,
        )
        incident.members.set(members[: 1 + i % len(members)])


def _list_queries(raw) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = get(LIST_URL, raw, limit=500)
    assert response.status_code == 200
    return len(ctx.captured_queries), len(response.json()["results"])


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["nobody", "member", "legal"])
def test_list_query_count_does_not_grow_with_incidents(who, legal):
    members = [UserFactory(username=f"member{i}") for i in range(3)]
    user = {"nobody": None, "member": members[0], "legal": legal}[who]
    raw = make_token(user=user)
    # Make the token's "last used" recent so both requests skip (or both do) that write alike.
    get(LIST_URL, raw)

    _make_incidents(10, members)
    small, small_rows = _list_queries(raw)
    _make_incidents(190, members)
    large, large_rows = _list_queries(raw)

    assert large_rows > small_rows >= 6  # the rows really were serialized
    assert large == small


# --- OpenAPI ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_openapi_schema_is_public_and_describes_incidents():
    response = Client().get("/api/schema/")

    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/incidents:" in text or '"/api/v1/incidents"' in text
    assert "/api/v1/incidents/{id}" in text


@pytest.mark.django_db
def test_openapi_schema_documents_list_filters():
    text = Client().get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()

    for name in ("state", "severity", "category", "feature", "limit", "offset"):
        assert f"name: {name}" in text or f'"name": "{name}"' in text, name


@pytest.mark.django_db
def test_api_docs_page_is_public_html():
    response = Client().get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()
    assert b"/api/schema/" in response.content


@pytest.mark.django_db
def test_openapi_schema_declares_bearer_token_auth():
    schema = Client().get("/api/schema/", {"format": "json"}).json()

    schemes = schema.get("components", {}).get("securitySchemes", {})
    bearer = [name for name, s in schemes.items() if s.get("type") == "http" and s.get("scheme") == "bearer"]
    assert bearer, schemes
    operation = schema["paths"]["/api/v1/incidents"]["get"]
    assert any(bearer[0] in requirement for requirement in operation.get("security", []))


# --- bounds and odd input -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": "117275137199307161600"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "9" * 5000}, "limit"),
        ({"offset": "117275137199307161600"}, "offset"),
        ({"offset": "-5"}, "offset"),
        ({"state": ""}, "state"),
        ({"feature": "bad\x00key"}, "feature"),
    ],
)
def test_a_page_or_filter_out_of_bounds_is_a_400_naming_it(raw, params, field):
    response = get(LIST_URL, raw, **params)
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]


@pytest.mark.django_db
def test_the_largest_page_is_served(raw, feature):
    IncidentFactory.create_batch(3, feature=feature)
    response = get(LIST_URL, raw, limit=500, offset=1)
    assert response.status_code == 200 and len(response.json()["results"]) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("pk", ["abc", "99999999999999999999999", "9223372036854775808", "%00", "1.5"])
def test_an_id_no_incident_can_have_is_a_json_404(raw, pk):
    response = get(detail_url(pk), raw)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_schema_states_the_page_bounds(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/incidents"]["get"]["parameters"]}
    assert parameters["limit"]["maximum"] == 500 and parameters["offset"]["maximum"] == 1_000_000
