"""The action log's notices (signed checkpoints, a broken chain) go out through the notification outbox.

The outbox belongs to incidents, which sit above the action log, so the log only sends `action_log_notice`
(audit/signals.py) and this receiver, connected in AuditConfig.ready, queues one notification per
recipient: each address in FIRELINE_AUDIT_CHECKPOINT_EMAIL and the FIRELINE_AUDIT_CHECKPOINT_WEBHOOK_URL.
Queued notifications are retried with backoff and shown when they finally fail.
"""

from __future__ import annotations

from django.conf import settings

from incidents.constants import Channel
from incidents.services.notifications import notification_enqueue


def _recipients() -> list[tuple[str, str]]:
    pairs = [(Channel.EMAIL, address) for address in settings.FIRELINE_AUDIT_CHECKPOINT_EMAIL]
    if settings.FIRELINE_AUDIT_CHECKPOINT_WEBHOOK_URL:
        pairs.append((Channel.WEBHOOK, settings.FIRELINE_AUDIT_CHECKPOINT_WEBHOOK_URL))
    return pairs


def action_log_notice_enqueue(sender, *, subject: str, body: str, dedup_prefix: str, **_kwargs) -> int:
    queued = 0
    for channel, recipient in _recipients():
        queued += (
            notification_enqueue(
                channel=channel,
                recipient=recipient,
                subject=subject,
                body=body,
                dedup_key=f"{dedup_prefix}:{channel}:{recipient}",
            )
            is not None
        )
    return queued
