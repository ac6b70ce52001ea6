"""Benchmark: OFREP evaluation against its floor, and flip-to-visible time.

Run with `make bench`; with REDIS_URL set, the flag cache is Redis, as in production. On PostgreSQL it runs
against `gunicorn config.wsgi -w 2` (the production server) on the test database; on SQLite against
pytest-django's live_server. The floor (tests/perf/bench_urls.py) takes the same POST, body and bearer-token
check and answers constant JSON; floor and evaluation alternate request by request (latency) and run by
run (throughput, from client processes: tests/perf/ofrep_load.py), in three rounds. The targets are ratios
to the floor (tests/perf/ratios.py); absolute figures are printed only.
"""

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from incidents.services import api_token_create, hotcache
from incidents.services.flags import killswitch_set
from tests.incidents.factories import AIFeatureFactory, UserFactory
from tests.perf.ratios import ROUNDS, Ratio, check, median_ms
from tests.perf.servers import gunicorn_server

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 4
SECONDS = 2
PER_ROUND = 200
# An evaluation reads a process-local cache (kept fresh by Redis pub/sub) after a token lookup: within 1.5x
# of a view that only checks a token, and at least half its throughput (throughput rounds are noisier).
TARGET_LATENCY_RATIO = 1.5
TARGET_THROUGHPUT_RATIO = 0.5


def timed_requests(client, method, url, n, **kwargs):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.request(method, url, **kwargs)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text[:200]
    return times


def throughput(base_url, path, token):
    """Answers/s from CLIENTS client processes over SECONDS, a new connection per request (POST, token, body)."""
    parts = urlsplit(base_url)
    args = [sys.executable, "-m", "tests.perf.ofrep_load", parts.hostname, str(parts.port), path, str(SECONDS), token]
    clients = [
        subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(CLIENTS)
    ]
    counts = []
    for client in clients:
        out, _ = client.communicate(timeout=SECONDS + 30)
        assert client.returncode == 0, out
        counts.append(int(out.strip()))
    return sum(counts) / SECONDS


def measure(base_url, *, feature, commander, token, flips=True):
    """Latency and throughput of an evaluation against the floor (tests/perf/bench_urls.py: the same POST, body
    and bearer-token check, a constant answer), interleaved A, B, A, B in ROUNDS rounds."""
    flag = feature.kill_switch_key
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    body = json.dumps({"context": {"targetingKey": "u1", "plan": "pro"}})
    url = f"/ofrep/v1/evaluate/flags/{flag}"
    floor_url = f"/bench/ofrep/{flag}"
    figures = {
        "latency": Ratio("evaluation latency / floor (median request)", TARGET_LATENCY_RATIO),
        "throughput": Ratio("evaluation throughput / floor", TARGET_THROUGHPUT_RATIO, higher_is_better=True),
    }
    with httpx.Client(base_url=base_url, timeout=10) as client:
        timed_requests(client, "POST", url, 50, content=body, headers=headers)  # warm both
        timed_requests(client, "POST", floor_url, 50, content=body, headers=headers)
        for _ in range(ROUNDS):
            floor, evals = [], []
            for _ in range(PER_ROUND):
                floor += timed_requests(client, "POST", floor_url, 1, content=body, headers=headers)
                evals += timed_requests(client, "POST", url, 1, content=body, headers=headers)
            figures["latency"].add(
                statistics.median(floor), statistics.median(evals), f"({median_ms(evals)} vs {median_ms(floor)})"
            )
        for _ in range(ROUNDS):
            floor_rps = throughput(base_url, floor_url, token)
            eval_rps = throughput(base_url, url, token)
            figures["throughput"].add(floor_rps, eval_rps, f"({eval_rps:.0f}/s vs {floor_rps:.0f}/s)")

        if not flips:
            return figures
        # flip to visible: from the commit of the flip to the endpoint answering the new value; then every
        # answer after it must be the new value too (with several worker processes, whichever one answers)
        flips = []
        for i in range(10):
            expected = bool(i % 2)
            killswitch_set(feature=feature, is_on=expected, reason="bench", actor=commander)  # commits on return
            committed = time.perf_counter()
            while client.post(url, content=body, headers=headers).json()["value"] is not expected:
                assert time.perf_counter() - committed < 5
            flips.append(time.perf_counter() - committed)
            for _ in range(20):
                assert client.post(url, content=body, headers=headers).json()["value"] is expected
        figures["flips"] = flips
    return figures


def report(name, f):
    print(f"  -- {name}")
    if "flips" not in f:
        print("     flip commit -> new value served: not measured (a flip in another process needs REDIS_URL)")
    else:
        print(
            f"     flip commit -> new value served: median {statistics.median(f['flips']) * 1000:.1f} ms, "
            f"max {max(f['flips']) * 1000:.1f} ms over {len(f['flips'])} flips"
        )
    check([f["latency"], f["throughput"]])


@pytest.mark.perf
@pytest.mark.urls("tests.perf.bench_urls")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ofrep_latency_throughput_and_flip(live_server):
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cache.clear()
    hotcache.clear()
    feature = AIFeatureFactory(key="bench-flag-feature")
    commander = UserFactory(username="bench-cmdr", is_superuser=True)
    _, token = api_token_create(name="bench", scopes=["flags"])

    production = None
    # The flips are made here, in the test's process: a server process hears of them through Redis. Without
    # REDIS_URL (the embedded default: one web process, where the admin flips) only speed is measured.
    shared = bool(getattr(settings, "REDIS_URL", ""))
    workers = 2 if shared else 1
    if connection.vendor == "postgresql":  # a SQLite test database is in memory: no other process sees it
        with gunicorn_server(workers=workers, FIRELINE_BENCH_FLOOR_TOKEN=token) as base_url:
            production = measure(base_url, feature=feature, commander=commander, token=token, flips=shared)

    print("\n== OFREP benchmark")
    print(f"  cache: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]} (+ process-local, see hotcache)")
    if production:
        report(f"gunicorn config.wsgi -w {workers} (production server)", production)
    else:
        # The floor reads its token from the server's environment: the development server shares this
        # process's, so set it here.
        os.environ["FIRELINE_BENCH_FLOOR_TOKEN"] = token
        try:
            live = measure(live_server.url, feature=feature, commander=commander, token=token)
        finally:
            os.environ.pop("FIRELINE_BENCH_FLOOR_TOKEN", None)
        report("live_server (development server; on PostgreSQL the figures come from gunicorn)", live)
