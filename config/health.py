"""Health endpoints for load balancers and orchestrators: /healthz (alive) and /readyz (able to serve).

- `/healthz` touches nothing: the process answers, so it is alive. A liveness probe that restarts on
  failure must not depend on PostgreSQL or Redis, or an outage of either restarts every web process.
- `/readyz` checks what serving needs: the database answers, every migration is applied, the cache
  (Redis, where configured) and the broker answer, and the outbox is not lagging (the oldest
  notification due and not delivered is younger than FIRELINE_READY_OUTBOX_LAG_SECONDS). 200 when all
  hold; 503 naming the checks that failed otherwise — never 500, whatever is down.

Both answer JSON with no secrets: a failed check says which error class it met, never a URL, a host
or a message (a broker URL carries its password). Both are served by ProbeMiddleware at the top of
the middleware stack, so a probe by IP address over plain HTTP is neither refused by ALLOWED_HOSTS nor
redirected to HTTPS, and no login is asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, JsonResponse

PROBE_TIMEOUT_SECONDS = 2.0
_migrations_applied = False  # once true in a process it stays true: migrations are not rolled back live


def _failure(exc: BaseException) -> dict:
    return {"ok": False, "error": exc.__class__.__name__}


def check_database() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def check_migrations() -> dict:
    """Every migration on disk is applied: new code must not serve an old schema (migrate first)."""
    global _migrations_applied
    if _migrations_applied:
        return {"ok": True}
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        return {"ok": False, "error": "UnappliedMigrations", "unapplied": len(plan)}
    _migrations_applied = True
    return {"ok": True}


def check_cache() -> dict:
    """The shared cache answers a PING. The fail-safe adapter hides a lost Redis from callers, so the
    probe asks Redis itself; a per-process cache (the embedded default) has nothing to lose."""
    from django.core.cache import caches

    cache = caches["default"]
    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client_of is None:
        return {"ok": True, "backend": "local"}
    client = client_of(None, write=True)
    client.ping()
    return {"ok": True, "backend": "redis"}


def check_broker() -> dict:
    from config.celery import app

    if app.conf.task_always_eager:
        return {"ok": True, "transport": "eager"}
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=PROBE_TIMEOUT_SECONDS)
        transport = conn.transport_cls
    return {"ok": True, "transport": str(transport)}


def check_outbox() -> dict:
    """The oldest notification that is due and still pending, against the threshold."""
    from django.db.models import Min
    from django.utils import timezone

    from incidents.constants import NotificationState
    from incidents.models import Notification

    now = timezone.now()
    oldest = Notification.objects.filter(state=NotificationState.PENDING, next_attempt_at__lte=now).aggregate(
        oldest=Min("next_attempt_at")
    )["oldest"]
    lag = (now - oldest).total_seconds() if oldest else 0.0
    threshold = settings.FIRELINE_READY_OUTBOX_LAG_SECONDS
    result = {"ok": lag <= threshold, "lag_seconds": round(lag, 1), "threshold_seconds": threshold}
    if not result["ok"]:
        result["error"] = "OutboxLagging"
    return result


CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "migrations": check_migrations,
    "cache": check_cache,
    "broker": check_broker,
    "outbox": check_outbox,
}
# A check that cannot run while the database is down reports that, instead of a second error.
NEEDS_DATABASE = {"migrations", "outbox"}


def run_checks() -> dict[str, dict]:
    results: dict[str, dict] = {}
    for name, check in CHECKS.items():
        if name in NEEDS_DATABASE and not results["database"]["ok"]:
            results[name] = {"ok": False, "error": "DatabaseUnavailable"}
            continue
        started = time.perf_counter()
        try:
            result = check()
        except Exception as exc:  # every failure is a failed check, never a 500
            result = _failure(exc)
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        results[name] = result
    if not results["database"]["ok"]:
        from django.db import connection

        connection.close_if_unusable_or_obsolete()
    return results


def healthz(request: HttpRequest) -> JsonResponse:
    return _no_store(JsonResponse({"status": "ok"}))


def readyz(request: HttpRequest) -> JsonResponse:
    checks = run_checks()
    failed = sorted(name for name, result in checks.items() if not result["ok"])
    body = {"status": "fail" if failed else "ok", "failed": failed, "checks": checks}
    return _no_store(JsonResponse(body, status=503 if failed else 200))


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    return response


class ProbeMiddleware:
    """Answers /healthz, /readyz and /metrics before host validation, HTTPS redirects and sessions.

    Put first in MIDDLEWARE. /metrics keeps its own protection (a token or an address allow-list).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        path = request.path_info
        if path == "/healthz":
            return healthz(request)
        if path == "/readyz":
            return readyz(request)
        if path == "/metrics":
            from config.metrics import metrics_view

            return metrics_view(request)
        return self.get_response(request)
