"""The notification outbox: written with the change, queued on commit, sent once, retried, failed loudly."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents.channels import webhook_signature
from incidents.constants import NotificationState, PageState, StakeholderRole, TimelineKind
from incidents.models import Notification, Page
from incidents.services.notifications import (
    backoff_seconds,
    notification_deliver,
    notification_enqueue,
    notifications_requeue_due,
)
from incidents.tasks import deliver_notification
from tests.incidents.factories import make_contact


def enqueue(key="k1", channel="email", recipient="ops@example.com", **kwargs):
    return notification_enqueue(
        channel=channel, recipient=recipient, subject="Subject", body="Body", dedup_key=key, **kwargs
    )


@pytest.fixture
def http_sink():
    """A local HTTP receiver on 127.0.0.1 that records requests and answers with a chosen status."""
    received, state = [], {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body, "path": self.path})
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}/hook", "received": received, "state": state}
    server.shutdown()
    server.server_close()


def test_row_is_written_in_the_callers_transaction_and_queued_on_commit(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        notification = enqueue()
    assert Notification.objects.filter(pk=notification.pk, state=NotificationState.PENDING).exists()
    assert len(callbacks) == 1 and mail.outbox == []


def test_a_rolled_back_change_leaves_no_notification(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue()
            raise RuntimeError("the change failed")
    assert not Notification.objects.exists() and callbacks == [] and mail.outbox == []


def test_same_dedup_key_is_written_once(db):
    assert enqueue() is not None
    assert enqueue() is None
    assert Notification.objects.count() == 1


def test_delivery_sends_once_however_often_the_task_runs(db):
    notification = enqueue()
    assert deliver_notification.delay(notification.pk).get() == "sent"
    assert deliver_notification.delay(notification.pk).get() == "skipped"
    assert notification_deliver(notification_id=notification.pk).status == "skipped"
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.state == NotificationState.SENT and notification.attempts == 1
    assert mail.outbox[0].extra_headers["X-Fireline-Dedup-Key"] == "k1"


def test_a_claimed_row_is_not_sent_by_a_second_worker(db):
    notification = enqueue()
    Notification.objects.filter(pk=notification.pk).update(claimed_until=timezone.now() + timedelta(minutes=1))
    assert notification_deliver(notification_id=notification.pk).status == "skipped"
    assert mail.outbox == []
    # a crashed worker's lease lapses and the row is delivered after all
    Notification.objects.filter(pk=notification.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert notification_deliver(notification_id=notification.pk).status == "sent"


def test_failures_back_off_then_fail_and_show_on_the_incident(open_incident, settings, client, commander):
    settings.EMAIL_BACKEND = "tests.incidents.services.test_notifications.RefusingBackend"
    settings.FIRELINE_NOTIFY_MAX_ATTEMPTS = 3
    make_contact(name="Lawyer", role=StakeholderRole.ENGINEERING_ON_CALL, email="lawyer@example.com")
    incident = open_incident()
    notification = Notification.objects.get(incident=incident)
    delays = []
    for _ in range(3):
        Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
        outcome = notification_deliver(notification_id=notification.pk)
        delays.append(outcome.retry_in)
    notification.refresh_from_db()
    assert delays == [backoff_seconds(1), backoff_seconds(2), None]
    assert backoff_seconds(2) == 2 * backoff_seconds(1)
    assert notification.state == NotificationState.FAILED and notification.attempts == 3
    assert "Connection refused" in notification.last_error
    assert Page.objects.get(incident=incident).state == PageState.FAILED
    failed = incident.timeline.get(kind=TimelineKind.DELIVERY_FAILED, text__startswith="Could not reach")
    assert "Lawyer" in failed.text and "3 attempts" in failed.text
    client.force_login(commander)
    html = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert 'id="not-reached"' in html and "Lawyer" in html


def test_backoff_is_bounded(settings):
    settings.FIRELINE_NOTIFY_BACKOFF_MAX_SECONDS = 60
    assert backoff_seconds(30) == 60


class RefusingBackend:
    """An email backend whose server refuses every connection."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("[Errno 111] Connection refused")


def test_sweep_requeues_what_the_broker_lost(db, settings):
    notification = enqueue()
    # written but never queued (broker down), and older than the re-queue threshold
    Notification.objects.filter(pk=notification.pk).update(
        queued_at=None, created_at=timezone.now() - timedelta(minutes=5)
    )
    assert notifications_requeue_due() == 1
    assert len(mail.outbox) == 1  # eager: the re-queued task ran
    assert notifications_requeue_due() == 0


def test_sweep_leaves_recently_queued_rows_alone(db):
    notification = enqueue()
    Notification.objects.filter(pk=notification.pk).update(queued_at=timezone.now())
    assert notifications_requeue_due() == 0
    assert mail.outbox == []


def test_sweep_waits_for_the_backoff(db):
    notification = enqueue()
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=1))
    assert notifications_requeue_due() == 0


def test_chat_webhook_gets_slack_compatible_json(db, http_sink):
    notification = enqueue(channel="chat", recipient=http_sink["url"])
    assert notification_deliver(notification_id=notification.pk).status == "sent"
    body = json.loads(http_sink["received"][0]["body"])
    assert body == {"text": "*Subject*\nBody"}


def test_json_webhook_is_signed_with_hmac_sha256(db, http_sink):
    notification = enqueue(channel="webhook", recipient=http_sink["url"])
    notification_deliver(notification_id=notification.pk)
    request = http_sink["received"][0]
    headers = request["headers"]
    expected = webhook_signature(settings.FIRELINE_WEBHOOK_SECRET, headers["X-Fireline-Timestamp"], request["body"])
    assert headers["X-Fireline-Signature"] == expected
    assert webhook_signature("wrong-secret", headers["X-Fireline-Timestamp"], request["body"]) != expected
    assert json.loads(request["body"])["dedup_key"] == "k1" and headers["Idempotency-Key"] == "k1"


def test_webhook_error_status_is_a_failed_attempt(db, http_sink):
    http_sink["state"]["status"] = 503
    notification = enqueue(channel="webhook", recipient=http_sink["url"])
    outcome = notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert outcome.status == "retry" and "HTTP 503" in notification.last_error
    assert notification.state == NotificationState.PENDING
