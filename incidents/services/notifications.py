"""The notification outbox: write a row, queue it on commit, deliver it exactly once.

Delivery claims the row with a conditional UPDATE (a lease), sends outside any transaction, then
marks it sent. A duplicated or retried task finds the row claimed or sent and does nothing. A worker
killed mid-send leaves a lease that lapses; the sweep queues the row again. A broker that is down
when the row is written only delays it: the sweep queues every pending row it finds.

The lease (FIRELINE_NOTIFY_CLAIM_SECONDS, 30 s) is a little longer than a send can take: every step of
an SMTP conversation is bounded by EMAIL_TIMEOUT and a webhook POST by its 10 s timeout. So a live send
is never doubled by a second worker, and a killed one is retried within half a minute. The one duplicate
left is a send killed after the receiver accepted it and before the row was marked: it is sent once more,
at most once per killed send, with the same Message-ID / Idempotency-Key so the receiver can drop it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from incidents import channels
from incidents.constants import NotificationState, PageState, TimelineKind
from incidents.models import Notification

from .workflow import timeline_add

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str  # sent | skipped | retry | failed
    retry_in: float | None = None


def _queue(notification_id: int) -> None:
    from incidents.tasks import deliver_notification

    try:
        deliver_notification.delay(notification_id)
    except Exception:  # broker unreachable: the row is safe, the sweep will queue it
        logger.warning(
            "Could not queue notification %s now; the outbox sweep will retry", notification_id, exc_info=True
        )
        return
    Notification.objects.filter(pk=notification_id).update(queued_at=timezone.now())


def notification_enqueue(
    *,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    dedup_key: str,
    incident=None,
    page=None,
    contact=None,
) -> Notification | None:
    """Write the outbox row in the caller's transaction; queue it once that commits.

    Returns None when a notification with this dedup key exists already: nothing is sent twice.
    """
    notification, created = Notification.objects.get_or_create(
        dedup_key=dedup_key[:250],
        defaults={
            "channel": channel,
            "recipient": recipient,
            "subject": subject[:300],
            "body": body,
            "incident": incident,
            "page": page,
            "contact": contact,
        },
    )
    if not created:
        return None
    transaction.on_commit(lambda: _queue(notification.pk))
    return notification


def _claim(notification_id: int) -> bool:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.FIRELINE_NOTIFY_CLAIM_SECONDS)
    # A little tolerance: a retry scheduled for next_attempt_at may arrive a moment early.
    return bool(
        Notification.objects.filter(
            pk=notification_id, state=NotificationState.PENDING, next_attempt_at__lte=now + timedelta(seconds=2)
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=lease)
    )


def backoff_seconds(attempts: int) -> float:
    base = settings.FIRELINE_NOTIFY_BACKOFF_SECONDS
    return min(base * (2 ** max(attempts - 1, 0)), settings.FIRELINE_NOTIFY_BACKOFF_MAX_SECONDS)


def notification_deliver(*, notification_id: int) -> DeliveryOutcome:
    if not _claim(notification_id):
        return DeliveryOutcome("skipped")
    notification = Notification.objects.get(pk=notification_id)
    started = time.monotonic()
    try:
        channels.deliver(notification)
    except channels.DeliveryError as exc:
        return _record_failure(notification_id, str(exc), retry_after=getattr(exc, "retry_after", None))
    took = time.monotonic() - started
    if took > settings.FIRELINE_NOTIFY_CLAIM_SECONDS:
        logger.warning(
            "Notification %s took %.0f s to send, longer than its %s s claim: another worker may have sent it "
            "too (same dedup key); raise FIRELINE_NOTIFY_CLAIM_SECONDS above the send timeouts",
            notification_id,
            took,
            settings.FIRELINE_NOTIFY_CLAIM_SECONDS,
        )
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        notification.attempts += 1
        notification.mark_sent()
        notification.save()
        if notification.page_id:
            from incidents.models import Page

            page = Page.objects.select_for_update().get(pk=notification.page_id)
            if page.state == PageState.PENDING:
                page.mark_sent()
                page.save()
    return DeliveryOutcome("sent")


@transaction.atomic
def _record_failure(notification_id: int, error: str, retry_after: float | None = None) -> DeliveryOutcome:
    notification = (
        Notification.objects.select_for_update(of=("self",)).select_related("contact", "page").get(pk=notification_id)
    )
    notification.attempts += 1
    notification.last_error = error[:2000]
    notification.claimed_until = None
    if notification.attempts < settings.FIRELINE_NOTIFY_MAX_ATTEMPTS:
        delay = max(backoff_seconds(notification.attempts), retry_after or 0)  # a 429's Retry-After is honoured
        notification.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        notification.save()
        return DeliveryOutcome("retry", retry_in=delay)
    notification.fail()
    notification.save()
    logger.error("Notification %s failed after %s attempts: %s", notification.pk, notification.attempts, error)
    if notification.incident_id:
        who = notification.contact.name if notification.contact else notification.recipient
        timeline_add(
            notification.incident_id,
            kind=TimelineKind.DELIVERY_FAILED,
            text=f"Could not reach {who} by {notification.get_channel_display().lower()} after "
            f"{notification.attempts} attempts: {error[:200]}",
        )
    page = notification.page
    if page is not None and page.state == PageState.PENDING:
        if not page.notifications.exclude(state=NotificationState.FAILED).exists():
            page.fail()
            page.save()
    return DeliveryOutcome("failed")


def notifications_requeue_due(*, limit: int = 500) -> int:
    """Queue again every pending row whose message may have been lost. Safe to run any time."""
    now = timezone.now()
    stale_queue = now - timedelta(seconds=settings.FIRELINE_NOTIFY_REQUEUE_AFTER_SECONDS)
    due = (
        Notification.objects.filter(state=NotificationState.PENDING, next_attempt_at__lte=now)
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=stale_queue))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    ids = list(due)
    for pk in ids:
        _queue(pk)
    return len(ids)


@transaction.atomic
def notification_retry(*, notification_id: int, actor) -> Notification:
    """A person asks for a failed notification to be tried again: a fresh row, the old one kept as it was."""
    old = Notification.objects.get(pk=notification_id)
    count = Notification.objects.filter(dedup_key__startswith=f"{old.dedup_key}:retry").count()
    return notification_enqueue(
        channel=old.channel,
        recipient=old.recipient,
        subject=old.subject,
        body=old.body,
        dedup_key=f"{old.dedup_key}:retry{count + 1}",
        incident=old.incident,
        page=None,
        contact=old.contact,
    )


def reminder_point_send(*, due: list, now, message, recipients: list, dedup_prefix: str, incident) -> tuple:
    """Send the latest of the reminder points due at once, to each recipient once: (the point, messages queued).

    `due` are reminder rows (an `outcome`, `handled_at` and `key`, with SKIPPED and SENT outcomes), oldest
    first: the earlier ones are skipped, so a beat that was down sends one message and not a burst.
    `message(point)` gives (subject, body); `recipients` are (channel, address, contact, key) tuples.
    The caller holds the row locks, in its transaction.
    """
    *earlier, point = due
    for old in earlier:
        old.outcome, old.handled_at = type(old).Outcome.SKIPPED, now
        old.save(update_fields=["outcome", "handled_at"])
    subject, body = message(point)
    queued = 0
    for channel, address, contact, key in recipients:
        created = notification_enqueue(
            channel=channel,
            recipient=address,
            subject=subject,
            body=body,
            dedup_key=f"{dedup_prefix}:{point.key}:{key}",
            incident=incident,
            contact=contact,
        )
        queued += created is not None
    point.outcome, point.handled_at = type(point).Outcome.SENT, now
    point.save(update_fields=["outcome", "handled_at"])
    audit.log_changed(
        actor=None,
        target=point,
        before={"outcome": ""},
        after={"outcome": point.outcome, "recipients": len(recipients)},
        incident=incident,
    )
    return point, queued
