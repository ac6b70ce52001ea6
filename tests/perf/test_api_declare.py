"""Benchmark (issue 19): declaring an incident through the write API, against a bare DRF view doing one insert.

On PostgreSQL, against `gunicorn config.wsgi -w 2` on the test database (the production server). Every
declare is a new incident on a new title (the hard path: triage matrix, the incident row, its timeline,
the action log's chained entry, paging and the lifecycle-event check), by a token that acts for a person.
The floor (tests/perf/bench_urls.py `bench/insert`) is a DRF view with the same JSON parsing that inserts
one row. Floor and declare alternate request by request, in three rounds; the target is a ratio of
medians, p50 and p95 are printed.
"""

import time

import httpx
import pytest
from django.db import connection

from incidents.services import api_token_create
from tests.incidents.factories import AIFeatureFactory, UserFactory
from tests.perf.ratios import ROUNDS, Ratio, check, median_ms, p95
from tests.perf.servers import gunicorn_server

pytestmark = [
    pytest.mark.perf,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="measured over gunicorn on PostgreSQL"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PER_ROUND = 60
WARMUP = 5
# A declare writes an incident, its timeline, a chained action-log entry and the paging rows in one
# transaction: within 12x of a view that inserts one row.
TARGET_RATIO = 12.0


def test_declare_over_the_api_against_one_insert():
    commander = UserFactory(username="bench-cmdr", role="Incident Commander")
    AIFeatureFactory(key="bench-bot", name="Bench assistant")
    raw = api_token_create(name="bench", scopes=["incidents"], user=commander)[1]
    headers = {"Authorization": f"Bearer {raw}"}
    ratio = Ratio("declare (POST /api/v1/incidents) / one-insert DRF view, p50", TARGET_RATIO)
    counter = iter(range(10_000_000))

    def declare(client):
        n = next(counter)
        body = {
            "title": f"Bench {n}: the assistant told a user something harmful",
            "feature": "bench-bot",
            "category": "harmful_output",
            "impact": "limited",
            "users_affected": 3,
        }
        started = time.perf_counter()
        response = client.post("/api/v1/incidents", json=body, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.text[:300]
        return elapsed

    def floor(client):
        started = time.perf_counter()
        response = client.post("/bench/insert", json={"title": f"floor {next(counter)}"})
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.text[:300]
        return elapsed

    with gunicorn_server(workers=2) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(WARMUP):
            declare(client)
            floor(client)
        all_declare, all_floor = [], []
        for round_no in range(ROUNDS):
            floors, declares = [], []
            for _ in range(PER_ROUND):
                floors.append(floor(client))
                declares.append(declare(client))
            all_floor += floors
            all_declare += declares
            ratio.add(
                sorted(floors)[len(floors) // 2],
                sorted(declares)[len(declares) // 2],
                f"(round {round_no + 1}: declare {median_ms(declares)}, floor {median_ms(floors)})",
            )
    print(
        f"\n     declare: p50 {median_ms(all_declare)}, p95 {p95(all_declare) * 1000:.1f} ms; "
        f"one-insert floor: p50 {median_ms(all_floor)}, p95 {p95(all_floor) * 1000:.1f} ms "
        f"({len(all_declare)} declares, each a new incident)"
    )
    check([ratio])
