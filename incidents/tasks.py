"""Thin tasks: take primary keys, call a service, return what happened. Safe to run twice."""

from celery import shared_task

from config.celery import FirelineTask
from incidents.services.action_items import action_item_reminders_due
from incidents.services.escalation import escalations_due
from incidents.services.notifications import notification_deliver, notifications_requeue_due
from incidents.services.regulatory import privacy_proposals_due, regulatory_reminders_due
from incidents.services.stakeholders import contacts_mark_stale


@shared_task(base=FirelineTask, bind=True, max_retries=50)
def deliver_notification(self, notification_id: int) -> str:
    outcome = notification_deliver(notification_id=notification_id)
    if outcome.status == "retry":
        # A short countdown only: the row's next_attempt_at is the truth, and the sweep queues it again
        # should this retry message be lost.
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(base=FirelineTask)
def sweep_outbox() -> dict:
    """Every minute (beat): queue lost or due notifications, fire due escalations."""
    return {"requeued": notifications_requeue_due(), "escalated": escalations_due()}


@shared_task(base=FirelineTask)
def mark_stale_contacts() -> int:
    return contacts_mark_stale()


@shared_task(base=FirelineTask)
def regulatory_clock() -> dict:
    """Every minute (beat): propose GDPR for new privacy incidents, send due regulatory reminders once."""
    return {"proposed": privacy_proposals_due(), "reminded": regulatory_reminders_due()}


@shared_task(base=FirelineTask)
def remind_action_items() -> int:
    """Every minute (beat): send due action item reminders, each once."""
    return action_item_reminders_due()
