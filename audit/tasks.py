import logging

from celery import shared_task

from config.celery import FirelineTask

from .checkpoints import action_log_check_and_checkpoint
from .trail.retention import audit_records_expire, deletion_order_carry_out, deletion_orders_pending

logger = logging.getLogger(__name__)


@shared_task(base=FirelineTask)
def verify_action_log() -> str:
    """Hourly tamper check, so a broken chain is noticed without anyone running audit_verify.

    Checks the keyed chain and the newest signed checkpoint; when both hold, writes and sends the next
    checkpoint (audit/checkpoints.py).
    """
    broken, checkpoint = action_log_check_and_checkpoint()
    if broken is not None:
        logger.critical("Fireline action log chain broken at %s", broken)
        return f"broken: {broken}"
    return f"intact: checkpoint at {checkpoint.entry_count} entries"


# Leave room under the task's soft time limit (60 s) to finish the batch in flight.
RETENTION_TIME_BUDGET = 40.0


@shared_task(base=FirelineTask)
def expire_audit_records() -> dict:
    """Hourly: delete audit records past their feature's retention, sparing those on legal hold.

    When one run cannot finish within its time limit it queues another right away for the rest.
    """
    counts = audit_records_expire(time_budget=RETENTION_TIME_BUDGET)
    if counts["more"] and counts["deleted"]:
        expire_audit_records.delay()
    return counts


@shared_task(base=FirelineTask)
def carry_out_deletion_orders() -> int:
    """Every minute (and right after an order is placed): empty the records of pending deletion orders."""
    done = 0
    for order_id in deletion_orders_pending():
        order = deletion_order_carry_out(order_id=order_id)
        done += order is not None
    return done
