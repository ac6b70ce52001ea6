"""A real Celery worker on a real Redis runs Fireline's tasks (CI's PostgreSQL + Redis run)."""

import os

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection
from kombu import pools as kombu_pools

from audit.models import ActionLogHead
from audit.tasks import verify_action_log
from config.celery import app

pytestmark = [
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (CI sets it for the PostgreSQL run)"),
    pytest.mark.skipif(connection.vendor == "sqlite", reason="a worker thread needs a shared database server"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _fresh_pools():
    # other fault tests point the app at brokers of their own and close its pools; start clean
    app._pool = None
    app.amqp._producer_pool = None
    kombu_pools.reset()  # kombu keeps producer pools per connection in a global registry


@pytest.fixture
def worker():
    _fresh_pools()
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True
        _fresh_pools()  # the worker closes the pools it used on the way out


def wait_for(predicate, timeout=20.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_worker_verifies_the_action_log_and_records_the_outcome(worker, open_incident):
    assert os.environ.get("REDIS_URL", settings.REDIS_URL).startswith("redis://")
    open_incident()
    verify_action_log.delay()
    assert wait_for(lambda: ActionLogHead.objects.filter(pk=1, is_intact=True).exists())


def test_worker_reports_a_tampered_chain(worker, open_incident):
    open_incident()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_actionlogentry SET verb = 'forged'")
    verify_action_log.delay()
    assert wait_for(lambda: ActionLogHead.objects.filter(pk=1, is_intact=False).exists())
    assert "altered" in ActionLogHead.objects.get(pk=1).first_break
