"""Handoff notices through a real Celery worker on Redis and PostgreSQL: the beat's task runs twice, each
person is emailed once (CI's PostgreSQL + Redis run)."""

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core import mail
from django.db import connection
from django.utils import timezone
from kombu import pools as kombu_pools

from config.celery import app
from incidents.constants import NotificationState
from incidents.models import Notification
from oncall.tasks import send_handoff_notices
from tests.incidents.factories import UserFactory
from tests.oncall.factories import make_schedule

pytestmark = [
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (CI sets it for the PostgreSQL run)"),
    pytest.mark.skipif(connection.vendor == "sqlite", reason="a worker thread needs a shared database server"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _fresh_pools():
    app._pool = None
    app.amqp._producer_pool = None
    kombu_pools.reset()


@pytest.fixture
def worker():
    _fresh_pools()
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True
        _fresh_pools()


def wait_for(predicate, timeout=20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_the_worker_sends_each_handoff_notice_once(worker):
    alice = UserFactory(username="w-alice", first_name="Alice")
    bob = UserFactory(username="w-bob", first_name="Bob")
    handoff = timezone.now() - timedelta(minutes=5)  # a daily handoff five minutes ago: Alice hands to Bob
    make_schedule(
        "AI on-call",
        layers=[
            {
                "members": [alice, bob],
                "length": "daily",
                "rotation_start": handoff.date() - timedelta(days=3),
                "handoff_time": handoff.time().replace(microsecond=0),
            }
        ],
    )
    send_handoff_notices.delay()
    send_handoff_notices.delay()  # the beat again a minute later, or a duplicated message
    assert wait_for(
        lambda: (
            Notification.objects.filter(dedup_key__startswith="oncall:handoff:", state=NotificationState.SENT).count()
            == 2
        )
    )
    time.sleep(1)  # anything sent twice would arrive now
    sent = sorted((m.to[0], m.subject.split(" for ")[0].split(" shift")[0]) for m in mail.outbox)
    assert sent == [("w-alice@example.com", "Your AI on-call"), ("w-bob@example.com", "You are on call")]
