"""Benchmark: request-id lookup and feature + one-hour search over 1,000,000 audit records (PostgreSQL).

Run with `DATABASE_URL=postgres://... make bench`. Prints medians and the EXPLAIN of both queries.
"""

import statistics
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.trail.investigation import audit_record_search
from tests.incidents.factories import AIFeatureFactory, UserFactory

ROWS = 1_000_000


def _fill(feature_ids: list[int]) -> None:
    """One INSERT ... SELECT over generate_series: the fastest honest way to a million rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO audit_auditrecord (
                feature_id, request_id, occurred_at, received_at, user_ref, model_provider, model_version,
                prompt_id, prompt_version, parameters, input, retrieved_context, model_output, user_output,
                moderation, tool_calls, has_error, body_hash, content_hash, redactions, content_deleted_reason)
            SELECT (%s::bigint[])[1 + (g %% cardinality(%s::bigint[]))], 'req-' || g,
                   now() - (g || ' seconds')::interval, now(), md5(g::text), 'openai',
                   CASE WHEN g %% 3 = 0 THEN 'model-b' ELSE 'model-a' END, 'p', 'v1', '{}'::jsonb,
                   'input ' || g, '[]'::jsonb, 'output ' || g, 'output ' || g, '[]'::jsonb, '[]'::jsonb, false,
                   md5('b' || g), md5('c' || g), '{}'::jsonb, ''
            FROM generate_series(1, %s) AS g
            """,
            [feature_ids, feature_ids, ROWS],
        )
        cursor.execute("ANALYZE audit_auditrecord")


def _median_ms(func, repeat=50) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@pytest.mark.perf
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_lookup_and_window_search_over_a_million_records():
    if connection.vendor != "postgresql":
        pytest.skip("this benchmark is about PostgreSQL")
    features = [AIFeatureFactory().pk for _ in range(5)]
    user = UserFactory(username="bench-auditor", is_superuser=True)
    started = time.perf_counter()
    _fill(features)
    filled = time.perf_counter() - started
    now = timezone.now()

    def by_request_id():
        return list(audit_record_search(user=user, request_id="req-777777")[:1])

    def window():
        return list(
            audit_record_search(
                user=user, feature=features[1], start=now - timedelta(days=3, hours=1), end=now - timedelta(days=3)
            )[:100]
        )

    assert len(by_request_id()) == 1 and len(window()) > 0
    id_ms, window_ms = _median_ms(by_request_id), _median_ms(window)
    with connection.cursor() as cursor:
        sql, params = audit_record_search(user=user, request_id="req-777777")[:1].query.sql_with_params()
        cursor.execute("EXPLAIN ANALYZE " + sql, params)
        explain_id = "\n    ".join(row[0] for row in cursor.fetchall())
        sql, params = audit_record_search(
            user=user, feature=features[1], start=now - timedelta(days=3, hours=1), end=now - timedelta(days=3)
        )[:100].query.sql_with_params()
        cursor.execute("EXPLAIN ANALYZE " + sql, params)
        explain_window = "\n    ".join(row[0] for row in cursor.fetchall())
    print(f"\n== audit trail lookups over {ROWS:,} records (filled in {filled:.0f} s)")
    print(f"  by request id: median {id_ms:.2f} ms\n    {explain_id}")
    print(f"  feature + one-hour window (first 100): median {window_ms:.2f} ms\n    {explain_window}")
