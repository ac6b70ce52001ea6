"""Logs: one JSON object a line (python-json-logger) with the request id, the user id and the incident.

LOG_FORMAT=json (what `bin/serve` runs) or text (the default, and `make run`'s). Either way each record
carries `request_id`, `user_id`, `incident` (INC-n, where the URL names one) and, in a Celery worker,
`task` and `task_id`, from context variables set by RequestContextMiddleware and the task signals.

Nothing secret or personal reaches a log line: both formatters rewrite every line (message and
traceback) as it is written: email addresses, bearer tokens, passwords in URLs
(`scheme://user:password@host`) and the tokens of acknowledgement and verification links. Request
lines name the view, never the path (a path can be an acknowledgement link).
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

from pythonjsonlogger.json import JsonFormatter

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
user_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("user_id", default=None)
incident_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("incident", default=None)
task_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task", default=None)
task_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)

CONTEXT = {
    "request_id": request_id_var,
    "user_id": user_id_var,
    "incident": incident_var,
    "task": task_var,
    "task_id": task_id_var,
}

REDACTIONS = [
    (re.compile(r"(?i)\b(bearer)\s+[^\s'\",]+"), r"\1 [redacted]"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@'\"]*:[^/\s@'\"]*@"), r"\1[redacted]@"),
    (re.compile(r"/(ack|contacts/verify)/[^/\s'\"]+"), r"/\1/[token]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    (re.compile(r"(?i)\b(password|passwd|secret|token)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"), r"\1\2[redacted]"),
]
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def redact(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class ContextFilter(logging.Filter):
    """Adds the request, user, incident and task of the moment to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in CONTEXT.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


class RedactingFormatter(logging.Formatter):
    """The text format, without secrets or emails (the record itself is left as it was)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class FirelineJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with fixed names for the fields every line has."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"

    def add_fields(self, log_record, record, message_dict):
        super().add_fields(log_record, record, message_dict)
        for name in CONTEXT:
            value = getattr(record, name, None)
            if value is None:
                log_record.pop(name, None)
            else:
                log_record[name] = value


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING dict for config/settings.py."""
    formatter = (
        {"()": "config.logging.FirelineJsonFormatter"}
        if log_format == "json"
        else {"()": "config.logging.RedactingFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "config.logging.ContextFilter"},
        },
        "formatters": {"fireline": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "fireline", "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
            # the filesystem broker has no host: kombu says so at every connection
            "kombu.connection": {"level": "ERROR"},
            # WeasyPrint narrates every rendering step at INFO; refused fetches still show as warnings
            "weasyprint.progress": {"level": "WARNING"},
            # gunicorn's own lines (started, booting worker, exiting) go through the same handler
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


# ---------------------------------------------------------------------------------------------------
# request context


def _incident_of(request, view_kwargs: dict) -> str | None:
    path = request.path_info
    if path.startswith("/admin/incidents/incident/"):
        value = view_kwargs.get("object_id")
    elif path.startswith("/incidents/") or path.startswith("/api/v1/incidents/"):
        value = view_kwargs.get("pk")
    else:
        return None
    return f"INC-{value}" if value and str(value).isdigit() else None


class RequestContextMiddleware:
    """Sets the request id (X-Request-ID from the proxy when well formed, a new one otherwise), the
    user and the incident for every log line of the request, and writes one line per request."""

    access_log = logging.getLogger("fireline.request")

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.log_requests = settings.FIRELINE_REQUEST_LOG

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        tokens = [request_id_var.set(request_id), user_id_var.set(None), incident_var.set(None)]
        started = time.perf_counter()
        try:
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                user_id_var.set(user.pk)
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            if self.log_requests:
                match = getattr(request, "resolver_match", None)
                self.access_log.info(
                    "%s %s %s",
                    request.method,
                    (match.view_name if match else None) or "unmatched",
                    response.status_code,
                    extra={
                        "method": request.method,
                        "view": (match.view_name if match else None) or "unmatched",
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
            return response
        finally:
            for var, token in zip((request_id_var, user_id_var, incident_var), tokens, strict=True):
                var.reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        incident = _incident_of(request, view_kwargs)
        if incident:
            incident_var.set(incident)
        return None


# ---------------------------------------------------------------------------------------------------
# Celery


def task_context_start(task_id=None, task=None, **_kwargs) -> None:
    task_var.set(getattr(task, "name", None))
    task_id_var.set(task_id)


def task_context_end(**_kwargs) -> None:
    task_var.set(None)
    task_id_var.set(None)
