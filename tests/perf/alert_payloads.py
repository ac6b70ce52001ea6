"""Alertmanager v4 payloads for the alert intake benchmark: 20 alert groups, 40 fingerprints per group."""

import copy

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
