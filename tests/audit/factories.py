"""Factories of the audit app's models: audit records as the trail stores them, written straight to the table
(the ingest API has its own tests in tests/audit/trail/test_ingest.py)."""

import itertools
from datetime import UTC, timedelta

from django.utils import timezone

from audit.models import AuditRecord
from audit.trail.investigation import record_content_hash, user_ref_for

# The hour this test run started, in UTC: build_record counts each record's time back from it.
NOW = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def build_record(feature, n, **fields) -> AuditRecord:
    values = {
        "feature": feature,
        "request_id": f"req-{n}",
        "occurred_at": NOW - timedelta(minutes=n),
        "user_ref": user_ref_for(f"user-{n % 3}"),
        "model_provider": "openai",
        "model_version": "model-1",
        "prompt_id": "support",
        "prompt_version": "prompt-1",
        "parameters": {"temperature": 0.2, "seed": 42},
        "input": f"question {n}",
        "retrieved_context": [{"id": f"kb-{n}", "source": "kb", "text": f"article {n}"}],
        "model_output": f"answer {n}",
        "user_output": f"answer {n}",
        "moderation": [{"stage": "output", "rule": "toxicity", "verdict": "allow", "score": 0.01}],
        "tool_calls": [],
        "latency_ms": 800,
        "tokens_in": 120,
        "tokens_out": 80,
        "body_hash": "0" * 64,
    }
    values.update(fields)
    record = AuditRecord(**values)
    record.content_hash = record_content_hash(record)
    return record


def make_records(feature, count, start=0, **fields) -> list[AuditRecord]:
    records = AuditRecord.objects.bulk_create([build_record(feature, n, **fields) for n in range(start, start + count)])
    return list(AuditRecord.objects.filter(pk__in=[r.pk for r in records]).order_by("-occurred_at"))


def make_record(feature, n=0, **fields) -> AuditRecord:
    return make_records(feature, 1, start=n, **fields)[0]


_ids = itertools.count(1)


def audit_records(feature, n, *, minutes_ago=1, blocked=0, errors=0, latency_ms=100, cost="0.01"):
    """n audit records of a feature, the first `blocked` refused by moderation and the first `errors` failed."""
    now = timezone.now()
    rows = []
    for i in range(n):
        k = next(_ids)
        rows.append(
            AuditRecord(
                feature=feature,
                request_id=f"req-{k}",
                occurred_at=now - timedelta(minutes=minutes_ago, seconds=i % 30),
                moderation=[{"stage": "output", "rule": "toxicity", "verdict": "block" if i < blocked else "allow"}],
                has_error=i < errors,
                latency_ms=latency_ms(i) if callable(latency_ms) else latency_ms,
                cost=cost,
                body_hash=f"b{k}",
                content_hash=f"c{k}",
            )
        )
    AuditRecord.objects.bulk_create(rows)
