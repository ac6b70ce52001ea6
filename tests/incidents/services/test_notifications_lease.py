"""The claim lease on an outbox row: longer than a send can take, short enough that a killed send is
retried within half a minute (not two), and the one duplicate it can cause carries the same Message-ID."""

import logging
from datetime import timedelta
from unittest import mock

import httpx
import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.mail import get_connection
from django.utils import timezone

from incidents import channels
from incidents.constants import Channel, NotificationState
from incidents.models import Notification
from incidents.services.notifications import _claim, notification_deliver, notification_enqueue


def enqueue(channel=Channel.EMAIL, recipient="ops@example.com"):
    return notification_enqueue(
        channel=channel, recipient=recipient, subject="Paged", body="Something needs you.", dedup_key="lease-1"
    )


def test_a_send_killed_mid_way_is_sent_again_within_half_a_minute_and_not_before_its_lease_lapses(db):
    notification = enqueue()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert _claim(notification.pk), "a worker claims the row, starts sending, and is killed"
    with time_machine.travel(start + timedelta(seconds=settings.EMAIL_TIMEOUT + 5), tick=False):
        # a send still running could be this far in: nobody else may send yet
        assert notification_deliver(notification_id=notification.pk).status == "skipped"
        assert mail.outbox == []
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        assert notification_deliver(notification_id=notification.pk).status == "sent"
    [email] = mail.outbox
    assert email.extra_headers["Message-ID"] == channels._message_id("lease-1"), "the receiver can drop a repeat"
    assert Notification.objects.get(pk=notification.pk).state == NotificationState.SENT


def test_the_lease_outlasts_the_longest_send_timeout():
    lease = settings.FIRELINE_NOTIFY_CLAIM_SECONDS
    assert lease <= 30, "a killed send waits no longer than half a minute"
    smtp = get_connection("django.core.mail.backends.smtp.EmailBackend")
    assert smtp.timeout == settings.EMAIL_TIMEOUT and 0 < smtp.timeout < lease, "each SMTP step is bounded"

    class Sent(Exception):
        pass

    with mock.patch.object(httpx, "post", side_effect=Sent) as post, pytest.raises(Sent):
        channels.send_webhook(Notification(pk=1, dedup_key="lease-1", recipient="https://hooks.example.com/x"))
    timeout = post.call_args.kwargs["timeout"]
    assert timeout is not None and 0 < timeout < lease, "a webhook POST is bounded"


def test_a_send_that_outlasts_its_lease_is_reported(db, settings, caplog):
    settings.FIRELINE_NOTIFY_CLAIM_SECONDS = 5
    notification = enqueue()
    clock = iter([100.0, 107.0])
    with (
        mock.patch("incidents.services.notifications.time.monotonic", side_effect=lambda: next(clock)),
        caplog.at_level(logging.WARNING, logger="incidents.services.notifications"),
    ):
        assert notification_deliver(notification_id=notification.pk).status == "sent"
    assert "took 7 s to send, longer than its 5 s claim" in caplog.text
