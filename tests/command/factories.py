import itertools
from datetime import timedelta

from django.utils import timezone

from audit.models import AuditRecord
from command.models import QualityMonitor

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


def monitor(feature, signal="refusal_rate", threshold=0.1, **kwargs):
    kwargs.setdefault("window_minutes", 15)
    kwargs.setdefault("min_sample_size", 10)
    return QualityMonitor.objects.create(feature=feature, signal=signal, threshold=threshold, **kwargs)
