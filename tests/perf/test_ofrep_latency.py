"""Benchmark: OFREP evaluation against a bare Django view returning constant JSON, and flip-to-visible time.

Run with `make bench`; with REDIS_URL set, the flag cache is Redis, as in production. Measured twice:
against pytest-django's live_server (one process, a thread per request: a development server), and, on
PostgreSQL, against `gunicorn config.wsgi -w 2` (the production server) on the same test database. The
throughput clients are separate processes (tests/perf/ofrep_load.py), so the client is not GIL-bound.
Figures are printed; only correctness is asserted.
"""

import json
import logging
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
from tests.factories import AIFeatureFactory, UserFactory
from tests.perf.servers import gunicorn_server

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 4
SECONDS = 3


def timed_requests(client, method, url, n, **kwargs):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.request(method, url, **kwargs)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text[:200]
    return times


def throughput(base_url, path, token=None):
    """Answers/s from CLIENTS client processes over SECONDS, a new connection per request."""
    parts = urlsplit(base_url)
    args = [sys.executable, "-m", "tests.perf.ofrep_load", parts.hostname, str(parts.port), path, str(SECONDS)]
    clients = [
        subprocess.Popen([*args, *([token] if token else [])], cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(CLIENTS)
    ]
    counts = []
    for client in clients:
        out, _ = client.communicate(timeout=SECONDS + 30)
        assert client.returncode == 0, out
        counts.append(int(out.strip()))
    return sum(counts) / SECONDS


def measure(base_url, *, feature, commander, token, flips=True):
    flag = feature.kill_switch_key
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    body = json.dumps({"context": {"targetingKey": "u1", "plan": "pro"}})
    url = f"/ofrep/v1/evaluate/flags/{flag}"
    figures = {}
    with httpx.Client(base_url=base_url, timeout=10) as client:
        timed_requests(client, "POST", url, 50, content=body, headers=headers)  # warm
        timed_requests(client, "GET", "/bench/constant", 50, headers={"Connection": "close"})
        floor = timed_requests(client, "GET", "/bench/constant", 500, headers={"Connection": "close"})
        evals = timed_requests(client, "POST", url, 500, content=body, headers=headers)
        figures["floor"], figures["eval"] = statistics.median(floor), statistics.median(evals)
        figures["floor_rps"] = throughput(base_url, "/bench/constant")
        figures["eval_rps"] = throughput(base_url, url, token)

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
    print(f"     bare view returning constant JSON: median {f['floor'] * 1000:.2f} ms")
    print(f"     single OFREP evaluation: median {f['eval'] * 1000:.2f} ms ({f['eval'] / f['floor']:.2f}x)")
    print(
        f"     throughput, {CLIENTS} client processes: {f['eval_rps']:.0f} evaluations/s "
        f"(bare view: {f['floor_rps']:.0f}/s)"
    )
    if "flips" not in f:
        print("     flip commit -> new value served: not measured (a flip in another process needs REDIS_URL)")
        return
    print(
        f"     flip commit -> new value served: median {statistics.median(f['flips']) * 1000:.1f} ms, "
        f"max {max(f['flips']) * 1000:.1f} ms over {len(f['flips'])} flips"
    )


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

    live = measure(live_server.url, feature=feature, commander=commander, token=token)
    production = None
    # The flips are made here, in the test's process: a server process hears of them through Redis. Without
    # REDIS_URL (the embedded default: one web process, where the admin flips) only speed is measured.
    shared = bool(getattr(settings, "REDIS_URL", ""))
    workers = 2 if shared else 1
    if connection.vendor == "postgresql":  # a SQLite test database is in memory: no other process sees it
        with gunicorn_server(workers=workers) as base_url:
            production = measure(base_url, feature=feature, commander=commander, token=token, flips=shared)

    print("\n== OFREP benchmark")
    print(f"  cache: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]} (+ process-local, see hotcache)")
    report("live_server (threaded development server, one process)", live)
    if production:
        report(f"gunicorn config.wsgi -w {workers} (production server)", production)
    else:
        print("  -- gunicorn: skipped (needs DATABASE_URL on PostgreSQL)")
