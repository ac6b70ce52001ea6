"""How long audit records are kept, and how their content is removed on a responder's order.

Retention: each AI feature keeps its records for `audit_retention_days`. A record past that is deleted
unless it is on legal hold:
- it is evidence on any incident (open or closed: a published post-mortem still cites it), or
- it falls inside the window of an open incident of its feature: from 24 hours before the incident
  occurred (or was detected, when nobody knows when it started) until now. An investigation needs
  the requests from before anyone noticed.

Deletion orders: a responder orders the content of records removed (leaked personal data, say). The
content goes; the metadata (request id, time, feature, model and prompt versions, counts) stays, so
the trail still shows that the request happened. Evidence rows stay too: the investigation side sees
that the record no longer matches its frozen hash, which is the truth.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, Min, OuterRef
from django.db.models.deletion import ProtectedError, RestrictedError
from django.db.models.functions import Coalesce
from django.utils import timezone

from incidents.constants import OPEN_STATES, TimelineKind
from incidents.models import AIFeature, Incident
from incidents.selectors import incident_is_visible
from incidents.services.workflow import timeline_add

from .. import services as audit
from .ingest import record_content_hash
from .models import AuditRecord, DeletionOrder, Evidence

logger = logging.getLogger(__name__)

RETENTION_BATCH = 5000
# An open incident holds its feature's records from this long before it occurred.
HOLD_BEFORE_INCIDENT = timedelta(hours=24)
# Emptied content fields and the value each is left with.
EMPTY_CONTENT = {
    "input": "",
    "model_output": "",
    "user_output": "",
    "moderation": [],
    "tool_calls": [],
    "parameters": {},
}


# --- retention ------------------------------------------------------------------------------------


def legal_hold_starts(*, feature_ids: Iterable[int] | None = None) -> dict[int, datetime]:
    """{feature id: the earliest moment an open incident of that feature holds records from}."""
    incidents = Incident.objects.filter(state__in=OPEN_STATES)
    if feature_ids is not None:
        incidents = incidents.filter(feature_id__in=list(feature_ids))
    rows = incidents.values("feature_id").annotate(start=Min(Coalesce("occurred_at", "detected_at")))
    return {row["feature_id"]: row["start"] - HOLD_BEFORE_INCIDENT for row in rows}


def _expired(feature: AIFeature, *, now: datetime, hold_from: datetime | None):
    cutoff = now - timedelta(days=feature.audit_retention_days)
    expired = AuditRecord.objects.filter(feature_id=feature.pk, occurred_at__lt=cutoff)
    held_by_incident = expired.filter(occurred_at__gte=hold_from) if hold_from is not None else expired.none()
    if hold_from is not None:
        # Expired and before the hold starts: occurred_at < min(cutoff, hold_from).
        expired = expired.filter(occurred_at__lt=hold_from)
    expired = expired.exclude(Exists(Evidence.objects.filter(record_id=OuterRef("pk"))))
    return expired, held_by_incident


def audit_records_expire(
    *,
    now: datetime | None = None,
    batch_size: int = RETENTION_BATCH,
    time_budget: float | None = None,
) -> dict:
    """Delete records past their feature's retention, in batches, sparing those on legal hold.

    Idempotent: a second run finds nothing more to delete. Stops early when `time_budget` seconds are
    used up and says so in "more", so a task can come back for the rest within its time limit.
    Returns {"deleted", "held_as_evidence", "held_by_open_incident", "more"}.
    """
    now = now or timezone.now()
    started = time.monotonic()
    holds = legal_hold_starts()
    counts = {"deleted": 0, "held_as_evidence": 0, "held_by_open_incident": 0, "more": False}
    for feature in AIFeature.objects.only("pk", "audit_retention_days").order_by("pk"):
        expired, held = _expired(feature, now=now, hold_from=holds.get(feature.pk))
        while True:
            if time_budget is not None and time.monotonic() - started > time_budget:
                counts["more"] = True
                return counts
            deleted, complete = _delete_batch(expired, batch_size)
            counts["deleted"] += deleted
            if complete:
                break
        cutoff = now - timedelta(days=feature.audit_retention_days)
        counts["held_as_evidence"] += (
            AuditRecord.objects.filter(feature_id=feature.pk, occurred_at__lt=cutoff, evidence__isnull=False)
            .distinct()
            .count()
        )
        counts["held_by_open_incident"] += held.exclude(evidence__isnull=False).count()
    return counts


def _delete_batch(expired, batch_size: int) -> tuple[int, bool]:
    """Delete up to batch_size expired records in one transaction: (deleted, nothing left after it).

    Evidence is PROTECT: a record attached as evidence after the query that picked it stops the batch
    (ProtectedError now, or IntegrityError at commit when the attaching transaction was still open)
    instead of vanishing from under the incident. The batch is left for the next run.
    """
    try:
        with transaction.atomic():
            ids = list(expired.order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                return 0, True
            # .only("pk"): the collector would otherwise load every record's content to delete it.
            _, per_model = AuditRecord.objects.filter(pk__in=ids).only("pk").delete()
    except (ProtectedError, RestrictedError, IntegrityError):
        logger.warning("Audit retention: records gained evidence while being deleted; they wait for the next run")
        return 0, True
    return per_model.get(AuditRecord._meta.label, 0), len(ids) < batch_size


# --- deletion orders ------------------------------------------------------------------------------


def _clean_ids(record_ids: Iterable) -> list[int]:
    try:
        return sorted({int(pk) for pk in record_ids})
    except (TypeError, ValueError) as exc:
        raise ValidationError({"records": "Record ids must be whole numbers."}) from exc


@transaction.atomic
def deletion_order_create(
    *, record_ids: Iterable, reason: str, actor, incident: Incident | None = None
) -> DeletionOrder:
    """Order the content of audit records removed; the beat task carries it out within a minute.

    Needs audit.order_deletion (responders and commanders). The reason goes into the action log and onto
    each record, so say why without repeating the personal data itself.
    """
    if actor is None or not actor.has_perm("audit.order_deletion"):
        raise PermissionDenied("You may not order audit records deleted.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the content must go (e.g. which personal data leaked)."})
    ids = _clean_ids(record_ids)
    if not ids:
        raise ValidationError({"records": "Choose at least one record."})
    found = set(AuditRecord.objects.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise ValidationError({"records": f"No audit record has the id {', '.join(map(str, missing[:10]))}."})
    if incident is not None and not incident_is_visible(user=actor, incident=incident):
        raise ValidationError({"incident": "No such incident."})
    order = DeletionOrder.objects.create(reason=reason, incident=incident, ordered_by=actor)
    order.records.set(ids)
    audit.log_deletion_ordered(actor=actor, order=order, record_ids=ids)
    transaction.on_commit(_queue_carry_out)
    return order


def _queue_carry_out() -> None:
    from ..tasks import carry_out_deletion_orders

    try:
        carry_out_deletion_orders.delay()
    except Exception:  # broker unreachable: the order is a row; the beat task finds it within a minute
        logger.warning("Could not queue the deletion order now; the next beat run carries it out", exc_info=True)


def deletion_orders_pending() -> list[int]:
    return list(
        DeletionOrder.objects.filter(state=DeletionOrder.State.PENDING).order_by("pk").values_list("pk", flat=True)
    )


def _emptied_context(context) -> list:
    """Which documents were retrieved stays (ids and sources); what they said goes."""
    if not isinstance(context, list):
        return []
    return [{"id": doc.get("id"), "source": doc.get("source"), "text": ""} for doc in context if isinstance(doc, dict)]


@transaction.atomic
def deletion_order_carry_out(*, order_id: int) -> DeletionOrder | None:
    """Remove the content of an order's records; idempotent (a done order is left alone).

    Each record keeps its metadata, is stamped with when and why its content went, and gets a new
    content hash. Evidence keeps the hash it was frozen with, so the incident shows the mismatch.
    The action log entry names the records and the reason, never the content.
    """
    order = DeletionOrder.objects.select_for_update().filter(pk=order_id).first()
    if order is None or order.state == DeletionOrder.State.DONE:
        return order
    now = timezone.now()
    stamp = f"Deletion order #{order.pk}: {order.reason}"
    records = list(order.records.select_for_update().order_by("pk"))
    emptied, already = [], []
    for record in records:
        if record.content_deleted_at is not None:
            already.append(record.pk)
            continue
        for name, value in EMPTY_CONTENT.items():
            setattr(record, name, value.copy() if isinstance(value, list | dict) else value)
        record.retrieved_context = _emptied_context(record.retrieved_context)
        record.content_deleted_at = now
        record.content_deleted_reason = stamp
        record.content_hash = record_content_hash(record)
        emptied.append(record)
    AuditRecord.objects.bulk_update(
        emptied,
        [*EMPTY_CONTENT, "retrieved_context", "content_deleted_at", "content_deleted_reason", "content_hash"],
        batch_size=500,
    )
    evidence_ids = sorted(
        set(Evidence.objects.filter(record_id__in=[r.pk for r in emptied]).values_list("record_id", flat=True))
    )
    order.state = DeletionOrder.State.DONE
    order.done_at = now
    order.save(update_fields=["state", "done_at"])
    audit.log_deletion_carried_out(
        order=order, emptied_ids=[r.pk for r in emptied], already_empty_ids=already, evidence_ids=evidence_ids
    )
    if order.incident_id is not None and emptied:
        timeline_add(
            order.incident_id,
            kind=TimelineKind.NOTE,
            text=f"Content of {len(emptied)} audit record(s) deleted (deletion order #{order.pk}): {order.reason}",
            occurred_at=now,
        )
    return order
