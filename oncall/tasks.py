"""Thin tasks for the beat: handoff notices every minute, imported calendars every hour."""

import logging

from celery import shared_task
from django.core.exceptions import ValidationError

from config.celery import FirelineTask

from .calendars import layer_import_ical
from .models import Layer
from .services import handoff_notices_due

logger = logging.getLogger(__name__)


@shared_task(base=FirelineTask)
def send_handoff_notices() -> int:
    """Notices for the handoffs of the last half hour; the outbox's dedup keys make a rerun send nothing."""
    return handoff_notices_due()


@shared_task(base=FirelineTask)
def import_calendars() -> dict:
    """Fetch every imported layer's feed; a feed that fails keeps its last shifts and records the error."""
    done, failed = 0, 0
    for layer_id in Layer.objects.exclude(ical_url="").values_list("pk", flat=True):
        try:
            layer_import_ical(layer_id=layer_id)
            done += 1
        except ValidationError:
            logger.warning("Importing the calendar of layer %s failed", layer_id, exc_info=True)
            failed += 1
    return {"imported": done, "failed": failed}


@shared_task(base=FirelineTask)
def import_calendar(layer_id: int) -> int | str:
    """One layer's feed, right after its URL was set; the hourly import retries a feed that failed."""
    if not Layer.objects.filter(pk=layer_id).exclude(ical_url="").exists():
        return "no feed"
    try:
        return layer_import_ical(layer_id=layer_id)
    except ValidationError as exc:
        logger.warning("Importing the calendar of layer %s failed: %s", layer_id, exc)
        return "failed"
