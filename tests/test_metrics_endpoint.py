"""/metrics: Prometheus text behind a token or an address allow-list, with what an operator watches."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from incidents.constants import Channel, NotificationState, PageState
from incidents.models import Incident, Notification, Page, Regime, RegulatoryObligation
from incidents.services import api_token_create
from incidents.services.regulatory import reportability_decide
from tests.incidents.factories import make_contact

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_on(settings):
    settings.FIRELINE_METRICS_TOKEN = TOKEN
    settings.FIRELINE_METRICS_ALLOWED_NETWORKS = []


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_until_a_token_or_network_is_configured(client, db, settings):
    settings.FIRELINE_METRICS_TOKEN = ""
    settings.FIRELINE_METRICS_ALLOWED_NETWORKS = []
    response = client.get("/metrics")
    assert response.status_code == 403
    assert "FIRELINE_METRICS_TOKEN" in response.json()["detail"]


def test_a_wrong_or_missing_token_is_refused(client, db, metrics_on):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_an_allowed_network_needs_no_token(client, db, settings):
    settings.FIRELINE_METRICS_TOKEN = ""
    settings.FIRELINE_METRICS_ALLOWED_NETWORKS = ["10.1.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.4.2", HTTP_HOST="10.9.9.9").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.4.2").status_code == 403


def test_outbox_depth_age_and_deliveries_by_channel(client, db, metrics_on):
    now = timezone.now()
    for n, (channel, state) in enumerate(
        [
            (Channel.EMAIL, NotificationState.PENDING),
            (Channel.EMAIL, NotificationState.PENDING),
            (Channel.CHAT, NotificationState.SENT),
            (Channel.WEBHOOK, NotificationState.FAILED),
        ]
    ):
        Notification.objects.create(
            channel=channel, recipient="r@example.com", subject="s", body="b", dedup_key=f"k{n}", state=state
        )
    Notification.objects.filter(dedup_key="k0").update(
        created_at=now - timedelta(minutes=10), next_attempt_at=now - timedelta(minutes=4)
    )
    samples = scrape(client)
    assert value(samples, "fireline_outbox_depth") == 2
    assert 590 <= value(samples, "fireline_outbox_oldest_age_seconds") < 700
    assert 230 <= value(samples, "fireline_outbox_lag_seconds") < 300
    assert value(samples, "fireline_notifications", channel="email", state="pending") == 2
    assert value(samples, "fireline_notifications", channel="chat", state="sent") == 1
    assert value(samples, "fireline_notifications", channel="webhook", state="failed") == 1


def test_open_incidents_by_severity_leave_out_drills_and_closed(client, open_incident, metrics_on):
    first = open_incident(title="real")
    drill = open_incident(title="drill")
    Incident.objects.filter(pk=drill.pk).update(is_drill=True)
    Incident.objects.filter(pk=first.pk).update(severity="SEV2")
    samples = scrape(client)
    assert value(samples, "fireline_open_incidents", severity="SEV2") == 1
    assert (
        sum(value(samples, "fireline_open_incidents", severity=s) for s in ("SEV1", "SEV2", "SEV3", "SEV4", "none"))
        == 1
    )


def test_page_acknowledgement_times_are_a_histogram(client, open_incident, metrics_on):
    incident = open_incident()
    contact = make_contact(name="On call", role="engineering_oncall", email="oncall@example.com")
    now = timezone.now()
    for n, minutes in enumerate((1.5, 4, 45)):
        page = Page.objects.create(
            incident=incident,
            contact=contact,
            reason="paged",
            dedup_key=f"p{n}",
            ack_due_at=now,
            state=PageState.ACKNOWLEDGED,
        )
        Page.objects.filter(pk=page.pk).update(created_at=now - timedelta(minutes=minutes), acknowledged_at=now)
    samples = scrape(client)
    assert value(samples, "fireline_page_ack_seconds_count") == 3
    assert value(samples, "fireline_page_ack_seconds_bucket", le="120.0") == 1
    assert value(samples, "fireline_page_ack_seconds_bucket", le="300.0") == 2
    assert value(samples, "fireline_page_ack_seconds_bucket", le="3600.0") == 3
    assert value(samples, "fireline_page_ack_seconds_sum") == pytest.approx((1.5 + 4 + 45) * 60, abs=2)


def test_alert_intake_results_and_request_latency_by_view(client, db, feature, metrics_on):
    _, token = api_token_create(name="monitor", scopes=["alerts"])
    before = scrape(client)
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "fireline",
        "groupKey": "metrics-test",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Toxicity", "ai_feature": feature.key},
                "annotations": {},
                "startsAt": "2026-11-29T22:00:00Z",
                "fingerprint": f"fp-{n % 2}",
            }
            for n in range(3)
        ],
    }
    response = client.post(
        "/api/v1/alerts/alertmanager",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 202, response.content
    refused = client.post("/api/v1/alerts/alertmanager", data="{}", content_type="application/json")
    assert refused.status_code == 401
    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("fireline_alert_intake_requests_total", integration="alertmanager", status="202") == 1
    assert grew("fireline_alert_intake_requests_total", integration="alertmanager", status="401") == 1
    answer = response.json()
    assert grew("fireline_alert_intake_alerts_total", integration="alertmanager", result="opened_incident") == len(
        answer["incidents_opened"]
    )
    assert (
        grew("fireline_alert_intake_alerts_total", integration="alertmanager", result="deduplicated")
        == answer["deduplicated"]
    )
    assert (
        grew(
            "fireline_http_request_duration_seconds_count", view="api-alerts-alertmanager", method="POST", status="2xx"
        )
        == 1
    )


def test_overdue_regulatory_deadlines_are_counted(client, open_incident, commander, metrics_on):
    incident = open_incident()
    reportability_decide(
        incident_id=incident.pk,
        regimes=[Regime.objects.get(code="gdpr-33")],
        reason="Personal data left.",
        actor=commander,
    )
    assert value(scrape(client), "fireline_regulatory_obligations_overdue") == 0
    RegulatoryObligation.objects.filter(incident=incident).update(deadline=timezone.now() - timedelta(hours=1))
    assert value(scrape(client), "fireline_regulatory_obligations_overdue") == 1


def test_every_metric_the_dashboard_and_alert_rules_use_is_exported(client, db, metrics_on):
    """deploy/: a panel or rule naming a metric /metrics does not export would show nothing, silently."""
    import re
    from pathlib import Path

    deploy = Path(__file__).resolve().parents[1] / "deploy"
    text = (deploy / "grafana" / "fireline-dashboard.json").read_text()
    text += (deploy / "prometheus" / "fireline-rules.yaml").read_text()
    used = set(re.findall(r"\bfireline_[a-z_]+", text))
    assert "fireline_outbox_lag_seconds" in used
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    exported = set()
    for family in text_string_to_metric_families(response.content.decode()):
        exported |= {s.name for s in family.samples} | {family.name}
    # Counters and histograms show up once a process has counted something: add what they will export.
    from config import metrics

    for collector in (metrics.REQUEST_LATENCY, metrics.ALERT_REQUESTS, metrics.ALERTS_RECEIVED, metrics.TASK_RUNTIME):
        for family in collector.describe():
            kind = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}[family.type]
            exported |= {family.name + suffix for suffix in kind}
    assert used - exported == set()
