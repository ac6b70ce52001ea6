"""Kill switches over OFREP: shapes, cohorts, ETag, errors, and a real OpenFeature SDK as the client."""

import json

import pytest
from django.core.cache import cache

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import ContainmentType
from incidents.models import KillSwitch
from incidents.services import api_token_create, hotcache
from incidents.services.flags import killswitch_set, killswitch_set_cohort_rules


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    hotcache.clear()
    yield
    cache.clear()
    hotcache.clear()


def evaluate(client, token, key, context=None, **extra):
    body = json.dumps({"context": context or {}})
    return client.post(
        f"/ofrep/v1/evaluate/flags/{key}",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **extra,
    )


def bulk(client, token, context=None, **extra):
    return client.post(
        "/ofrep/v1/evaluate/flags",
        data=json.dumps({"context": context or {}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **extra,
    )


def test_single_evaluation_has_the_ofrep_shape(client, flags_token, feature):
    response = evaluate(client, flags_token, feature.kill_switch_key, {"targetingKey": "user-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == feature.kill_switch_key and body["value"] is True
    assert body["reason"] == "STATIC" and body["variant"] == "on"
    assert body["metadata"]["feature"] == feature.key


def test_flag_off_answers_false_at_once(client, flags_token, feature, commander, committed):
    assert evaluate(client, flags_token, feature.kill_switch_key).json()["value"] is True  # now cached
    committed(killswitch_set, feature=feature, is_on=False, reason="harmful answers", actor=commander)
    body = evaluate(client, flags_token, feature.kill_switch_key).json()
    assert body["value"] is False and body["reason"] == "DISABLED"


def test_unknown_flag_is_404_flag_not_found(client, flags_token, db):
    response = evaluate(client, flags_token, "no-such-flag")
    assert response.status_code == 404
    assert response.json() == {
        "key": "no-such-flag",
        "errorCode": "FLAG_NOT_FOUND",
        "errorDetails": "No kill switch has the key 'no-such-flag'.",
    }


@pytest.mark.parametrize(
    "body, code",
    [
        ("{not json", "PARSE_ERROR"),
        ("[1, 2]", "PARSE_ERROR"),
        ('{"context": "plan=free"}', "INVALID_CONTEXT"),
    ],
)
def test_bad_body_is_400(client, flags_token, feature, body, code):
    response = client.post(
        f"/ofrep/v1/evaluate/flags/{feature.kill_switch_key}",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {flags_token}",
    )
    assert response.status_code == 400 and response.json()["errorCode"] == code
    assert response.json()["key"] == feature.kill_switch_key


def test_missing_bad_or_wrong_scope_token(client, feature):
    url = f"/ofrep/v1/evaluate/flags/{feature.kill_switch_key}"
    assert client.post(url, data="{}", content_type="application/json").status_code == 401
    assert (
        client.post(url, data="{}", content_type="application/json", HTTP_AUTHORIZATION="Bearer fl_nope").status_code
        == 401
    )
    _, alerts_only = api_token_create(name="am", scopes=["alerts"])
    assert evaluate(client, alerts_only, feature.kill_switch_key).status_code == 403
    assert client.get(url).status_code == 405


def test_cohort_rule_restricts_free_users_only(client, flags_token, feature, commander, committed):
    committed(
        killswitch_set_cohort_rules,
        feature=feature,
        rules=[{"attribute": "plan", "values": ["free"], "enabled": False}],
        reason="leak limited to the free tier",
        actor=commander,
    )
    free = evaluate(client, flags_token, feature.kill_switch_key, {"targetingKey": "u", "plan": "free"}).json()
    paid = evaluate(client, flags_token, feature.kill_switch_key, {"targetingKey": "u", "plan": "pro"}).json()
    assert (free["value"], free["reason"]) == (False, "TARGETING_MATCH")
    assert (paid["value"], paid["reason"]) == (True, "STATIC")


def test_bulk_with_etag_and_304(client, flags_token, feature, commander, committed):
    first = bulk(client, flags_token, {"targetingKey": "u"})
    assert first.status_code == 200
    flags = {f["key"]: f for f in first.json()["flags"]}
    assert flags[feature.kill_switch_key]["value"] is True
    etag = first["ETag"]
    again = bulk(client, flags_token, {"targetingKey": "u"}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    committed(killswitch_set, feature=feature, is_on=False, reason="contain", actor=commander)
    changed = bulk(client, flags_token, {"targetingKey": "u"}, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert {f["key"]: f for f in changed.json()["flags"]}[feature.kill_switch_key]["value"] is False
    assert bulk(client, flags_token, "nope").status_code == 400


def test_containment_flag_off_flips_the_switch_and_lifting_turns_it_on(
    client, flags_token, open_incident, commander, committed
):
    incident = open_incident()
    key = incident.feature.kill_switch_key
    action = committed(
        services.containment_record,
        incident_id=incident.pk,
        action_type=ContainmentType.FEATURE_FLAG_OFF,
        actor=commander,
    )
    assert evaluate(client, flags_token, key).json()["value"] is False
    assert incident.timeline.filter(text__startswith=f"Kill switch {key} is now OFF").exists()
    committed(services.containment_revert, action_id=action.pk, reason="fix deployed", actor=commander)
    assert evaluate(client, flags_token, key).json()["value"] is True
    log = list(ActionLogEntry.objects.filter(target_type="incidents.killswitch").order_by("id"))
    assert [(e.before["is_on"], e.after["is_on"], e.after["reason"]) for e in log] == [
        (True, False, f"containment of {incident.reference}"),
        (False, True, "fix deployed"),
    ]


def test_restrict_cohort_containment_serves_targeting(client, flags_token, open_incident, commander, committed):
    incident = open_incident()
    committed(
        services.containment_record,
        incident_id=incident.pk,
        action_type=ContainmentType.RESTRICT_COHORT,
        parameters={"cohort": "plan=free,trial"},
        actor=commander,
    )
    key = incident.feature.kill_switch_key
    assert evaluate(client, flags_token, key, {"plan": "trial"}).json()["value"] is False
    assert evaluate(client, flags_token, key, {"plan": "enterprise"}).json()["value"] is True


def test_flipping_needs_a_reason_and_permission(feature, commander, viewer):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(ValidationError):
        killswitch_set(feature=feature, is_on=False, reason=" ", actor=commander)
    with pytest.raises(PermissionDenied):
        killswitch_set(feature=feature, is_on=False, reason="x", actor=viewer)
    assert not KillSwitch.objects.filter(feature=feature, is_on=False).exists()


def test_webhook_is_told_with_a_per_feature_signature(feature, commander, settings, django_capture_on_commit_callbacks):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from incidents.channels import feature_webhook_secret, webhook_signature
    from incidents.services.flags import killswitch_for

    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        switch = killswitch_for(feature)
        switch.webhook_url = f"http://127.0.0.1:{server.server_port}/flags"
        switch.save()
        with django_capture_on_commit_callbacks(execute=True):
            killswitch_set(feature=feature, is_on=False, reason="contain", actor=commander)
    finally:
        server.shutdown()
        server.server_close()
    headers, body = received[0]
    assert json.loads(body)["enabled"] is False and json.loads(body)["flag"] == feature.kill_switch_key
    expected = webhook_signature(feature_webhook_secret(feature.key), headers["X-Fireline-Timestamp"], body)
    assert headers["X-Fireline-Signature"] == expected
    assert expected != webhook_signature(
        feature_webhook_secret("another-feature"), headers["X-Fireline-Timestamp"], body
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_openfeature_sdk_reads_the_kill_switch(live_server, commander, feature):
    from openfeature import api
    from openfeature.contrib.provider.ofrep import OFREPProvider
    from openfeature.evaluation_context import EvaluationContext

    _, raw = api_token_create(name="sdk", scopes=["flags"])
    api.set_provider(OFREPProvider(live_server.url, headers_factory=lambda: {"Authorization": f"Bearer {raw}"}))
    client = api.get_client()
    context = EvaluationContext(targeting_key="user-7", attributes={"plan": "free"})
    try:
        assert client.get_boolean_value(feature.kill_switch_key, False, context) is True
        killswitch_set_cohort_rules(
            feature=feature,
            rules=[{"attribute": "plan", "values": ["free"], "enabled": False}],
            reason="free tier",
            actor=commander,
        )
        details = client.get_boolean_details(feature.kill_switch_key, True, context)
        assert details.value is False and details.reason == "TARGETING_MATCH"
        killswitch_set(feature=feature, is_on=False, reason="all off", actor=commander)
        paid = EvaluationContext(targeting_key="user-8", attributes={"plan": "pro"})
        assert client.get_boolean_value(feature.kill_switch_key, True, paid) is False
    finally:
        api.shutdown()


def test_a_revoked_token_stops_at_once(client, flags_token, feature, superuser):
    from incidents.models import ApiToken

    assert evaluate(client, flags_token, feature.kill_switch_key).status_code == 200  # scopes now cached
    client.force_login(superuser)
    client.post(
        "/admin/incidents/apitoken/",
        {"action": "revoke", "_selected_action": list(ApiToken.objects.values_list("pk", flat=True))},
    )
    client.logout()
    assert evaluate(client, flags_token, feature.kill_switch_key).status_code == 401
