"""Benchmark: OFREP evaluation against a bare Django view returning constant JSON, and flip-to-visible time.

Run with `make bench`; with REDIS_URL set, the flag cache is Redis, as in production.
"""

import json
import logging
import statistics
import threading
import time

import httpx
import pytest
from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.urls import include, path

from incidents.services import api_token_create
from incidents.services.flags import killswitch_set
from tests.factories import AIFeatureFactory, UserFactory


def constant_json(request):
    return JsonResponse({"key": "x", "value": True, "reason": "STATIC", "variant": "on", "metadata": {}})


urlpatterns = [path("bench/constant", constant_json), path("", include("config.urls"))]


def timed_requests(client, method, url, n, **kwargs):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.request(method, url, **kwargs)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text[:200]
    return times


@pytest.mark.perf
@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ofrep_latency_throughput_and_flip(live_server):
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cache.clear()
    feature = AIFeatureFactory(key="bench-flag-feature")
    flag = feature.kill_switch_key
    commander = UserFactory(username="bench-cmdr", is_superuser=True)
    _, token = api_token_create(name="bench", scopes=["flags"])
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    body = json.dumps({"context": {"targetingKey": "u1", "plan": "pro"}})
    url = f"/ofrep/v1/evaluate/flags/{flag}"
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        timed_requests(client, "POST", url, 50, content=body, headers=headers)  # warm
        timed_requests(client, "GET", "/bench/constant", 50, headers={"Connection": "close"})
        floor = timed_requests(client, "GET", "/bench/constant", 500, headers={"Connection": "close"})
        evals = timed_requests(client, "POST", url, 500, content=body, headers=headers)

        # throughput with 4 concurrent clients for 3 seconds
        done = []
        stop = time.monotonic() + 3

        def hammer():
            with httpx.Client(base_url=live_server.url, timeout=10) as c:
                count = 0
                while time.monotonic() < stop:
                    assert c.post(url, content=body, headers=headers).status_code == 200
                    count += 1
                done.append(count)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        throughput = sum(done) / 3

        # flip to visible: from the commit of the flip to the endpoint answering false
        flips = []
        for i in range(10):
            killswitch_set(feature=feature, is_on=bool(i % 2), reason="bench", actor=commander)  # commits on return
            committed = time.perf_counter()
            expected = bool(i % 2)
            while client.post(url, content=body, headers=headers).json()["value"] is not expected:
                assert time.perf_counter() - committed < 5
            flips.append(time.perf_counter() - committed)

    floor_median, eval_median = statistics.median(floor), statistics.median(evals)
    print("\n== OFREP benchmark")
    print(f"  cache: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}")
    print(f"  bare view returning constant JSON: median {floor_median * 1000:.2f} ms")
    print(f"  single OFREP evaluation: median {eval_median * 1000:.2f} ms ({eval_median / floor_median:.2f}x)")
    print(f"  throughput, 4 clients over HTTP: {throughput:.0f} evaluations/s")
    print(
        f"  flip commit -> new value served: median {statistics.median(flips) * 1000:.1f} ms, "
        f"max {max(flips) * 1000:.1f} ms over {len(flips)} flips"
    )
