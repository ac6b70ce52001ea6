"""Faults that must lose nothing (issue 3): a real Celery worker subprocess on a Redis the test owns,
a local SMTP sink (aiosmtpd) that counts each message by its X-Fireline-Dedup-Key, and PostgreSQL.

The worker runs on production settings (config.settings) with small FIRELINE_NOTIFY_* values in its
environment; the beat is played by the test, which sends `sweep_outbox` as the beat would.
"""

import json
import logging
import time

import pytest
from django.db import connection, transaction
from django.urls import reverse
from kombu.exceptions import OperationalError

from incidents.constants import Channel, NotificationState, PageState, StakeholderRole, TimelineKind
from incidents.models import Notification
from incidents.services.notifications import notification_enqueue
from incidents.tasks import sweep_outbox
from tests.incidents.factories import make_contact
from tests.integration.harness import free_port, run_django, wait_for, worker_env

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a worker subprocess needs a shared PostgreSQL"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def notify_settings(settings, **values):
    """Set FIRELINE_NOTIFY_<NAME> here (pytest-django `settings`) and return the same for a worker's env."""
    env = {}
    for name, value in values.items():
        setattr(settings, f"FIRELINE_NOTIFY_{name}", value)
        env[f"FIRELINE_NOTIFY_{name}"] = str(value)
    return env


def enqueue(key: str, **kwargs) -> Notification:
    """One outbox row in its own transaction, as a request would write it; queued on commit."""
    with transaction.atomic():
        notification = notification_enqueue(
            channel=Channel.EMAIL,
            recipient=f"{key}@example.com",
            subject=f"Fault test {key}",
            body="Something needs you.",
            dedup_key=key,
            **kwargs,
        )
    assert notification is not None
    return notification


def sweep_until(done, *, timeout: float, every: float) -> bool:
    """Play the beat: send sweep_outbox every `every` seconds until done() or the deadline."""
    deadline = time.monotonic() + timeout
    next_sweep = time.monotonic()
    while time.monotonic() < deadline:
        if done():
            return True
        if time.monotonic() >= next_sweep:
            try:
                sweep_outbox.delay()
            except OperationalError:  # the broker may refuse for a moment; the next beat tries again
                pass
            next_sweep += every
        time.sleep(0.1)
    return done()


def drained(redis_server, leftover_unacked: int = 0) -> bool:
    """No task message waiting, and none unacknowledged but those a killed worker left behind."""
    client = redis_server.client()
    return client.llen("celery") == 0 and client.hlen("unacked") <= leftover_unacked


def until_or_crash(predicate, worker):
    """Stop waiting early when the worker logs a crashed task: the condition will not come."""
    return lambda: predicate() or bool(worker.task_errors())


def crash_report(worker) -> str:
    errors = worker.task_errors()
    return ("tasks crashed in the worker:\n" + "\n".join(e[:600] for e in errors[:3])) if errors else worker.tail()


def state_of(pk: int) -> str:
    return Notification.objects.values_list("state", flat=True).get(pk=pk)


