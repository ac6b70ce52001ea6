"""gunicorn's settings for `bin/serve` and the container: `gunicorn -c deploy/gunicorn.conf.py config.wsgi`.

Everything comes from the environment: HOST and PORT (loopback 8000 unless set), WEB_CONCURRENCY
(workers; gunicorn's own variable), GUNICORN_TIMEOUT. A HUP reloads the workers one by one (the
listening socket stays open, so no connection is refused); a TERM stops taking new connections and
lets the requests in flight finish within graceful_timeout.
"""

import os

bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # a PDF can take seconds; an alert never should
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests (with jitter, so they do not all restart together):
# memory that a long-lived process gathers (WeasyPrint's caches) is given back.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
accesslog = None  # Django writes one JSON line per request, with its request id (config/logging.py)
errorlog = "-"
proc_name = "fireline-web"
# gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): two servers on one
# machine would fight over it, and nothing here uses it (HUP and TERM are the controls).
control_socket_disable = True


def child_exit(server, worker):
    """prometheus-client's multiprocess mode: a dead worker's live gauges are dropped (its counters stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
