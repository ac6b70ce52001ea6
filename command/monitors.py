"""Quality monitors: compute each signal from the audit trail; raise and resolve alerts on crossings.

An alert goes through the same intake as an alert from Prometheus or Grafana (stored raw, parsed,
routed by the routing rules, deduplicated by fingerprint), so a monitor needs no path of its own.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Avg, Count, Q
from django.utils import timezone

from audit.models import AuditRecord, Verdict
from incidents.models import AlertIntegration
from incidents.services.alert_parsing import AlertParseError
from incidents.services.alerts import alert_intake

from .aggregates import PercentileCont, database_has_percentiles, percentile
from .models import MonitorSignal, QualityMonitor

logger = logging.getLogger(__name__)

# SQLite (the laptop default) has no percentile function or JSON containment: there the refusal rate and
# the p95 are computed in Python over at most this many records. PostgreSQL does both in the database.
SQLITE_SAMPLE_LIMIT = 50_000


@dataclass(frozen=True)
class SignalReading:
    value: float | None
    sample_size: int


def _refused(moderation) -> bool:
    return isinstance(moderation, list) and any(
        isinstance(step, dict) and step.get("verdict") == Verdict.BLOCK for step in moderation
    )


def signal_read(*, monitor: QualityMonitor, now: datetime) -> SignalReading:
    """The monitor's signal over its window, from audit records of its feature (by when they occurred)."""
    records = AuditRecord.objects.filter(
        feature_id=monitor.feature_id,
        occurred_at__gt=now - timedelta(minutes=monitor.window_minutes),
        occurred_at__lte=now,
    )
    signal = MonitorSignal(monitor.signal)
    if signal == MonitorSignal.ERROR_RATE:
        row = records.aggregate(n=Count("pk"), errors=Count("pk", filter=Q(has_error=True)))
        return SignalReading(row["errors"] / row["n"] if row["n"] else None, row["n"])
    if signal == MonitorSignal.COST_PER_REQUEST:
        row = records.filter(cost__isnull=False).aggregate(n=Count("pk"), mean=Avg("cost"))
        return SignalReading(float(row["mean"]) if row["mean"] is not None else None, row["n"])
    if signal == MonitorSignal.LATENCY_P95:
        records = records.filter(latency_ms__isnull=False)
        if database_has_percentiles():
            row = records.aggregate(n=Count("pk"), p95=PercentileCont("latency_ms", 0.95))
            return SignalReading(row["p95"], row["n"])
        values = list(records.values_list("latency_ms", flat=True)[:SQLITE_SAMPLE_LIMIT])
        return SignalReading(percentile(values, 0.95), len(values))
    # refusal rate: a request moderation blocked at any stage
    if database_has_percentiles():
        row = records.aggregate(
            n=Count("pk"), refused=Count("pk", filter=Q(moderation__contains=[{"verdict": Verdict.BLOCK.value}]))
        )
        return SignalReading(row["refused"] / row["n"] if row["n"] else None, row["n"])
    verdicts = list(records.values_list("moderation", flat=True)[:SQLITE_SAMPLE_LIMIT])
    refused = sum(1 for moderation in verdicts if _refused(moderation))
    return SignalReading(refused / len(verdicts) if verdicts else None, len(verdicts))


def _alert_body(monitor: QualityMonitor, reading: SignalReading, status: str, now: datetime) -> bytes:
    label = monitor.get_signal_display().split(" (")[0]
    word = "above" if status == "firing" else "back under"
    summary = (
        f"{label} of {monitor.feature.name} is {word} its threshold: {monitor.format_value(reading.value)} "
        f"over the last {monitor.window_minutes} min ({reading.sample_size} requests), "
        f"threshold {monitor.format_value(monitor.threshold)}"
    )
    alert = {
        "name": f"Quality monitor: {label} of {monitor.feature.key}",
        "status": status,
        "fingerprint": monitor.fingerprint,
        "labels": {
            "ai_feature": monitor.feature.key,
            "signal": monitor.routing_signal,
            "monitor": monitor.signal,
            "source": "fireline-quality-monitor",
        },
        "annotations": {
            "value": monitor.format_value(reading.value),
            "threshold": monitor.format_value(monitor.threshold),
            "window_minutes": str(monitor.window_minutes),
            "sample_size": str(reading.sample_size),
        },
        "summary": summary,
        "started_at": (monitor.fired_at or now).isoformat(),
    }
    return json.dumps(alert).encode()


def _send(body: bytes) -> dict:
    """Through the same intake as any monitor's webhook: stored, routed and deduplicated in one transaction."""
    try:
        _, result = alert_intake(integration=AlertIntegration.GENERIC, body=body, content_type="application/json")
    except AlertParseError as exc:  # kept on the payload with its error, for a person to look at
        logger.exception("quality monitor alert payload %s could not be read", exc.payload.pk)
        return {}
    return result


def quality_monitor_check(*, monitor_id: int, now: datetime | None = None) -> str:
    """Check one monitor. Returns what happened: fired, resolved, firing, ok, too-few, disabled.

    Only a change of state sends an alert: one firing alert per crossing, one resolved alert when the
    signal goes back under. The monitor row is locked while deciding, so two runs never both send.
    """
    now = now or timezone.now()
    with transaction.atomic():
        monitor = QualityMonitor.objects.select_for_update(of=("self",)).select_related("feature").get(pk=monitor_id)
        if not monitor.is_enabled:
            return "disabled"
        reading = signal_read(monitor=monitor, now=now)
        fields = {"last_checked_at": now, "last_value": reading.value, "last_sample_size": reading.sample_size}
        if reading.value is None or reading.sample_size < monitor.min_sample_size:
            outcome = "too-few"
        elif reading.value > monitor.threshold:
            outcome = "firing" if monitor.is_firing else "fired"
            if outcome == "fired":
                fields.update(is_firing=True, fired_at=now)
        else:
            outcome = "resolved" if monitor.is_firing else "ok"
            if outcome == "resolved":
                fields.update(is_firing=False, resolved_at=now)
        for name, value in fields.items():
            setattr(monitor, name, value)
        QualityMonitor.objects.filter(pk=monitor.pk).update(**fields)
    # After commit: the decision is recorded, so a failing intake cannot make the next run send twice.
    if outcome == "fired":
        _send(_alert_body(monitor, reading, "firing", now))
    elif outcome == "resolved":
        _send(_alert_body(monitor, reading, "resolved", now))
    return outcome


def quality_monitors_check(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    counts: dict[str, int] = {}
    for monitor_id in QualityMonitor.objects.filter(is_enabled=True).values_list("pk", flat=True):
        outcome = quality_monitor_check(monitor_id=monitor_id, now=now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