def test_redis_stopped_while_200_notifications_are_created_loses_nothing_and_sends_nothing_twice(
    redis_server, publisher, smtp_sink, start_worker, settings, caplog
):
    env = notify_settings(settings, REQUEUE_AFTER_SECONDS=5, CLAIM_SECONDS=30)
    smtp_sink.start()
    worker = start_worker(**env)
    # Workaround for the bug test_a_broker_that_is_down_does_not_hold_up_the_caller documents: with the
    # configured transport options every publish to a stopped Redis costs ~2 s, 150 rows 5 minutes.
    publisher.point_at(redis_server.url, max_retries=1, interval_start=0)

    keys = [f"fault-redis-{i:03d}" for i in range(200)]
    for key in keys[:50]:
        enqueue(key)
    redis_server.stop()  # messages queued and not yet consumed are gone with it (no persistence)
    durations = []
    with caplog.at_level(logging.WARNING, logger="incidents.services.notifications"):
        for key in keys[50:]:
            started = time.monotonic()
            enqueue(key)  # must not raise: the queueing failure is caught and logged
            durations.append(time.monotonic() - started)
    logged = [r for r in caplog.records if r.getMessage().startswith("Could not queue notification")]
    assert len(logged) == 150, "each failure to queue is logged"

    assert max(durations) < 1.0, f"a caller was held up {max(durations):.2f}s by the stopped broker"
    rows = Notification.objects.filter(dedup_key__in=keys)
    assert rows.count() == 200
    assert rows.filter(dedup_key__in=keys[50:], queued_at__isnull=True).count() == 150, "none could be queued"

    redis_server.start()  # empty: whatever was queued before is lost
    back = time.monotonic()
    all_sent = sweep_until(lambda: rows.filter(state=NotificationState.SENT).count() == 200, timeout=120, every=5)
    recovery = time.monotonic() - back
    assert all_sent, (
        f"{rows.filter(state=NotificationState.SENT).count()}/200 sent two minutes after Redis returned\n"
        + worker.tail()
    )
    assert wait_for(lambda: drained(redis_server), timeout=30, interval=0.2), worker.tail()
    time.sleep(0.5)  # a redundant task still being skipped would have sent by now

    counts = smtp_sink.counts()
    assert sorted(counts) == keys, "every notification arrived"
    assert [k for k, n in counts.items() if n > 1] == [], "nothing arrived twice"
    assert not rows.exclude(state=NotificationState.SENT).exists()
    print(
        f"\n[redis-down] 150 rows created with Redis stopped in {sum(durations):.2f}s "
        f"(max {max(durations) * 1000:.1f} ms per row, with the transport-option workaround); "
        f"all 200 delivered {recovery:.1f}s after Redis returned, {sum(counts.values())} emails, 0 duplicates"
    )


ENQUEUE_WITH_THE_BROKER_DOWN = """
import json, time
from django.db import transaction
from incidents.services.notifications import notification_enqueue
timings = []
for i in range(3):
    started = time.monotonic()
    with transaction.atomic():
        notification_enqueue(channel="email", recipient=f"slow{i}@example.com", subject="Slow?", body="-",
                             dedup_key=f"fault-slow-{i}")
    timings.append(time.monotonic() - started)
print("TIMINGS", json.dumps(timings))
"""


def test_a_broker_that_is_down_does_not_hold_up_the_caller(tmp_path):
    """Production settings in a process of their own (as a web request would run), Redis not listening."""
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    env = worker_env(redis_url=dead_redis, smtp_port=free_port(), var_dir=tmp_path)
    output = run_django(ENQUEUE_WITH_THE_BROKER_DOWN, env)  # must not raise
    timings = json.loads(output.split("TIMINGS", 1)[1])
    rows = Notification.objects.filter(dedup_key__startswith="fault-slow-")
    assert rows.filter(queued_at__isnull=True, state=NotificationState.PENDING).count() == 3, "written, not queued"
    assert max(timings) < 0.5, f"each enqueue with the broker down took {[round(t, 2) for t in timings]} s"


def test_a_worker_killed_mid_send_is_replaced_and_the_message_is_delivered_once(
    redis_server, publisher, smtp_sink, start_worker, settings
):
    env = notify_settings(settings, CLAIM_SECONDS=3, REQUEUE_AFTER_SECONDS=1)
    smtp_sink.delay_first_mail = 8.0  # the first MAIL FROM hangs: the kill lands mid-conversation
    smtp_sink.start()
    first = start_worker(**env)

    notification = enqueue("fault-kill-1")
    assert smtp_sink.first_mail_started.wait(timeout=20), "the worker never started sending\n" + first.tail()
    claimed = Notification.objects.get(pk=notification.pk)
    assert claimed.state == NotificationState.PENDING
    assert claimed.claimed_until is not None, "the worker holds a lease while it sends"
    first.kill()
    assert smtp_sink.counts()["fault-kill-1"] == 0
    leftover = redis_server.client().hlen("unacked")  # the killed worker's message, unacked until visibility_timeout

    second = start_worker(**env)
    delivered = sweep_until(lambda: state_of(notification.pk) == NotificationState.SENT, timeout=30, every=1)
    assert delivered, "the new worker did not deliver the notification\n" + second.tail()
    arrival = smtp_sink.first("fault-kill-1")
    assert arrival is not None
    assert arrival.wall >= claimed.claimed_until.timestamp() - 0.2, "sent again only after the lease lapsed"

    assert wait_for(lambda: drained(redis_server, leftover), timeout=15, interval=0.2), second.tail()
    time.sleep(0.5)
    assert smtp_sink.counts()["fault-kill-1"] == 1
    sent = Notification.objects.get(pk=notification.pk)
    assert sent.attempts == 1 and sent.claimed_until is None and sent.sent_at is not None


