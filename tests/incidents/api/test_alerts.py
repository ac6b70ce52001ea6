"""Alert intake: Alertmanager v4, Grafana and generic payloads; routing, dedup, recurrence, the inbox."""

import copy
import json

import pytest
from django.urls import reverse

from incidents import services
from incidents.constants import DetectionSignal, TimelineKind
from incidents.models import Alert, AlertPayload, AlertState, Incident, PayloadStatus
from incidents.services import api_token_create

ALERTMANAGER = {
    "version": "4",
    "groupKey": '{}:{alertname="RefusalRateHigh"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "fireline",
    "groupLabels": {"alertname": "RefusalRateHigh"},
    "commonLabels": {"alertname": "RefusalRateHigh", "ai_feature": "support-bot", "signal": "refusal_rate"},
    "commonAnnotations": {"summary": "Support bot refuses 35% of requests"},
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "RefusalRateHigh",
                "ai_feature": "support-bot",
                "signal": "refusal_rate",
                "region": "eu",
            },
            "annotations": {"summary": "Support bot refuses 35% of requests"},
            "startsAt": "2026-11-29T22:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph?g0.expr=refusal_rate",
            "fingerprint": "c0ffee01",
        }
    ],
}

GRAFANA = {
    "receiver": "fireline",
    "status": "firing",
    "orgId": 1,
    "groupKey": '{}/{}:{alertname="CostSpike"}',
    "groupLabels": {"alertname": "CostSpike"},
    "commonLabels": {"alertname": "CostSpike"},
    "commonAnnotations": {},
    "externalURL": "https://grafana.example/",
    "version": "1",
    "truncatedAlerts": 0,
    "title": "[FIRING:1] CostSpike",
    "state": "alerting",
    "message": "Cost per request doubled",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "CostSpike", "ai_feature": "support-bot", "signal": "cost_spike"},
            "annotations": {"summary": "Cost per request doubled"},
            "startsAt": "2026-11-29T21:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.example/alerting/grafana/x/view",
            "fingerprint": "beef0001",
            "silenceURL": "https://grafana.example/alerting/silence/new",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 2.1},
            "valueString": "[ var='B' value=2.1 ]",
        }
    ],
}


@pytest.fixture
def token(db):
    return api_token_create(name="alertmanager", scopes=["alerts"])[1]


@pytest.fixture
def bot(feature):
    assert feature.key == "support-bot"
    return feature


