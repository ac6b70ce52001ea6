"""Load generator for the alert intake benchmark, one per client process (so the client is not GIL-bound).

python -m tests.perf.alert_load HOST PORT SECONDS TOKEN CLIENT_NO  -> prints the number of alerts accepted

Posts Alertmanager v4 payloads of 10 alerts, a new connection per request, in 20 alert groups with 40
fingerprints each, so most alerts deduplicate onto the incidents the first ones opened.
"""

import http.client
import json
import sys
import time

from tests.perf.alert_payloads import payload


def main(host, port, seconds, token, client_no):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    accepted, n, stop = 0, int(client_no) * 100_000, time.monotonic() + float(seconds)
    while time.monotonic() < stop:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("POST", "/api/v1/alerts/alertmanager", body=json.dumps(payload(n, 10)), headers=headers)
        response = conn.getresponse()
        answer = response.read()
        conn.close()
        if response.status != 202:
            raise SystemExit(f"HTTP {response.status}: {answer[:300]!r}")
        accepted += json.loads(answer)["alerts"]
        n += 1
    print(accepted)


if __name__ == "__main__":
    main(*sys.argv[1:])
