"""Writing incidents over the API: declare, edit and transitions, through the admin's own services."""

import json

import pytest
from django.test import Client

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import Category, ContainmentType, DetectionSignal
from incidents.models import Incident, KillSwitch
from incidents.services import api_token_create
from integrations.models import IdempotentRequest
from tests.incidents.factories import AIFeatureFactory, UserFactory, make_contact

LIST_URL = "/api/v1/incidents"


def token_for(user, scopes=("incidents",)) -> str:
    return api_token_create(name=f"automation-{getattr(user, 'username', 'none')}", scopes=list(scopes), user=user)[1]


def call(method, url, raw, body=None, **headers):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    extra["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    client = Client()
    if body is None:
        return getattr(client, method)(url, **extra)
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json", **extra)


@pytest.fixture
def billing(db):
    return AIFeatureFactory(key="billing-bot", name="Billing assistant")


@pytest.fixture
def cmdr_token(commander):
    return token_for(commander)


DECLARE = {
    "title": "Billing assistant shows other customers' invoices",
    "feature": "billing-bot",
    "category": Category.DATA_LEAK,
    "impact": "regulatory",
    "users_affected": 1200,
}


def declare(raw, body=None, **headers):
    return call("post", LIST_URL, raw, body or DECLARE, **headers)


def test_declare_opens_the_incident_as_the_admin_does_and_logs_the_tokens_user(cmdr_token, commander, billing):
    response = declare(cmdr_token)
    assert response.status_code == 201, response.content
    body = response.json()
    incident = Incident.objects.get(pk=body["id"])
    assert body["reference"] == incident.reference and body["severity"] == "SEV1"  # from the triage matrix
    assert incident.is_restricted and incident.commander == commander  # data leaks are restricted
    assert response["Location"] == f"/api/v1/incidents/{incident.pk}"
    assert response["ETag"]
    assert incident.timeline.filter(kind="opened").exists()
    assert ActionLogEntry.objects.filter(actor=commander, target_id=str(incident.pk)).exists()


def test_a_token_that_acts_for_no_one_may_not_write(billing):
    response = declare(token_for(None))
    assert response.status_code == 403
    assert "acts for no one" in response.json()["detail"]
    assert not Incident.objects.exists()


def test_a_user_without_the_permission_is_refused_naming_it(billing):
    viewer = UserFactory(username="vic", role="Viewer")
    response = declare(token_for(viewer))
    assert response.status_code == 403
    assert "incidents.add_incident" in response.json()["detail"]
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"feature": "no-such-feature"}, "feature"),
        ({"title": ""}, "title"),
        ({"category": "vibes"}, "category"),
        ({"users_affected": -1}, "users_affected"),
        ({"commander": "nobody"}, "commander"),
        ({"severity_override": "SEV1", "severity_override_reason": ""}, "severity_override_reason"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_creates_nothing(cmdr_token, billing, change, field):
    response = declare(cmdr_token, {**DECLARE, **change})
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Incident.objects.exists()


def test_not_json_is_415_and_nothing_is_created(cmdr_token, billing):
    response = Client().post(
        LIST_URL, data="title=x", content_type="text/plain", HTTP_AUTHORIZATION=f"Bearer {cmdr_token}"
    )
    assert response.status_code == 415
    assert not Incident.objects.exists()


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(cmdr_token, billing):
    first = declare(cmdr_token, **{"Idempotency-Key": "7c1f0b9e"})
    again = declare(cmdr_token, **{"Idempotency-Key": "7c1f0b9e"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert Incident.objects.count() == 1
    other = declare(cmdr_token, {**DECLARE, "title": "Something else"}, **{"Idempotency-Key": "7c1f0b9e"})
    assert other.status_code == 422
    assert Incident.objects.count() == 1
    assert declare(cmdr_token, **{"Idempotency-Key": "another"}).status_code == 201
    assert Incident.objects.count() == 2


def test_a_refused_write_keeps_no_idempotency_record(cmdr_token, billing):
    assert declare(cmdr_token, {**DECLARE, "feature": "nope"}, **{"Idempotency-Key": "k1"}).status_code == 400
    assert not IdempotentRequest.objects.exists()
    assert declare(cmdr_token, **{"Idempotency-Key": "k1"}).status_code == 201


@pytest.fixture
def incident(cmdr_token, billing):
    body = {**DECLARE, "category": Category.HARMFUL_OUTPUT, "impact": "limited", "users_affected": 3}
    return Incident.objects.get(pk=declare(cmdr_token, body).json()["id"])


def transitions_url(incident, name=""):
    return f"{LIST_URL}/{incident.pk}/transitions" + (f"/{name}" if name else "")


def test_transitions_list_what_the_user_may_do_with_blockers_in_words(cmdr_token, incident):
    response = call("get", transitions_url(incident), cmdr_token)
    assert response.status_code == 200
    options = {o["name"]: o for o in response.json()}
    assert options["triage"]["allowed"] is True
    assert "dismiss" in options


def test_a_guard_that_stops_a_transition_is_409_with_its_text(cmdr_token, incident):
    assert call("post", transitions_url(incident, "triage"), cmdr_token, {}).json()["state"] == "triaged"
    response = call("post", transitions_url(incident, "contain"), cmdr_token, {})
    assert response.status_code == 409
    assert any("active containment" in b for b in response.json()["blockers"])
    assert Incident.objects.get(pk=incident.pk).state == "triaged"


def test_a_step_that_needs_a_reason_is_400_without_one(cmdr_token, incident):
    call("post", transitions_url(incident, "triage"), cmdr_token, {})
    response = call("post", transitions_url(incident, "investigate_without_containment"), cmdr_token, {"reason": ""})
    assert response.status_code == 400 and "reason" in response.json()["errors"]
    response = call(
        "post",
        transitions_url(incident, "investigate_without_containment"),
        cmdr_token,
        {"reason": "A SEV3 for three users: the prompt fix is faster than a rollback."},
    )
    assert response.status_code == 200 and response.json()["state"] == "investigating"


def test_if_match_with_an_old_etag_is_412_and_changes_nothing(cmdr_token, incident):
    etag = call("get", f"{LIST_URL}/{incident.pk}", cmdr_token)["ETag"]
    moved = call("post", transitions_url(incident, "triage"), cmdr_token, {}, **{"If-Match": etag})
    assert moved.status_code == 200 and moved["ETag"] != etag
    stale = call("patch", f"{LIST_URL}/{incident.pk}", cmdr_token, {"title": "Renamed"}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert Incident.objects.get(pk=incident.pk).title != "Renamed"
    fresh = call("patch", f"{LIST_URL}/{incident.pk}", cmdr_token, {"title": "Renamed"}, **{"If-Match": moved["ETag"]})
    assert fresh.status_code == 200 and fresh.json()["title"] == "Renamed"


def test_patch_refuses_fields_that_cannot_be_edited(cmdr_token, incident):
    response = call("patch", f"{LIST_URL}/{incident.pk}", cmdr_token, {"state": "closed", "severity": "SEV4"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"state", "severity"}
    assert Incident.objects.get(pk=incident.pk).state == "detected"


def test_unknown_transition_is_404(cmdr_token, incident):
    assert call("post", transitions_url(incident, "teleport"), cmdr_token, {}).status_code == 404


def test_a_restricted_incident_is_404_to_a_user_who_may_not_see_it(cmdr_token, billing):
    leak = Incident.objects.get(pk=declare(cmdr_token).json()["id"])
    outsider = token_for(UserFactory(username="other-cmdr", role="Incident Commander"))
    for method, url, body in [
        ("get", f"{LIST_URL}/{leak.pk}", None),
        ("patch", f"{LIST_URL}/{leak.pk}", {"title": "x"}),
        ("get", transitions_url(leak), None),
        ("post", transitions_url(leak, "triage"), {}),
    ]:
        response = call(method, url, outsider, body)
        assert response.status_code == 404, (method, url)
        assert "Billing" not in response.content.decode()
    assert Incident.objects.get(pk=leak.pk).state == "detected"


def test_dismiss_over_the_api_lifts_the_kill_switch_it_held(cmdr_token, incident, commander):
    services.containment_record(
        incident_id=incident.pk, action_type=ContainmentType.FEATURE_FLAG_OFF, actor=commander, description="off"
    )
    action = incident.containment_actions.get()
    switch = KillSwitch.objects.get(feature=incident.feature)
    assert switch.is_on is False
    response = call(
        "post",
        transitions_url(incident, "dismiss"),
        cmdr_token,
        {
            "dismiss_reason": "false_alarm",
            "reason": "A load test pointed at production.",
            "containment": {str(action.pk): {"decision": "lift", "reason": "false alarm"}},
            "pages": {str(p.pk): "cancel" for p in incident.pages.all()},
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "dismissed"
    switch.refresh_from_db()
    assert switch.is_on is True


def test_declare_defaults_to_internal_discovery(cmdr_token, billing):
    body = declare(cmdr_token, {**DECLARE, "category": Category.HARMFUL_OUTPUT, "impact": "limited"}).json()
    assert body["detection_signal"] == DetectionSignal.INTERNAL_DISCOVERY


# --- sub-resources ---------------------------------------------------------------------------------------


def test_a_note_joins_the_timeline_in_the_users_name(cmdr_token, incident, commander):
    response = call("post", f"{LIST_URL}/{incident.pk}/notes", cmdr_token, {"text": "Pulled the transcripts."})
    assert response.status_code == 201, response.content
    assert response.json()["actor"] == commander.username
    assert incident.timeline.filter(kind="note", text="Pulled the transcripts.", actor=commander).exists()
    empty = call("post", f"{LIST_URL}/{incident.pk}/notes", cmdr_token, {"text": "   "})
    assert empty.status_code == 400 and "text" in empty.json()["errors"]


def test_containment_is_recorded_then_lifted_and_the_switch_follows(cmdr_token, incident):
    url = f"{LIST_URL}/{incident.pk}/containment"
    bad = call("post", url, cmdr_token, {"action_type": ContainmentType.ROLLBACK})
    assert bad.status_code == 400 and {"from_version", "to_version"} <= set(bad.json()["errors"])
    assert not incident.containment_actions.exists()
    made = call("post", url, cmdr_token, {"action_type": ContainmentType.FEATURE_FLAG_OFF, "description": "off"})
    assert made.status_code == 201, made.content
    switch = KillSwitch.objects.get(feature=incident.feature)
    assert switch.is_on is False
    no_reason = call("post", f"{url}/{made.json()['id']}/lift", cmdr_token, {})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    lifted = call("post", f"{url}/{made.json()['id']}/lift", cmdr_token, {"reason": "false alarm"})
    assert lifted.status_code == 200 and lifted.json()["is_active"] is False
    switch.refresh_from_db()
    assert switch.is_on is True
    assert call("post", f"{url}/999999/lift", cmdr_token, {"reason": "x"}).status_code == 404


def test_a_responder_without_the_permission_cannot_contain(incident, billing):
    comms = UserFactory(username="comms", role="Communications")
    response = call(
        "post", f"{LIST_URL}/{incident.pk}/containment", token_for(comms), {"action_type": "feature_flag_off"}
    )
    assert response.status_code == 403
    assert "containment" in response.json()["detail"]
    assert not incident.containment_actions.exists()


def test_a_page_is_acknowledged_over_the_api(cmdr_token, incident):
    page = incident.pages.first()
    if page is None:  # no contact for this severity on a fresh install: page someone
        from incidents.services.escalation import incident_page

        make_contact(name="Ana", role="engineering_on_call", email="a@example.com")
        page = incident_page(incident=incident, reason="test", severity="SEV1")[0]
    response = call("post", f"{LIST_URL}/{incident.pk}/pages/{page.pk}/acknowledge", cmdr_token, {})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "acknowledged" and response.json()["acknowledged_via"] == "api"


def test_a_body_over_the_write_limit_is_413_and_creates_nothing(cmdr_token, billing):
    huge = {**DECLARE, "summary": "x" * (1024 * 1024 + 10)}
    response = declare(cmdr_token, huge)
    assert response.status_code == 413
    assert "at most" in response.json()["detail"]
    assert not Incident.objects.exists()
