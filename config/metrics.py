"""Prometheus metrics at /metrics (prometheus-client), safe under gunicorn's and Celery's worker processes.

Two kinds of figures:
- Counted in the process as things happen: request latency by view, alert intake requests and results,
  task runtimes. Under `bin/serve` every process writes them to files in PROMETHEUS_MULTIPROC_DIR
  (prometheus-client's multiprocess mode) and a scrape of any web process adds up all of them, Celery
  workers on the same host included.
- Read from the database at scrape time, so they are the truth whichever process changed it and need no
  hook in the apps: outbox depth and age, notifications by channel and state, page acknowledgement
  times, open incidents by severity, overdue regulatory deadlines. Drills are left out, as they are from
  every real metric.

/metrics is protected: `Authorization: Bearer $FIRELINE_METRICS_TOKEN`, or a client address inside
FIRELINE_METRICS_ALLOWED_NETWORKS (CIDRs). With neither configured it answers 403 and says how to
enable it. Behind a reverse proxy every client has the proxy's address: use the token there.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import REGISTRY, GaugeMetricFamily, HistogramMetricFamily

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)
ACK_BUCKETS = (60, 120, 300, 600, 900, 1800, 3600, 4 * 3600, 24 * 3600)

REQUEST_LATENCY = Histogram(
    "fireline_http_request_duration_seconds",
    "Time from the request entering Django to the response leaving it, by view.",
    ["view", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
ALERT_REQUESTS = Counter(
    "fireline_alert_intake_requests_total",
    "Alert intake requests by integration and HTTP status.",
    ["integration", "status"],
)
ALERTS_RECEIVED = Counter(
    "fireline_alert_intake_alerts_total",
    "Alerts accepted by the intake, by integration and result (opened an incident, deduplicated, other).",
    ["integration", "result"],
)
TASK_RUNTIME = Histogram(
    "fireline_task_duration_seconds",
    "Celery task runtimes, by task and outcome.",
    ["task", "outcome"],
    buckets=TASK_BUCKETS,
)

# ---------------------------------------------------------------------------------------------------
# request middleware


def _status_class(code: int) -> str:
    return f"{code // 100}xx"


class RequestMetricsMiddleware:
    """Times every request by its view name (a URL pattern's name, never its path: paths carry tokens)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match.route or "unnamed") if match else "unmatched"
        REQUEST_LATENCY.labels(view=view, method=request.method, status=_status_class(response.status_code)).observe(
            elapsed
        )
        if match and view.startswith("api-alerts-"):
            _count_alerts(view.removeprefix("api-alerts-"), response)
        return response


def _count_alerts(integration: str, response: HttpResponse) -> None:
    ALERT_REQUESTS.labels(integration=integration, status=str(response.status_code)).inc()
    if response.status_code != 202:
        return
    try:
        answer = json.loads(response.content)
        alerts = int(answer.get("alerts", 0))
        opened = len(answer.get("incidents_opened") or [])
        deduplicated = int(answer.get("deduplicated", 0))
    except (ValueError, TypeError, AttributeError):
        return
    ALERTS_RECEIVED.labels(integration=integration, result="opened_incident").inc(opened)
    ALERTS_RECEIVED.labels(integration=integration, result="deduplicated").inc(deduplicated)
    ALERTS_RECEIVED.labels(integration=integration, result="other").inc(max(0, alerts - opened - deduplicated))


# ---------------------------------------------------------------------------------------------------
# Celery task runtimes (connected from config/celery.py)

_task_started: dict[str, float] = {}


def task_started(task_id=None, **_kwargs) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


def task_finished(task_id=None, task=None, state=None, **_kwargs) -> None:
    started = _task_started.pop(task_id, None) if task_id else None
    if started is None or task is None:
        return
    TASK_RUNTIME.labels(task=task.name, outcome=(state or "unknown").lower()).observe(time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------------
# figures read from the database at scrape time


class DatabaseCollector:
    """Reads the outbox, pages, incidents and regulatory deadlines when Prometheus scrapes."""

    def collect(self):
        from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
        from django.utils import timezone

        from incidents.constants import OPEN_STATES, NotificationState, PageState
        from incidents.models import Incident, Notification, Page, RegulatoryObligation
        from incidents.models.regulatory import ObligationState

        now = timezone.now()

        pending = Notification.objects.filter(state=NotificationState.PENDING)
        outbox = pending.aggregate(depth=Count("id"), oldest=Min("created_at"), oldest_due=Min("next_attempt_at"))
        depth = GaugeMetricFamily("fireline_outbox_depth", "Notifications written and not yet delivered or failed.")
        depth.add_metric([], outbox["depth"])
        yield depth
        age = GaugeMetricFamily(
            "fireline_outbox_oldest_age_seconds", "Age of the oldest undelivered notification (0 when none)."
        )
        age.add_metric([], (now - outbox["oldest"]).total_seconds() if outbox["oldest"] else 0.0)
        yield age
        lag = GaugeMetricFamily(
            "fireline_outbox_lag_seconds",
            "How long the oldest notification that is due has waited past its due time (0 when none).",
        )
        oldest_due = outbox["oldest_due"]
        lag.add_metric([], max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0)
        yield lag

        by_channel = GaugeMetricFamily(
            "fireline_notifications",
            "Notifications by channel and state (sent and failed are deliveries).",
            labels=["channel", "state"],
        )
        for row in Notification.objects.order_by().values("channel", "state").annotate(n=Count("id")):
            by_channel.add_metric([row["channel"], row["state"]], row["n"])
        yield by_channel

        ack_time = ExpressionWrapper(F("acknowledged_at") - F("created_at"), output_field=DurationField())
        acked = Page.objects.filter(
            state=PageState.ACKNOWLEDGED, acknowledged_at__isnull=False, incident__is_drill=False
        )
        buckets = {f"le_{n}": Count("id", filter=Q(ack__lte=_seconds(bound))) for n, bound in enumerate(ACK_BUCKETS)}
        rows = acked.annotate(ack=ack_time).aggregate(total=Count("id"), ack_sum=Sum("ack"), **buckets)
        total_seconds = rows["ack_sum"].total_seconds() if rows["ack_sum"] else 0.0
        histogram = HistogramMetricFamily(
            "fireline_page_ack_seconds", "Time from a page to its acknowledgement (real incidents)."
        )
        histogram.add_metric(
            [],
            [(str(float(bound)), rows[f"le_{n}"]) for n, bound in enumerate(ACK_BUCKETS)] + [("+Inf", rows["total"])],
            total_seconds,
        )
        yield histogram
        unanswered = GaugeMetricFamily(
            "fireline_pages_unacknowledged", "Pages sent and not yet acknowledged (real incidents)."
        )
        unanswered.add_metric(
            [], Page.objects.filter(state__in=[PageState.PENDING, PageState.SENT], incident__is_drill=False).count()
        )
        yield unanswered

        open_incidents = GaugeMetricFamily(
            "fireline_open_incidents", "Open real incidents by severity (untriaged: none).", labels=["severity"]
        )
        counts = {
            row["severity"]: row["n"]
            for row in Incident.objects.filter(is_drill=False, state__in=OPEN_STATES)
            .order_by()
            .values("severity")
            .annotate(n=Count("id"))
        }
        for severity in ("SEV1", "SEV2", "SEV3", "SEV4", ""):
            open_incidents.add_metric([severity or "none"], counts.get(severity, 0))
        yield open_incidents

        overdue = GaugeMetricFamily(
            "fireline_regulatory_obligations_overdue", "Open regulatory obligations past their deadline."
        )
        overdue.add_metric(
            [],
            RegulatoryObligation.objects.filter(
                state=ObligationState.OPEN, deadline__lt=now, incident__is_drill=False
            ).count(),
        )
        yield overdue


def _seconds(value: float):
    from datetime import timedelta

    return timedelta(seconds=value)


# ---------------------------------------------------------------------------------------------------
# the endpoint


def _allowed(request: HttpRequest) -> tuple[bool, str]:
    token = settings.FIRELINE_METRICS_TOKEN
    networks = settings.FIRELINE_METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return False, "Metrics are off: set FIRELINE_METRICS_TOKEN or FIRELINE_METRICS_ALLOWED_NETWORKS."
    if token:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
            return True, ""
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            address = None
        if address is not None and any(address in ipaddress.ip_network(net, strict=False) for net in networks):
            return True, ""
    return False, "A valid metrics token (Authorization: Bearer ...) or an allowed address is needed."


def scrape() -> bytes:
    """The exposition text: this process's (or every process's) counters plus the database figures."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector())
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY) + generate_latest(registry)


def metrics_view(request: HttpRequest) -> HttpResponse:
    allowed, reason = _allowed(request)
    if not allowed:
        return JsonResponse({"detail": reason}, status=403)
    try:
        body = scrape()
    except Exception as exc:  # the database is down: say so, as /readyz does, rather than a 500 page
        return JsonResponse({"detail": "Metrics could not be read.", "error": exc.__class__.__name__}, status=503)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