def post(client, token, kind, payload, content_type="application/json"):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return client.post(
        f"/api/v1/alerts/{kind}", data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def firing(fingerprint="c0ffee01", group="g1", status="firing", **labels):
    payload = copy.deepcopy(ALERTMANAGER)
    payload["groupKey"] = group
    alert = payload["alerts"][0]
    alert["fingerprint"] = fingerprint
    alert["status"] = status
    alert["labels"].update(labels)
    payload["status"] = status
    return payload


def test_alertmanager_firing_opens_a_routed_incident(client, token, bot):
    response = post(client, token, "alertmanager", ALERTMANAGER)
    assert response.status_code == 202, response.content
    body = response.json()
    assert len(body["incidents_opened"]) == 1 and body["deduplicated"] == 0 and body["inboxed"] == 0
    incident = Incident.objects.get(pk=body["incidents_opened"][0])
    assert incident.feature == bot and incident.category == "capability_loss"
    assert incident.detection_signal == DetectionSignal.MONITORING_ALERT
    assert incident.users_affected >= 1000 and incident.severity == "SEV2"  # refusal rate: widespread
    assert incident.occurred_at.isoformat().startswith("2026-11-29T22:00")
    assert incident.title == "Support bot refuses 35% of requests"
    payload = AlertPayload.objects.get(pk=body["payload_id"])
    assert payload.status == PayloadStatus.PROCESSED and json.loads(payload.body) == ALERTMANAGER


def test_grafana_payload_routes_by_its_labels(client, token, bot):
    response = post(client, token, "grafana", GRAFANA)
    assert response.status_code == 202, response.content
    incident = Incident.objects.get(pk=response.json()["incidents_opened"][0])
    assert incident.category == "scale_degradation" and incident.severity == "SEV4"


def test_generic_single_alert_and_batch(client, token, bot):
    one = post(
        client,
        token,
        "generic",
        {"name": "Latency p95 high", "labels": {"ai_feature": "support-bot", "signal": "latency_spike"}},
    )
    assert one.status_code == 202 and len(one.json()["incidents_opened"]) == 1
    batch = post(
        client,
        token,
        "generic",
        {
            "alerts": [
                {"name": "Latency p95 high", "labels": {"ai_feature": "support-bot", "signal": "latency_spike"}},
                {"name": "Unknown thing", "labels": {"team": "x"}},
            ]
        },
    )
    assert batch.json()["deduplicated"] == 1 and batch.json()["inboxed"] == 1


def test_repeated_firing_deduplicates_onto_the_open_incident(client, token, bot):
    first = post(client, token, "alertmanager", firing()).json()
    incident_id = first["incidents_opened"][0]
    for _ in range(5):
        again = post(client, token, "alertmanager", firing()).json()
        assert again["incidents_opened"] == [] and again["deduplicated"] == 1
        assert again["incidents_updated"] == [incident_id]
    incident = Incident.objects.get(pk=incident_id)
    assert incident.alert_count == 6
    repeats = incident.timeline.filter(kind=TimelineKind.ALERT, text__contains="fired again")
    assert [e.text for e in repeats] == ["Alert 'RefusalRateHigh' fired again (×5)"]


def test_two_alert_names_repeating_in_one_payload_keep_a_line_each(client, token, bot):
    def both():
        payload = firing("two-1", group="two")
        latency = copy.deepcopy(payload["alerts"][0])
        latency["fingerprint"] = "two-2"
        latency["labels"]["alertname"] = "LatencyHigh"
        payload["alerts"].append(latency)
        return payload

    incident_id = post(client, token, "alertmanager", both()).json()["incidents_opened"][0]
    for _ in range(2):
        again = post(client, token, "alertmanager", both()).json()
        assert again["deduplicated"] == 2 and again["incidents_updated"] == [incident_id]
    incident = Incident.objects.get(pk=incident_id)
    assert incident.alert_count == 6
    repeats = incident.timeline.filter(kind=TimelineKind.ALERT, text__contains="fired again").order_by("text")
    assert [e.text for e in repeats] == [
        "Alert 'LatencyHigh' fired again (×3)",
        "Alert 'RefusalRateHigh' fired again (×2)",
    ]


def test_alerts_of_one_group_go_to_one_incident(client, token, bot):
    a = post(client, token, "alertmanager", firing("fp-a", group="grp")).json()
    b = post(client, token, "alertmanager", firing("fp-b", group="grp")).json()
    assert b["incidents_opened"] == [] and b["incidents_updated"] == a["incidents_opened"]


def test_resolved_alert_adds_a_timeline_entry_and_never_closes(client, token, bot):
    incident_id = post(client, token, "alertmanager", firing()).json()["incidents_opened"][0]
    resolved = post(client, token, "alertmanager", firing(status="resolved")).json()
    assert resolved["resolved"] == 1 and resolved["incidents_updated"] == [incident_id]
    incident = Incident.objects.get(pk=incident_id)
    assert incident.state == "detected"
    assert incident.timeline.filter(text__contains="resolved (the incident stays open").exists()


def test_refire_after_close_opens_a_linked_recurrence(client, token, bot, commander):
    incident_id = post(client, token, "alertmanager", firing()).json()["incidents_opened"][0]
    services.incident_dismiss(incident_id=incident_id, reason="false_alarm", actor=commander)
    again = post(client, token, "alertmanager", firing()).json()
    assert len(again["incidents_opened"]) == 1 and again["recurrences"] == again["incidents_opened"]
    new = Incident.objects.get(pk=again["incidents_opened"][0])
    assert new.recurrence_of_id == incident_id and new.pk != incident_id
    assert new.timeline.filter(text__startswith=f"Recurrence of INC-{incident_id}").exists()


def test_a_refire_right_after_repeats_and_a_close_is_still_a_recurrence(client, token, bot, commander):
    """A storm's repeats may be planned from the keys the intake read a moment ago; a close in between counts."""
    incident_id = post(client, token, "alertmanager", firing()).json()["incidents_opened"][0]
    repeat = post(client, token, "alertmanager", firing()).json()
    assert repeat["deduplicated"] == 1 and repeat["incidents_updated"] == [incident_id]
    services.incident_dismiss(incident_id=incident_id, reason="false_alarm", actor=commander)
    again = post(client, token, "alertmanager", firing()).json()
    assert len(again["incidents_opened"]) == 1 and again["recurrences"] == again["incidents_opened"]
    assert again["deduplicated"] == 0 and again["incidents_updated"] == []
    closed = Incident.objects.get(pk=incident_id)
    assert closed.alert_count == 2 and Alert.objects.filter(incident=closed).count() == 2
    assert AlertPayload.objects.filter(status=PayloadStatus.PROCESSED).count() == 3  # each payload once


def test_unknown_feature_label_goes_to_the_inbox(client, token, bot):
    body = post(client, token, "alertmanager", firing(ai_feature="no-such-bot")).json()
    assert body["inboxed"] == 1 and body["incidents_opened"] == []
    alert = Alert.objects.get()
    assert alert.state == AlertState.INBOX
    assert "no AI feature has the key 'no-such-bot'" in alert.annotations["fireline_inbox_reason"]


def test_malformed_json_is_stored_with_its_error_and_answered_400(client, token, bot):
    response = post(client, token, "alertmanager", '{"version": "4", "alerts": [')
    assert response.status_code == 400
    body = response.json()
    assert "Not valid JSON" in body["errors"]["body"][0]
    payload = AlertPayload.objects.get(pk=body["payload_id"])
    assert payload.status == PayloadStatus.FAILED and payload.body == '{"version": "4", "alerts": ['
    assert "Not valid JSON" in payload.error


def test_a_missing_field_is_named(client, token, bot):
    bad = copy.deepcopy(ALERTMANAGER)
    del bad["alerts"][0]["labels"]
    body = post(client, token, "alertmanager", bad).json()
    assert body["errors"]["alerts"]["0"]["labels"] == ["This field is required."]
    assert "alerts[0].labels: This field is required." in AlertPayload.objects.get(pk=body["payload_id"]).error
    bad["alerts"][0]["labels"] = {}
    bad["alerts"][0]["startsAt"] = "yesterday"
    errors = post(client, token, "alertmanager", bad).json()["errors"]["alerts"]["0"]
    assert errors["labels"] == ["An alert needs at least one label."]
    assert "ISO 8601" in errors["startsAt"][0]
    assert post(client, token, "alertmanager", {**ALERTMANAGER, "version": "3"}).json()["errors"]["version"]


def test_wrong_content_type_is_415_and_kept(client, token, bot):
    response = post(client, token, "alertmanager", json.dumps(ALERTMANAGER), content_type="text/plain")
    assert response.status_code == 415 and "application/json" in response.json()["errors"]["content_type"][0]
    assert AlertPayload.objects.get().status == PayloadStatus.FAILED


@pytest.mark.parametrize(
    "escape, reason",
    [("\\u0000", "NUL character"), ("\\ud800", "lone UTF-16 surrogate"), ("\\uDFFF", "lone UTF-16 surrogate")],
)
@pytest.mark.parametrize("where", ["a label's value", "a label's name"])
def test_text_that_cannot_be_stored_is_refused_by_name_and_the_payload_kept(client, token, bot, escape, reason, where):
    payload = copy.deepcopy(ALERTMANAGER)
    if where == "a label's value":
        payload["alerts"][0]["labels"]["region"] = "MARK"
    else:
        payload["alerts"][0]["labels"]["MARK"] = "x"
    response = post(client, token, "alertmanager", json.dumps(payload).replace("MARK", f"r{escape}x"))
    assert response.status_code == 400
    labels = response.json()["errors"]["alerts"]["0"]["labels"]
    if where == "a label's value":
        assert labels["region"][0].startswith("The text contains") and reason in labels["region"][0]
    else:
        assert labels[0].startswith("A name contains") and reason in labels[0]
    stored = AlertPayload.objects.get()
    assert stored.status == PayloadStatus.FAILED and stored.error.startswith("alerts[0].labels")
    assert not Alert.objects.exists()


def test_escapes_that_are_only_text_are_stored(client, token, bot):
    payload = copy.deepcopy(ALERTMANAGER)
    payload["alerts"][0]["annotations"]["summary"] = "a backslash: \\u0000, and a face: \U0001f600"
    assert post(client, token, "alertmanager", payload).status_code == 202
    stored = Alert.objects.get()
    assert stored.annotations["summary"] == "a backslash: \\u0000, and a face: \U0001f600"


def test_oversized_body_is_413(client, token, bot, settings):
    settings.FIRELINE_ALERT_MAX_BYTES = 2000
    big = copy.deepcopy(ALERTMANAGER)
    big["commonAnnotations"]["description"] = "x" * 3000
    response = post(client, token, "alertmanager", big)
    assert response.status_code == 413 and "limit is 2000 bytes" in response.json()["detail"]
    assert not AlertPayload.objects.exists()


def test_missing_token_and_wrong_scope(client, bot):
    missing = client.post("/api/v1/alerts/alertmanager", data=ALERTMANAGER, content_type="application/json")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].lower().startswith("bearer")
    assert "Authorization: Bearer" in missing.json()["detail"]
    unknown = post(client, "not-a-token", "grafana", GRAFANA)
    assert unknown.status_code == 401 and "Invalid or revoked token" in unknown.json()["detail"]
    malformed = client.post(
        "/api/v1/alerts/generic", data="{}", content_type="application/json", HTTP_AUTHORIZATION="Bearer two parts"
    )
    assert malformed.status_code == 401 and "Malformed Authorization header" in malformed.json()["detail"]
    _, reports_only = api_token_create(name="r", scopes=["reports"])
    wrong_scope = post(client, reports_only, "alertmanager", ALERTMANAGER)
    assert wrong_scope.status_code == 403 and "'alerts' scope" in wrong_scope.json()["detail"]
    assert not AlertPayload.objects.exists()


