"""Thin beat tasks for drills. Safe to run twice, or at the same time."""

from celery import shared_task

from config.celery import FirelineTask

from .services import drills_propose_due, drills_release_injects_due, drills_send_reminders_due


@shared_task(base=FirelineTask)
def propose_quarterly_drills() -> int:
    """Hourly (beat): every active drill policy has its drill this quarter."""
    return drills_propose_due()


@shared_task(base=FirelineTask)
def drill_clock() -> dict:
    """Every minute (beat): release due injects of running drills, send due reminders once."""
    return {"injects": drills_release_injects_due(), "reminders": drills_send_reminders_due()}
