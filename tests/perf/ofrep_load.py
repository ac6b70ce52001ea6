"""Load generator for the OFREP benchmark, one per client process (so the client is not GIL-bound).

python -m tests.perf.ofrep_load HOST PORT PATH SECONDS [TOKEN]  -> prints the number of 200 answers
"""

import http.client
import json
import sys
import time


def main(host, port, path, seconds, token=None):
    body = json.dumps({"context": {"targetingKey": "u1", "plan": "pro"}}) if token else None
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"} if token else {}
    method = "POST" if token else "GET"
    count, stop = 0, time.monotonic() + float(seconds)
    while time.monotonic() < stop:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}")
        count += 1
    print(count)


if __name__ == "__main__":
    main(*sys.argv[1:])