def test_only_post_is_answered(client, token):
    response = client.get("/api/v1/alerts/alertmanager", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert not AlertPayload.objects.exists()


def test_storm_of_1000_alerts_opens_a_bounded_number_of_incidents(client, token, bot):
    # 1,000 alerts from 20 alert groups, 50 fingerprints each, sent 10 per request
    for request in range(100):
        payload = copy.deepcopy(ALERTMANAGER)
        group = request % 20
        payload["groupKey"] = f"storm-{group}"
        template = payload["alerts"][0]
        payload["alerts"] = []
        for i in range(10):
            alert = copy.deepcopy(template)
            alert["fingerprint"] = f"storm-{group}-{(request * 10 + i) % 50}"
            payload["alerts"].append(alert)
        assert post(client, token, "alertmanager", payload).status_code == 202
    assert Alert.objects.count() == 1000
    assert Incident.objects.count() == 20
    assert sum(Incident.objects.values_list("alert_count", flat=True)) == 1000
    # the timeline of a stormed incident stays short
    assert max(i.timeline.count() for i in Incident.objects.all()) < 10


def test_inbox_actions_attach_open_and_dismiss(client, token, bot, commander, viewer, open_incident):
    for fp in ("x1", "x2", "x3"):
        post(client, token, "alertmanager", firing(fp, group=f"g-{fp}", ai_feature="nope"))
    x1, x2, x3 = Alert.objects.order_by("fingerprint")
    from django.core.exceptions import PermissionDenied

    from incidents.services.alerts import alerts_attach, alerts_dismiss, alerts_open_incident

    with pytest.raises(PermissionDenied):
        alerts_dismiss(alert_ids=[x1.pk], actor=viewer)
    target = open_incident()
    alerts_attach(alert_ids=[x1.pk], incident_id=target.pk, actor=commander)
    opened = alerts_open_incident(alert_ids=[x2.pk], feature=bot, category="harmful_output", actor=commander)
    assert alerts_dismiss(alert_ids=[x3.pk], actor=commander) == 1
    assert Alert.objects.get(pk=x1.pk).incident == target and Alert.objects.get(pk=x2.pk).incident == opened
    # the attached fingerprint now deduplicates onto its incident
    again = post(client, token, "alertmanager", firing("x1", group="g-x1", ai_feature="nope")).json()
    assert again["incidents_updated"] == [target.pk]


def test_admin_inbox_and_failed_payloads_are_visible(client, token, bot, commander):
    post(client, token, "alertmanager", firing(ai_feature="nope"))
    post(client, token, "alertmanager", "{broken")
    client.force_login(commander)
    inbox = client.get(reverse("admin:incidents_alert_changelist"))
    assert inbox.status_code == 200 and b"no AI feature has the key" in inbox.content
    failed = client.get(reverse("admin:incidents_alertpayload_changelist"), {"status__exact": "failed"})
    assert failed.status_code == 200 and b"Not valid JSON" in failed.content


def test_schema_documents_the_intake_endpoints(client):
    schema = client.get("/api/schema/").content.decode()
    for path in ("/api/v1/alerts/alertmanager", "/api/v1/alerts/grafana", "/api/v1/alerts/generic"):
        assert path in schema
    # the request bodies are documented from the same models that validate them
    for model in ("AlertmanagerPayload", "GrafanaPayload", "GenericPayload"):
        assert f"#/components/schemas/{model}" in schema
    assert "generatorURL" in schema and "fingerprint" in schema


def test_a_payload_whose_processing_fails_is_kept_with_its_error_and_leaves_nothing_half_done(bot, monkeypatch):
    from incidents.services import alerts as intake

    real_record = intake._record

    def record_then_fail(payload, routed):
        real_record(payload, routed)  # the incident is opened and the alerts written...
        raise RuntimeError("disk full")  # ...then the transaction fails

    monkeypatch.setattr(intake, "_record", record_then_fail)
    body = json.dumps(firing("half-1", group="half")).encode()
    with pytest.raises(RuntimeError) as failure:
        intake.alert_intake(integration="alertmanager", body=body, content_type="application/json")
    stored = AlertPayload.objects.get()
    assert failure.value.payload.pk == stored.pk
    assert stored.status == PayloadStatus.FAILED and stored.error == "RuntimeError: disk full"
    assert stored.body == body.decode()
    assert not Incident.objects.exists() and not Alert.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_repeat_whose_write_fails_changes_nothing_of_the_open_incident(bot, monkeypatch):
    """The lock-free path writes a repeat in one statement: when the database refuses it, none of it stays."""
    from django.db import IntegrityError

    from incidents.services import alerts as intake

    body = json.dumps(firing("once-1", group="once")).encode()
    _, first = intake.alert_intake(integration="alertmanager", body=body, content_type="application/json")
    incident = Incident.objects.get(pk=first["incidents_opened"][0])
    timeline = list(incident.timeline.values_list("pk", "text"))
    real_plan = intake._plan

    def plan_with_a_dangling_incident(*args, **kwargs):
        routed = real_plan(*args, **kwargs)
        routed.alerts[-1]["incident_id"] = incident.pk + 10_000  # no such incident: the write fails
        return routed

    monkeypatch.setattr(intake, "_plan", plan_with_a_dangling_incident)
    again = json.dumps(firing("once-1", group="once")).encode()
    with pytest.raises(IntegrityError) as failure:
        intake.alert_intake(integration="alertmanager", body=again, content_type="application/json")
    assert AlertPayload.objects.get(pk=failure.value.payload.pk).status == PayloadStatus.FAILED
    assert AlertPayload.objects.filter(status=PayloadStatus.PROCESSED).count() == 1
    assert Alert.objects.count() == 1
    incident.refresh_from_db()
    assert incident.alert_count == 1
    assert list(incident.timeline.values_list("pk", "text")) == timeline


def test_a_routing_rule_edited_in_the_admin_applies_to_the_next_alert(client, token, bot, commander):
    from incidents.models import AlertRoutingRule

    first = post(client, token, "alertmanager", firing("r-1", group="r-1", signal="made_up_signal")).json()
    assert first["inboxed"] == 1  # no seeded rule knows this signal
    client.force_login(commander)
    response = client.post(
        reverse("admin:incidents_alertroutingrule_add"),
        {
            "name": "Made-up signal",
            "position": 1,
            "matchers": json.dumps({"signal": "made_up_signal"}),
            "feature": bot.pk,
            "feature_label": "ai_feature",
            "category": "scale_degradation",
            "impact": "limited",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    second = post(client, token, "alertmanager", firing("r-2", group="r-2", signal="made_up_signal")).json()
    assert len(second["incidents_opened"]) == 1
    AlertRoutingRule.objects.filter(name="Made-up signal").update(is_active=False)  # no signal: the next save does
    AlertRoutingRule.objects.get(name="Made-up signal").save()
    third = post(client, token, "alertmanager", firing("r-3", group="r-3", signal="made_up_signal")).json()
    assert third["inboxed"] == 1
