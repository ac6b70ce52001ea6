"""Whatever is wrong with an alert payload is a 4xx naming the place; one bad alert refuses only itself."""

import copy
import json

import pytest

from incidents.models import Alert, AlertPayload, Incident, PayloadStatus
from incidents.services import api_token_create

from .test_alerts import ALERTMANAGER, post


@pytest.fixture
def token(db):
    return api_token_create(name="alertmanager", scopes=["alerts"])[1]


def batch(*starts):
    """An Alertmanager batch of one alert per start time, each with its own fingerprint and feature label."""
    payload = copy.deepcopy(ALERTMANAGER)
    template = payload["alerts"][0]
    payload["alerts"] = []
    for n, starts_at in enumerate(starts):
        alert = copy.deepcopy(template)
        alert["fingerprint"] = f"fp-{n}"
        alert["labels"]["alertname"] = f"Alert{n}"
        alert["startsAt"] = starts_at
        payload["alerts"].append(alert)
    payload["groupKey"] = ""
    return payload


@pytest.mark.parametrize(
    "moment, reason",
    [
        ("2026-01-01T00:00:00+16:00", None),  # PostgreSQL refuses offsets past ±15:59; read here as UTC
        ("9999-12-31T23:00:00-05:00", "Out of range"),
        ("0001-01-02T00:00:00+23:59", None),
        ("9999-12-31T23:59:59.999999-00:01", "Out of range"),
        ("0001-01-01T20:00:00-05:00", None),  # Alertmanager's zero time: "not set", whatever the offset
    ],
)
def test_an_odd_timestamp_is_read_in_utc_or_refused_by_name(client, token, feature, moment, reason):
    response = post(client, token, "alertmanager", batch("2026-11-29T22:00:00Z", "2026-03-01T10:00:00Z"))
    assert response.status_code == 202
    response = post(client, token, "alertmanager", {**batch(moment), "groupKey": "odd"})
    if reason is None:
        assert response.status_code == 202, response.content
        assert response.json()["refused"] == [] and Alert.objects.filter(fingerprint="fp-0").count() == 2
    else:
        assert response.status_code == 400, response.content
        assert reason in response.json()["errors"]["alerts"]["0"]["startsAt"][0]


def test_one_bad_timestamp_refuses_only_its_alert_and_the_good_ones_open_their_incident(client, token, feature):
    payload = batch("2026-11-29T22:00:00Z", "9999-12-31T23:00:00-05:00", "2026-11-29T22:05:00+16:00")
    payload["alerts"][0]["labels"]["region"] = "eu"
    response = post(client, token, "alertmanager", payload)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["alerts"] == 2 and len(body["incidents_opened"]) >= 1
    assert [r["index"] for r in body["refused"]] == [1]
    assert "Out of range" in body["refused"][0]["errors"]["startsAt"][0]
    stored = AlertPayload.objects.get(pk=body["payload_id"])
    assert stored.status == PayloadStatus.PROCESSED and stored.result["refused"] == body["refused"]
    assert set(Alert.objects.values_list("fingerprint", flat=True)) == {"fp-0", "fp-2"}
    late = Alert.objects.get(fingerprint="fp-2")
    assert late.starts_at.isoformat() == "2026-11-29T06:05:00+00:00"
    assert Incident.objects.filter(pk__in=body["incidents_opened"]).exists()


def test_a_batch_of_only_bad_alerts_is_a_400_naming_each(client, token, feature):
    payload = batch("9999-12-31T23:00:00-05:00", "yesterday")
    response = post(client, token, "alertmanager", payload)
    assert response.status_code == 400
    errors = response.json()["errors"]["alerts"]
    assert "Out of range" in errors["0"]["startsAt"][0] and "ISO 8601" in errors["1"]["startsAt"][0]
    assert AlertPayload.objects.get().status == PayloadStatus.FAILED
    assert not Alert.objects.exists()


@pytest.mark.parametrize("kind", ["alertmanager", "grafana", "generic"])
def test_nesting_a_thousand_deep_is_a_400(client, token, feature, kind):
    payload = copy.deepcopy(ALERTMANAGER)
    body = json.dumps(payload).replace('"region": "eu"', '"region": ' + "[" * 1000 + "]" * 1000)
    response = post(client, token, kind, body)
    assert response.status_code == 400
    assert "Nested more than 64 levels deep" in response.json()["errors"]["body"][0]
    assert AlertPayload.objects.get().status == PayloadStatus.FAILED


@pytest.mark.parametrize("kind", ["alertmanager", "grafana", "generic"])
def test_a_number_of_five_thousand_digits_is_a_400_naming_its_field(client, token, feature, kind):
    body = json.dumps({**ALERTMANAGER, "truncatedAlerts": 0}).replace(
        '"truncatedAlerts": 0', '"truncatedAlerts": ' + "9" * 5000
    )
    response = post(client, token, kind, body)
    assert response.status_code == 400
    assert "5,000 digits" in response.json()["errors"]["truncatedAlerts"][0]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_cannot_hold_are_refused_by_field(client, token, feature, constant):
    body = json.dumps({**ALERTMANAGER, "orgId": 0}).replace('"orgId": 0', f'"orgId": {constant}')
    response = post(client, token, "grafana", body)
    assert response.status_code == 400
    assert response.json()["errors"]["orgId"]


def test_a_bad_name_in_a_refused_field_is_reported_as_escapes(client, token, feature):
    body = '{"alerts": [{"name": "x", "labels": {"a\\ud800": NaN}}]}'
    response = post(client, token, "generic", body)
    assert response.status_code == 400
    stored = AlertPayload.objects.get()
    assert stored.status == PayloadStatus.FAILED and "\\ud800" in stored.error