def test_a_mail_server_refusing_connections_is_retried_with_backoff_until_it_accepts(
    redis_server, publisher, smtp_sink, start_worker, settings
):
    env = notify_settings(settings, BACKOFF_SECONDS=0.5, BACKOFF_MAX_SECONDS=1.0, MAX_ATTEMPTS=30)
    worker = start_worker(**env)  # the sink is not started: its port refuses connections

    notification = enqueue("fault-smtp-down-1")
    retried = until_or_crash(lambda: Notification.objects.get(pk=notification.pk).attempts >= 2, worker)
    wait_for(retried, timeout=15, interval=0.1)
    retrying = Notification.objects.get(pk=notification.pk)
    assert retrying.attempts >= 2, crash_report(worker)
    assert retrying.state == NotificationState.PENDING
    assert "refused" in retrying.last_error.lower(), retrying.last_error

    smtp_sink.start()
    assert wait_for(lambda: state_of(notification.pk) == NotificationState.SENT, timeout=20, interval=0.1), (
        worker.tail()
    )
    assert wait_for(lambda: drained(redis_server), timeout=15, interval=0.2), worker.tail()
    time.sleep(0.5)
    assert smtp_sink.counts() == {"fault-smtp-down-1": 1}
    sent = Notification.objects.get(pk=notification.pk)
    assert sent.attempts >= 3  # at least two refusals and the delivery
    assert sent.attempts < 30


def exhaust_the_retry_budget(start_worker, settings, open_incident):
    """A SEV3 incident pages the on-call engineer by email; the mail server never answers; 3 attempts."""
    env = notify_settings(settings, BACKOFF_SECONDS=0.5, BACKOFF_MAX_SECONDS=1.0, MAX_ATTEMPTS=3)
    worker = start_worker(**env)  # the sink is never started: its port refuses connections
    oncall = make_contact(
        name="Olive Oncall", role=StakeholderRole.ENGINEERING_ON_CALL, email="olive@example.com", verified=True
    )

    incident = open_incident()  # SEV3: pages the on-call engineer by email
    notification = Notification.objects.get(incident=incident, contact=oncall)
    gave_up = until_or_crash(lambda: state_of(notification.pk) == NotificationState.FAILED, worker)
    wait_for(gave_up, timeout=20, interval=0.1)
    assert state_of(notification.pk) == NotificationState.FAILED, crash_report(worker)
    return incident, notification


def test_past_the_retry_budget_the_notification_fails_and_the_timeline_says_who_was_not_reached(
    redis_server, publisher, smtp_sink, start_worker, settings, open_incident
):
    incident, notification = exhaust_the_retry_budget(start_worker, settings, open_incident)

    failed = Notification.objects.select_related("page").get(pk=notification.pk)
    assert failed.attempts == 3
    assert "refused" in failed.last_error.lower(), failed.last_error
    assert failed.page.state == PageState.FAILED
    entries = incident.timeline.filter(kind=TimelineKind.DELIVERY_FAILED, text__startswith="Could not reach Olive")
    assert entries.count() == 1, list(incident.timeline.values_list("kind", "text"))
    assert "after 3 attempts" in entries.get().text
    assert smtp_sink.counts() == {}


def test_past_the_retry_budget_the_incident_page_shows_the_commander_who_was_not_reached(
    redis_server, publisher, smtp_sink, start_worker, settings, open_incident, commander, client
):
    incident, _ = exhaust_the_retry_budget(start_worker, settings, open_incident)

    client.force_login(commander)
    response = client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="not-reached"' in html and "Not reached" in html
    card = html.split('id="not-reached"', 1)[1].split("</div>", 1)[0]
    assert "Olive Oncall" in card and "after 3 attempts" in card
