import logging

from celery import shared_task

from config.celery import FirelineTask

from .services import action_log_check_and_record

logger = logging.getLogger(__name__)


@shared_task(base=FirelineTask)
def verify_action_log() -> str:
    """Hourly tamper check, so a broken chain is noticed without anyone running audit_verify."""
    broken = action_log_check_and_record()
    if broken is not None:
        logger.critical("Fireline action log chain broken at %s", broken)
        return f"broken: {broken}"
    return "intact"
