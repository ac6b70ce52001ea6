"""One monitoring system sending alerts to a fleet, as a separate process (so four of them really run at once).

python -m tests.fleet.alert_client BASE_URL TOKEN CLIENT_NO REQUESTS PER_REQUEST GROUPS PAUSE OUT.json

Posts REQUESTS Alertmanager payloads of PER_REQUEST alerts each, every alert with a fingerprint of its
own, in GROUPS alert groups per client; a new connection per request, PAUSE seconds apart. Like
Alertmanager it sends a payload again when the connection fails or the answer is a 5xx (at most 20 tries,
a second apart). Writes, for every payload, the fingerprints and the status that ended it.
"""

import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def payload(client_no: int, request_no: int, per_request: int, groups: int) -> tuple[dict, list[str]]:
    group = f"fleet-c{client_no}-g{request_no % groups}"
    fingerprints = [f"fleet-c{client_no}-r{request_no}-a{i}" for i in range(per_request)]
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "RefusalRateHigh", "ai_feature": "support-bot", "signal": "refusal_rate"},
            "annotations": {"summary": f"Support bot refuses requests ({group})"},
            "startsAt": "2026-11-29T22:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph",
            "fingerprint": fingerprint,
        }
        for fingerprint in fingerprints
    ]
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "fireline",
        "groupKey": group,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am.example",
        "alerts": alerts,
    }
    return body, fingerprints


def send(base_url: str, token: str, body: dict) -> tuple[int, int]:
    """(final status, tries): 0 when every try failed to connect."""
    parts = urlsplit(base_url)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "X-Forwarded-Proto": "https",  # the TLS proxy in front of the fleet
    }
    status = 0
    for tries in range(1, 21):
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            conn.request("POST", "/api/v1/alerts/alertmanager", body=json.dumps(body), headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            status = response.status
            if status < 500:
                return status, tries
        except OSError:
            status = 0
        time.sleep(1.0)
    return status, 20


def main(base_url, token, client_no, requests, per_request, groups, pause, out):
    results = []
    for n in range(int(requests)):
        body, fingerprints = payload(int(client_no), n, int(per_request), int(groups))
        status, tries = send(base_url, token, body)
        results.append({"status": status, "tries": tries, "fingerprints": fingerprints})
        time.sleep(float(pause))
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
