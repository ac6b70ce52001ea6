"""Hashes of audit records: the pseudonymous user reference, the keyed body hash and the content hash.

The content hash is SHA-256 of the record's content as canonical JSON, and it is frozen into evidence,
so the bytes canonical JSON gives for a value must never change: a hash already written has to verify
for as long as the record is kept.

Canonical JSON is the standard library's own encoder with fixed options: keys sorted, no whitespace
("," and ":"), text as UTF-8 rather than \\u escapes (ensure_ascii off), NaN and Infinity refused. The
number rule:
- integers are written in full, without exponent;
- floats are written as Python's repr, the shortest text that reads back as the same float
  (0.1, 1.5e-07, -0.0, 1e+16);
- a whole float (1.0, 1e20) is never hashed as a float: ingest reads it as the integer it is, and
  `json_for_hash` turns one read back from the database into that integer, because PostgreSQL's jsonb
  gives 1e20 back as an integer and SQLite gives it back as a float.
tests/audit/trail/test_ingest_hashing.py holds the encoder these bytes were first written with and checks
the two give the same bytes for generated JSON values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from ..models import AuditRecord

COST_QUANTUM = Decimal("0.000001")

# The stored fields a record's content hash covers: everything the product told us, after
# pseudonymisation and redaction. Bookkeeping (received_at, the hashes, content deletion) is not content.
CONTENT_FIELDS = (
    "request_id",
    "occurred_at",
    "user_ref",
    "model_provider",
    "model_version",
    "prompt_id",
    "prompt_version",
    "parameters",
    "input",
    "retrieved_context",
    "model_output",
    "user_output",
    "moderation",
    "tool_calls",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "cost",
    "has_error",
    "redactions",
)
JSON_FIELDS = ("parameters", "retrieved_context", "moderation", "tool_calls", "redactions")
# Content keys in canonical (sorted) order; "feature" is the feature's id.
_CONTENT_KEYS = tuple(sorted((*CONTENT_FIELDS, "feature")))

# One encoder for the process, not one per call. No circular-reference check: values come from
# json.loads or from a JSON column, neither of which can make a cycle.
canonical_json = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
).encode


def user_secret() -> bytes:
    return settings.FIRELINE_AUDIT_USER_SECRET.encode()


def body_key() -> bytes:
    # A key derived for body hashes, so a body hash can never equal a user reference.
    return hmac.digest(user_secret(), b"fireline audit body hash", "sha256")


def user_ref_for(user_id: str | int) -> str:
    """The pseudonymous user reference: HMAC-SHA256 of the user id under the install's secret."""
    return hmac.digest(user_secret(), str(user_id).encode(), "sha256").hex()


def plain_number(value: float) -> int | float:
    """A whole float as the integer PostgreSQL's jsonb gives back for it (1e20 -> 100000000000000000000).

    jsonb keeps numbers as decimals: 2.0 comes back as 2.0, but 1e20 comes back as an integer. Hashing
    whole floats as integers (from their shortest decimal form, as jsonb reads them) makes a record
    hash the same before it is stored and after it is read back, on PostgreSQL and on SQLite.
    """
    if value.is_integer():
        return int(Decimal(repr(value)))
    return value


def json_for_hash(value: Any) -> Any:
    if isinstance(value, float):
        return plain_number(value)
    if isinstance(value, dict):
        return {k: json_for_hash(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_for_hash(v) for v in value]
    return value


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _cost_text(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).quantize(COST_QUANTUM), "f")


def _json_text(value: Any) -> str:
    """canonical_json(value), with the commonest scalars written without a trip through the encoder."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    return canonical_json(value)


def content_hash(values: dict[str, Any], json_texts: dict[str, str]) -> str:
    """SHA-256 of the canonical JSON object of the content: sorted keys, no spaces, UTF-8.

    json_texts holds the JSON fields already encoded canonically (ingest writes the same text to the
    database), so the object is put together here instead of encoding everything a second time.
    """
    parts = []
    for key in _CONTENT_KEYS:
        if key in json_texts:
            text = json_texts[key]
        elif key == "feature":
            text = str(values["feature_id"])
        elif key == "occurred_at":
            text = canonical_json(_iso(values["occurred_at"]))
        elif key == "cost":
            text = _json_text(_cost_text(values["cost"]))
        else:
            text = _json_text(values[key])
        parts.append(f'"{key}":{text}')
    return hashlib.sha256(("{" + ",".join(parts) + "}").encode()).hexdigest()


def record_content_hash(record: AuditRecord) -> str:
    """SHA-256 of a record's stored content, as canonical JSON.

    Ingest stores it, evidence freezes it, and anyone can recompute it from the row: a stored record
    and the same record read back from the database always give the same hash.
    """
    values = {name: getattr(record, name) for name in CONTENT_FIELDS}
    values["feature_id"] = record.feature_id
    json_texts = {name: canonical_json(json_for_hash(values[name])) for name in JSON_FIELDS}
    return content_hash(values, json_texts)
