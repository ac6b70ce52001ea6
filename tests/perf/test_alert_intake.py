"""Benchmark: alert intake through the HTTP endpoint, with dedup, against a bare Django view.

Run with `make bench` (on PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test make bench).
Reports figures; asserts only that every alert was accepted.
"""

import copy
import logging
import statistics
import time

import httpx
import pytest
from django.db import connection
from django.http import HttpResponse
from django.urls import include, path

from incidents.models import Alert, Incident
from incidents.services import api_token_create
from tests.factories import AIFeatureFactory


def bare_view(request):
    return HttpResponse("ok")


urlpatterns = [path("bench/bare", bare_view), path("", include("config.urls"))]

TEMPLATE = {
    "version": "4",
    "status": "firing",
    "receiver": "fireline",
    "groupKey": "",
    "truncatedAlerts": 0,
    "groupLabels": {},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "http://am.example",
    "alerts": [],
}
ALERT = {
    "status": "firing",
    "labels": {"alertname": "RefusalRateHigh", "ai_feature": "bench-bot", "signal": "refusal_rate"},
    "annotations": {"summary": "Refusal rate high"},
    "startsAt": "2026-11-29T22:00:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus.example/graph",
    "fingerprint": "",
}


def payload(request_no: int, per_request: int, groups: int = 20) -> dict:
    body = copy.deepcopy(TEMPLATE)
    group = request_no % groups
    body["groupKey"] = f"bench-{group}"
    for i in range(per_request):
        alert = copy.deepcopy(ALERT)
        alert["fingerprint"] = f"bench-{group}-{(request_no * per_request + i) % 40}"
        body["alerts"].append(alert)
    return body


def timed(client: httpx.Client, method: str, url: str, **kwargs) -> float:
    start = time.perf_counter()
    response = client.request(method, url, **kwargs)
    elapsed = time.perf_counter() - start
    assert response.status_code in (200, 202), response.text[:300]
    return elapsed


def run(client, token, requests, per_request, offset=0):
    times = []
    start = time.perf_counter()
    for n in range(requests):
        times.append(
            timed(
                client,
                "POST",
                "/api/v1/alerts/alertmanager",
                json=payload(offset + n, per_request),
                headers={"Authorization": f"Bearer {token}"},
            )
        )
    return times, time.perf_counter() - start


@pytest.mark.perf
@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_alert_intake_throughput(live_server):
    AIFeatureFactory(key="bench-bot")
    _, token = api_token_create(name="bench", scopes=["alerts"])
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # A new connection per request: keep-alive with the test server's small writes meets TCP's delayed
    # ACK and adds ~40 ms to every request, which would measure the socket, not Fireline.
    with httpx.Client(base_url=live_server.url, timeout=30, headers={"Connection": "close"}) as client:
        for _ in range(20):  # warm up both paths
            timed(client, "GET", "/bench/bare")
        run(client, token, 20, 1, offset=10_000)
        floor = [timed(client, "GET", "/bench/bare") for _ in range(300)]
        batched, batched_total = run(client, token, 300, 10)
        single, single_total = run(client, token, 300, 1, offset=20_000)

    floor_median = statistics.median(floor)
    lines = [
        f"database: {connection.vendor}",
        f"bare Django view: median {floor_median * 1000:.2f} ms over {len(floor)} requests",
        f"Alertmanager payloads of 10 alerts: {300 * 10 / batched_total:.0f} alerts/s sustained over 3,000 alerts; "
        f"median request {statistics.median(batched) * 1000:.2f} ms "
        f"({statistics.median(batched) / floor_median:.1f}x the bare view), "
        f"p95 {statistics.quantiles(batched, n=20)[18] * 1000:.2f} ms",
        f"single-alert payloads: {300 / single_total:.0f} alerts/s; median request "
        f"{statistics.median(single) * 1000:.2f} ms ({statistics.median(single) / floor_median:.1f}x the bare view)",
        f"incidents opened: {Incident.objects.count()} for {Alert.objects.count()} alerts (dedup by group)",
    ]
    print("\n== alert intake benchmark\n  " + "\n  ".join(lines))
    assert Alert.objects.count() == 20 + 3000 + 300
