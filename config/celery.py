import os

from celery import Celery, Task, signals
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("fireline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Three queues, so paging never waits behind slow work (see README, "Production"):
# - celery (the default): notifications and pages, and the sweep that re-queues them; latency matters;
# - clocks: the per-minute jobs that find due deadlines, reminders, drill steps and quality monitors;
# - bulk: retention, deletion orders, the action log's verification and PDF rendering: long and heavy.
# A worker started without -Q (`make run`, `celery -A config worker`) takes all three; `bin/serve` starts
# one worker for the default queue and one for the other two.
PAGING_QUEUE, CLOCKS_QUEUE, BULK_QUEUE = "celery", "clocks", "bulk"
app.conf.task_default_queue = PAGING_QUEUE
app.conf.task_queues = [Queue(PAGING_QUEUE), Queue(CLOCKS_QUEUE), Queue(BULK_QUEUE)]
app.conf.task_routes = {
    "incidents.tasks.deliver_notification": {"queue": PAGING_QUEUE},
    "incidents.tasks.sweep_outbox": {"queue": PAGING_QUEUE},
    "incidents.tasks.regulatory_clock": {"queue": CLOCKS_QUEUE},
    "incidents.tasks.remind_action_items": {"queue": CLOCKS_QUEUE},
    "incidents.tasks.mark_stale_contacts": {"queue": CLOCKS_QUEUE},
    "drills.tasks.*": {"queue": CLOCKS_QUEUE},
    "command.tasks.*": {"queue": CLOCKS_QUEUE},
    "audit.tasks.*": {"queue": BULK_QUEUE},
    "*.render_*": {"queue": BULK_QUEUE},
    "*.export_*": {"queue": BULK_QUEUE},
}


class FirelineTask(Task):
    """The base of every Fireline task: late acks, bounded retries with backoff, time limits.

    Tasks are idempotent (they re-fetch by primary key and return early when the work is done), so
    a redelivered message after a worker dies is harmless.
    """

    acks_late = True
    autoretry_for = (ConnectionError, TimeoutError)
    max_retries = 5
    retry_backoff = True
    retry_backoff_max = 300
    retry_jitter = True
    soft_time_limit = 60
    time_limit = 90


def _connect_observability() -> None:
    """Task runtimes for /metrics and the task's name and id on every log line it writes."""
    from config import logging as fireline_logging
    from config import metrics

    signals.task_prerun.connect(metrics.task_started, weak=False)
    signals.task_postrun.connect(metrics.task_finished, weak=False)
    signals.task_prerun.connect(fireline_logging.task_context_start, weak=False)
    signals.task_postrun.connect(fireline_logging.task_context_end, weak=False)


def _use_django_logging(**_kwargs):
    """Workers and beat log JSON through Django's LOGGING, as the web processes do, not Celery's format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


if os.environ.get("LOG_FORMAT", "").lower() == "json":
    signals.setup_logging.connect(_use_django_logging, weak=False)
_connect_observability()
