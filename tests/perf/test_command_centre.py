"""Benchmark: the command centre, the metrics page and the readiness scorecard at 10,000 incidents and
1,000,000 audit records (PostgreSQL), against a bare Django view measured in the same run.

Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/fl_bench make bench`. Prints medians and
query counts; asserts a median under 300 ms and a query count that does not grow with the data.
"""

import statistics
import time

import pytest
from django.db import connection, models

from incidents.models import Incident
from tests.incidents.factories import AIFeatureFactory, IncidentFactory, UserFactory

INCIDENTS = 10_000
AUDIT_RECORDS = 1_000_000
REPEAT = 25
PAGES = {"command centre": "/admin/", "metrics": "/command/metrics/", "readiness": "/command/readiness/"}

# Incident columns the bulk insert fills on purpose; every other column gets its type's empty value.
INCIDENT_COLUMNS = {
    "title": "'Bench incident ' || g",
    "category": "(ARRAY['harmful_output','data_leak','factual_misinformation','unauthorized_action',"
    "'scale_degradation','capability_loss'])[1 + g %% 6]",
    "detection_signal": "(ARRAY['monitoring_alert','user_report','external_attention','internal_discovery'])"
    "[1 + g %% 4]",
    "feature_id": "(%(features)s::bigint[])[1 + (g %% cardinality(%(features)s::bigint[]))]",
    "detected_at": "now() - (g * 97 || ' minutes')::interval",
    "occurred_at": "now() - (g * 97 + 5 + g %% 180 || ' minutes')::interval",
    "severity": "'SEV' || (1 + g %% 4)",
    "state": "CASE WHEN g %% 20 = 0 THEN 'investigating' WHEN g %% 20 = 1 THEN 'triaged' ELSE 'closed' END",
    "contained_at": "CASE WHEN g %% 20 = 1 THEN NULL ELSE now() - (g * 97 - 30 - g %% 90 || ' minutes')::interval END",
    "fixed_at": "CASE WHEN g %% 20 < 2 THEN NULL ELSE now() - (g * 97 - 300 || ' minutes')::interval END",
    "closed_at": "CASE WHEN g %% 20 < 2 THEN NULL ELSE now() - (g * 97 - 3000 || ' minutes')::interval END",
    "is_restricted": "g %% 7 = 0",
    "is_drill": "g %% 50 = 0",
    "impact": "'limited'",
    "created_at": "now()",
    "updated_at": "now()",
}


def _empty_value(field: models.Field) -> str:
    if field.null:
        return "NULL"
    if isinstance(field, models.JSONField):
        return "'[]'::jsonb" if field.default is list else "'{}'::jsonb"
    if isinstance(field, models.BooleanField):
        return "false"
    if isinstance(field, (models.IntegerField, models.FloatField, models.DecimalField)):
        return "0"
    if isinstance(field, (models.CharField, models.TextField)):
        return "''"
    if isinstance(field, models.DateTimeField):
        return "now()"
    raise AssertionError(f"no empty value for {field.name}")


def _fill_incidents(feature_ids: list[int]) -> None:
    columns, values = [], []
    for field in Incident._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        values.append(INCIDENT_COLUMNS.get(field.column) or INCIDENT_COLUMNS.get(field.name) or _empty_value(field))
    # column names come from the model, expressions from this module; the data are bound parameters
    sql = f"INSERT INTO incidents_incident ({', '.join(columns)}) SELECT {', '.join(values)} FROM generate_series(1, %(n)s) AS g"  # noqa: E501, S608
    with connection.cursor() as cursor:
        cursor.execute(sql, {"features": feature_ids, "n": INCIDENTS})
        cursor.execute("ANALYZE incidents_incident")


def _fill_audit(feature_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO audit_auditrecord (
                feature_id, request_id, occurred_at, received_at, user_ref, model_provider, model_version,
                prompt_id, prompt_version, parameters, input, retrieved_context, model_output, user_output,
                moderation, tool_calls, has_error, latency_ms, cost, body_hash, content_hash, redactions,
                content_deleted_reason)
            SELECT (%s::bigint[])[1 + (g %% cardinality(%s::bigint[]))], 'req-' || g,
                   now() - (g || ' seconds')::interval, now(), md5(g::text), 'openai', 'model-a', 'p', 'v1',
                   '{}'::jsonb, 'input ' || g, '[]'::jsonb, 'output ' || g, 'output ' || g,
                   CASE WHEN g %% 13 = 0 THEN '[{"verdict": "block"}]'::jsonb ELSE '[{"verdict": "allow"}]'::jsonb END,
                   '[]'::jsonb, g %% 41 = 0, 200 + g %% 900, 0.002, md5('b' || g), md5('c' || g), '{}'::jsonb, ''
            FROM generate_series(1, %s) AS g
            """,
            [feature_ids, feature_ids, AUDIT_RECORDS],
        )
        cursor.execute("ANALYZE audit_auditrecord")


def _measure(client, url: str) -> tuple[float, int]:
    """(median ms over REPEAT requests, queries of one request)."""
    assert client.get(url).status_code == 200  # warm
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        assert client.get(url).status_code == 200
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(times), len(queries)


@pytest.mark.perf
@pytest.mark.urls("tests.perf.bench_urls")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_command_centre_and_metrics_at_ten_thousand_incidents(client):
    if connection.vendor != "postgresql":
        pytest.skip("this benchmark is about PostgreSQL")
    from command.models import QualityMonitor

    features = [AIFeatureFactory() for _ in range(5)]
    feature_ids = [f.pk for f in features]
    for f in features:
        QualityMonitor.objects.create(feature=f, signal="refusal_rate", threshold=0.2)
    superuser = UserFactory(username="bench-root", is_superuser=True)
    viewer = UserFactory(username="bench-viewer", role="Viewer")
    for i in range(20):  # the small size
        IncidentFactory(feature=features[i % 5], severity=f"SEV{1 + i % 4}", state="triaged", is_restricted=i % 7 == 0)

    small: dict = {}
    for who, user in (("superuser", superuser), ("viewer", viewer)):
        client.force_login(user)
        for name, url in PAGES.items():
            small[who, name] = _measure(client, url)

    started = time.perf_counter()
    _fill_incidents(feature_ids)
    _fill_audit(feature_ids)
    filled = time.perf_counter() - started

    client.force_login(superuser)
    floor, _ = _measure(client, "/bench/constant")
    print(f"\n== command centre at {Incident.objects.count():,} incidents and {AUDIT_RECORDS:,} audit records")
    print(f"  filled in {filled:.0f} s; bare Django view (floor): median {floor:.2f} ms")
    failures = []
    for who, user in (("superuser", superuser), ("viewer", viewer)):
        client.force_login(user)
        for name, url in PAGES.items():
            median, queries = _measure(client, url)
            small_median, small_queries = small[who, name]
            print(
                f"  {name:15} as {who:9}: median {median:7.1f} ms ({median / floor:5.0f}x floor; "
                f"{small_median:.1f} ms at 20 incidents), {queries} queries (at 20 incidents: {small_queries})"
            )
            if queries != small_queries:
                failures.append(f"{name} as {who}: {small_queries} queries at 20 incidents, {queries} at full size")
            if median >= 300:
                failures.append(f"{name} as {who}: median {median:.0f} ms")
    assert not failures, failures
