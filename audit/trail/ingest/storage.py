"""Storing checked records: redacted, hashed, and written in bulk, with duplicates and conflicts sorted out.

Existing ids are looked up once per request; new rows go in with one COPY (PostgreSQL) or bulk INSERT per
chunk, and a chunk that loses a race with a concurrent request for the same ids is redone row by row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction

from ..models import AuditRecord
from ..redaction import Redactor
from .hashing import JSON_FIELDS, canonical_json, content_hash
from .validation import TEXT_FIELDS, CleanRecord

# New rows go in chunks of this many: one COPY or INSERT each (SQLite splits an INSERT further, by
# its limit on query parameters); a chunk that loses a race with another request is redone row by row.
CHUNK_SIZE = 1000


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    conflicts: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "conflicts": sorted(self.conflicts, key=lambda c: c["line"]),
            "rejected": sorted(self.rejected, key=lambda r: r["line"]),
        }


_COLUMNS = [f for f in AuditRecord._meta.concrete_fields if not f.primary_key]


def record_row(
    item: CleanRecord, redactor: Redactor | None, received_at: datetime
) -> tuple[dict[str, Any], dict[str, str]]:
    """The new row's column values (by attname), redacted and hashed, and its JSON columns as text."""
    values = item.values
    redactions: dict[str, int] = {}
    if redactor is not None and item.feature.redact_pii:
        for name in TEXT_FIELDS:
            values[name] = redactor.redact(values[name], redactions)
        values["retrieved_context"] = [
            {**doc, "text": redactor.redact(doc["text"], redactions)} if doc.get("text") else doc
            for doc in values["retrieved_context"]
        ]
    row = {
        "feature_id": item.feature.pk,
        "request_id": item.request_id,
        "received_at": received_at,
        "body_hash": item.body_hash,
        "redactions": redactions,
        "content_deleted_at": None,
        "content_deleted_reason": "",
        **values,
    }
    # Ingest parses whole floats as integers, so these texts need no json_for_hash walk.
    json_texts = {name: canonical_json(row[name]) for name in JSON_FIELDS}
    row["content_hash"] = content_hash(row, json_texts)
    return row, json_texts


def _insert(rows: Iterable[tuple[dict[str, Any], dict[str, str]]]) -> None:
    """Insert new rows in one statement: COPY on PostgreSQL, a bulk INSERT elsewhere.

    COPY skips what makes bulk_create costly here (a model instance per row, per-field preparation,
    text arrays escaped in Python for INSERT ... UNNEST) and is about three times faster for rows
    of this size. And it streams: `rows` may be a generator, so the database parses and indexes
    the rows already sent while the next ones are being redacted and hashed. It fails as a whole
    on a unique violation, like the INSERT, so the caller's race handling is the same.
    """
    if connection.vendor != "postgresql":
        AuditRecord.objects.bulk_create([AuditRecord(**row) for row, _ in rows])
        return
    ops = connection.ops
    columns = ", ".join(ops.quote_name(f.column) for f in _COLUMNS)
    sql = f"COPY {ops.quote_name(AuditRecord._meta.db_table)} ({columns}) FROM STDIN"
    names = [f.attname for f in _COLUMNS]
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row, json_texts in rows:
            copy.write_row([json_texts[name] if name in json_texts else row[name] for name in names])


def _existing(pairs: list[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """{(feature id, request id): body hash} of the given pairs already stored.

    One query for a whole request on PostgreSQL; SQLite gets as many as its limit on query
    parameters needs.
    """
    by_feature: dict[int, list[str]] = {}
    for feature_id, request_id in pairs:
        by_feature.setdefault(feature_id, []).append(request_id)
    size = max(connection.ops.bulk_batch_size([AuditRecord._meta.get_field("request_id")], pairs) - 1, 1)
    known = {}
    for feature_id, request_ids in by_feature.items():
        for start in range(0, len(request_ids), size):
            rows = AuditRecord.objects.filter(
                feature_id=feature_id, request_id__in=request_ids[start : start + size]
            ).values_list("request_id", "body_hash")
            known.update(((feature_id, r), h) for r, h in rows)
    return known


def _insert_one_by_one(rows: list[tuple[CleanRecord, tuple[dict, dict]]], result: IngestResult) -> None:
    """After a chunk lost a race with another request: insert row by row and classify the losers."""
    for item, (row, _) in rows:
        try:
            with transaction.atomic():
                AuditRecord(**row).save(force_insert=True)
        except IntegrityError:
            stored = (
                AuditRecord.objects.filter(feature_id=item.feature.pk, request_id=item.request_id)
                .values_list("body_hash", flat=True)
                .first()
            )
            if stored is None:
                raise
            if stored == item.body_hash:
                result.duplicates += 1
            else:
                result.conflicts.append({"line": item.line, "request_id": item.request_id})
        else:
            result.accepted += 1


def records_store(
    items: list[CleanRecord], result: IngestResult, redactor: Redactor | None, received_at: datetime
) -> None:
    # Sorted, so two requests inserting overlapping ids take the unique-index locks in the same
    # order and wait for each other instead of deadlocking.
    items.sort(key=lambda i: (i.feature.pk, i.request_id))
    known = _existing([(i.feature.pk, i.request_id) for i in items])
    for start in range(0, len(items), CHUNK_SIZE):
        fresh: list[CleanRecord] = []
        for item in items[start : start + CHUNK_SIZE]:
            key = (item.feature.pk, item.request_id)
            stored_hash = known.get(key)
            if stored_hash is None:
                fresh.append(item)
                known[key] = item.body_hash  # a later line with the same id in this request
            elif stored_hash == item.body_hash:
                result.duplicates += 1
            else:
                result.conflicts.append({"line": item.line, "request_id": item.request_id})
        if not fresh:
            continue
        # Rows are made (redacted, hashed) as they are written, and kept for a retry.
        made: list[tuple[CleanRecord, tuple[dict, dict]]] = []

        def rows(fresh=fresh, made=made):
            for item in fresh:
                made.append((item, record_row(item, redactor, received_at)))
                yield made[-1][1]

        try:
            with transaction.atomic():
                _insert(rows())
        except IntegrityError:
            made += [(item, record_row(item, redactor, received_at)) for item in fresh[len(made) :]]
            _insert_one_by_one(made, result)
        else:
            result.accepted += len(fresh)
