"""Audit record ingest: what the AI product sends, checked, pseudonymised, redacted and stored in bulk.

One request carries one record (JSON) or up to FIRELINE_AUDIT_MAX_LINES records (NDJSON). Each line
is checked by a small hand-written validator (a DRF serializer per line is ten times too slow for
thousands of records a second), so a bad line is reported with its number and reason while the good
lines land.

Idempotency: a record is identified by (feature, request_id). The same id with the same body is a
duplicate (a retry: nothing happens); a different body is a conflict, reported and never stored over
the first one. Existing ids are looked up once per request; new rows go in with one COPY
(PostgreSQL) or bulk INSERT per chunk, and a chunk that loses a race with a concurrent request for
the same ids is redone row by row.

Redaction (audit/redaction.py) runs before anything is hashed or stored.

Personal data: the user id is replaced by HMAC-SHA256(FIRELINE_AUDIT_USER_SECRET, user id) before
anything else happens to it, and is never stored, logged or echoed in an error. The body hash is
keyed with the same secret: a plain SHA-256 of the body as sent would let anyone holding the
database confirm a guessed user id, phone number or card number that redaction removed.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config import json_input
from config.json_input import dotted, flatten, printable, text_problem, unstorable
from incidents.models import AIFeature

from .models import AuditRecord, Verdict
from .redaction import RedactionRuleError, Redactor, redaction_rules_compiled

__all__ = [
    "IngestLimitError",
    "IngestResult",
    "RedactionRuleError",
    "audit_records_ingest",
    "audit_records_ingest_ndjson",
    "canonical_json",
    "record_content_hash",
    "user_ref_for",
]

# New rows go in chunks of this many: one COPY or INSERT each (SQLite splits an INSERT further, by
# its limit on query parameters); a chunk that loses a race with another request is redone row by row.
CHUNK_SIZE = 1000
# A record stamped further ahead than this is refused: retention counts from occurred_at, so a
# wrong clock would otherwise keep a record for years.
FUTURE_TOLERANCE = timedelta(days=1)
MAX_DEPTH = 64  # levels of JSON nesting in a record
MAX_COUNT = 2_147_483_647  # PositiveIntegerField on PostgreSQL
MAX_COST = Decimal("1000000")  # DecimalField(max_digits=12, decimal_places=6)
COST_QUANTUM = Decimal("0.000001")
COST_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,6})?$"  # a cost sent as text: plain digits, as the schema says
_COST_TEXT = re.compile(COST_PATTERN)
VERDICTS = frozenset(Verdict.values)

REQUEST_ID_MAX = AuditRecord._meta.get_field("request_id").max_length
FEATURE_KEY_MAX = AIFeature._meta.get_field("key").max_length
_LABEL_FIELDS = tuple(
    (name, AuditRecord._meta.get_field(name).max_length)
    for name in ("model_provider", "model_version", "prompt_id", "prompt_version")
)
_TEXT_FIELDS = ("input", "model_output", "user_output")
_COUNT_FIELDS = ("latency_ms", "tokens_in", "tokens_out")

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
_JSON_FIELDS = ("parameters", "retrieved_context", "moderation", "tool_calls", "redactions")


class IngestLimitError(Exception):
    """The request as a whole is over a limit (lines per request); nothing was stored."""


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


# --- hashing --------------------------------------------------------------------------------------


def _secret() -> bytes:
    return settings.FIRELINE_AUDIT_USER_SECRET.encode()


def _body_key() -> bytes:
    # A key derived for body hashes, so a body hash can never equal a user reference.
    return hmac.digest(_secret(), b"fireline audit body hash", "sha256")


def user_ref_for(user_id: str | int) -> str:
    """The pseudonymous user reference: HMAC-SHA256 of the user id under the install's secret."""
    return hmac.digest(_secret(), str(user_id).encode(), "sha256").hex()


def _not_json(value: Any):
    raise TypeError(f"{type(value).__name__} is not JSON")


def _canonical_encoder():
    """Sorted keys, no spaces, UTF-8 text, no NaN: one encoder for the module, not one per call.

    The C encoder is built once, without the circular-reference check (values come from
    json.loads, which cannot make cycles); json.dumps would build and tear down both every time.
    """
    if json.encoder.c_make_encoder is None:  # a Python without the C accelerator
        return json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
    encode = json.encoder.c_make_encoder(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )

    def canonical_json(value: Any) -> str:
        if isinstance(value, str):
            return json.encoder.encode_basestring(value)
        return "".join(encode(value, 0))

    return canonical_json


canonical_json = _canonical_encoder()


def _plain_number(value: float) -> int | float:
    """A whole float as the integer PostgreSQL's jsonb gives back for it (1e20 -> 100000000000000000000).

    jsonb keeps numbers as decimals: 2.0 comes back as 2.0, but 1e20 comes back as an integer. Hashing
    whole floats as integers (from their shortest decimal form, as jsonb reads them) makes a record
    hash the same before it is stored and after it is read back, on PostgreSQL and on SQLite.
    """
    if value.is_integer():
        return int(Decimal(repr(value)))
    return value


def _json_for_hash(value: Any) -> Any:
    if isinstance(value, float):
        return _plain_number(value)
    if isinstance(value, dict):
        return {k: _json_for_hash(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_for_hash(v) for v in value]
    return value


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _cost_text(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).quantize(COST_QUANTUM), "f")


_encode_str = json.encoder.encode_basestring  # what canonical_json does to a string (ensure_ascii off)
# Content keys in canonical (sorted) order; "feature" is the feature's id.
_CONTENT_KEYS = tuple(sorted((*CONTENT_FIELDS, "feature")))


def _json_text(value: Any) -> str:
    """canonical_json(value), with the common scalars done without the encoder's overhead."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _encode_str(value)
    if type(value) is int:
        return str(value)
    return canonical_json(value)


def _content_hash(values: dict[str, Any], json_texts: dict[str, str]) -> str:
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
            text = _encode_str(_iso(values["occurred_at"]))
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
    json_texts = {name: canonical_json(_json_for_hash(values[name])) for name in _JSON_FIELDS}
    return _content_hash(values, json_texts)


# --- validation -----------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _label(value: Any, max_length: int) -> str | None:
    """A short string field: None when fine (or absent), else the reason."""
    if value is None or (isinstance(value, str) and len(value) <= max_length):
        return None
    if not isinstance(value, str):
        return "Must be a string."
    return f"At most {max_length} characters."


def _check_context(items: Any, errors: dict) -> None:
    if not isinstance(items, list):
        errors["retrieved_context"] = "Must be a list of documents: [{id, source, text}]."
        return
    for i, doc in enumerate(items):
        where = f"retrieved_context[{i}]"
        if not isinstance(doc, dict):
            errors[where] = "Must be an object: {id, source, text}."
            continue
        text = doc.get("text")
        if text is not None and not isinstance(text, str):
            errors[f"{where}.text"] = "Must be a string."
        doc_id = doc.get("id")
        if doc_id is not None and not (isinstance(doc_id, str) or _is_int(doc_id)):
            errors[f"{where}.id"] = "Must be a string or an integer."
        source = doc.get("source")
        if source is not None and not isinstance(source, str):
            errors[f"{where}.source"] = "Must be a string."


def _check_moderation(items: Any, errors: dict) -> None:
    if not isinstance(items, list):
        errors["moderation"] = "Must be a list of decisions: [{stage, rule, verdict, score}]."
        return
    for i, decision in enumerate(items):
        where = f"moderation[{i}]"
        if not isinstance(decision, dict):
            errors[where] = "Must be an object: {stage, rule, verdict, score}."
            continue
        verdict = decision.get("verdict")
        if not isinstance(verdict, str) or verdict not in VERDICTS:
            errors[f"{where}.verdict"] = f"Must be one of: {', '.join(Verdict.values)}."
        for name in ("stage", "rule"):
            if decision.get(name) is not None and not isinstance(decision[name], str):
                errors[f"{where}.{name}"] = "Must be a string."
        score = decision.get("score")
        if score is not None and not _is_number(score):
            errors[f"{where}.score"] = "Must be a number."


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@dataclass
class _Clean:
    """One valid line, ready to become a row."""

    line: int
    feature: AIFeature
    request_id: str
    body_hash: str
    values: dict


def _clean(data: Any, *, line: int, features: dict[str, AIFeature], now: datetime, keys: tuple[bytes, bytes]):
    """(_Clean, None) for a good record, (None, {field: reason}) for a bad one."""
    if not isinstance(data, dict):
        return None, {"record": "Must be a JSON object: one record (send many as NDJSON, one a line)."}
    errors: dict[str, str] = {}
    get = data.get

    request_id = get("request_id")
    if not isinstance(request_id, str) or not request_id.strip():
        errors["request_id"] = "Required: a non-empty string."
    elif len(request_id) > REQUEST_ID_MAX:
        errors["request_id"] = f"At most {REQUEST_ID_MAX} characters."

    occurred_at = get("occurred_at")
    if not isinstance(occurred_at, str):
        errors["occurred_at"] = "Required: an ISO 8601 date and time with a zone, e.g. 2026-11-29T22:00:00Z."
    else:
        try:
            occurred_at = datetime.fromisoformat(occurred_at)
        except ValueError:
            errors["occurred_at"] = "Not an ISO 8601 date and time, e.g. 2026-11-29T22:00:00Z."
        else:
            if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
                errors["occurred_at"] = "Needs a time zone (Z or an offset such as +02:00)."
            else:
                try:
                    occurred_at = occurred_at.astimezone(UTC)
                except OverflowError:
                    errors["occurred_at"] = "Out of range."
                else:
                    if occurred_at > now + FUTURE_TOLERANCE:
                        errors["occurred_at"] = "Is more than a day in the future; check the sender's clock."

    key = get("feature")
    feature = None
    if key is None or key == "":
        errors["feature"] = "Required: the AI feature's key, e.g. support-bot."
    elif not isinstance(key, str):
        errors["feature"] = "Must be a string: the AI feature's key, e.g. support-bot."
    else:
        feature = features.get(key)
        if feature is None:
            errors["feature"] = f"No AI feature has the key '{printable(key[:100])}'."

    # The user id is personal data: it is hashed here and never repeated, not even in an error.
    user_id = get("user_id")
    user_ref = ""
    if user_id is not None and user_id != "":
        if isinstance(user_id, str) or _is_int(user_id):
            user_ref = hmac.digest(keys[0], str(user_id).encode(), "sha256").hex()
        else:
            errors["user_id"] = "Must be a string or an integer."

    labels = {}
    for name, max_length in _LABEL_FIELDS:
        value = get(name)
        problem = _label(value, max_length)
        if problem:
            errors[name] = problem
        labels[name] = value or ""
    if not labels["prompt_version"] and get("prompt_hash") is not None:
        problem = _label(get("prompt_hash"), _LABEL_FIELDS[-1][1])
        if problem:
            errors["prompt_hash"] = problem
        labels["prompt_version"] = get("prompt_hash") or ""

    parameters = get("parameters")
    if parameters is None:
        parameters = {}
    elif not isinstance(parameters, dict):
        errors["parameters"] = 'Must be an object, e.g. {"temperature": 0.2, "seed": 7}.'

    texts = {}
    for name in _TEXT_FIELDS:
        value = get(name)
        if value is not None and not isinstance(value, str):
            errors[name] = "Must be a string."
        texts[name] = value or ""

    context = get("retrieved_context")
    if context is None:
        context = []
    else:
        _check_context(context, errors)
    moderation = get("moderation")
    if moderation is None:
        moderation = []
    else:
        _check_moderation(moderation, errors)
    tool_calls = get("tool_calls")
    if tool_calls is None:
        tool_calls = []
    elif not isinstance(tool_calls, list):
        errors["tool_calls"] = "Must be a list."
    else:
        for i, call in enumerate(tool_calls):
            if not isinstance(call, dict):
                errors[f"tool_calls[{i}]"] = "Must be an object: the call and its arguments."

    counts = {}
    for name in _COUNT_FIELDS:
        value = get(name)
        if value is None:
            counts[name] = None
        elif _is_number(value) and 0 <= value <= MAX_COUNT:
            counts[name] = round(value)
        else:
            errors[name] = "Must be a whole number of at least 0."

    cost = get("cost")
    if cost is not None:
        try:
            if isinstance(cost, bool) or not isinstance(cost, int | float | str):
                raise InvalidOperation
            if isinstance(cost, str) and not _COST_TEXT.match(cost):
                raise InvalidOperation
            cost = Decimal(str(cost)).quantize(COST_QUANTUM)
            if not (0 <= cost < MAX_COST):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors["cost"] = "Must be a number from 0 to 999999.999999."

    error = get("error")
    if error is None or isinstance(error, bool | str | dict):
        has_error = bool(error)
    else:
        errors["error"] = "Must be true or false, or the error message."
        has_error = True

    if errors:
        return None, errors

    # The canonical body doubles as the last check: NaN and lone surrogates do not survive it, and
    # PostgreSQL refuses NUL characters in text and JSON.
    try:
        canonical = canonical_json(data).encode()
    except UnicodeEncodeError:  # before ValueError, of which it is a kind
        return None, {"record": "Contains text that is not valid Unicode (a lone surrogate)."}
    except ValueError:
        return None, {"record": "Contains NaN or Infinity, which JSON does not allow."}
    if b"\\u0000" in canonical and _has_nul(data):
        return None, {"record": "Contains a NUL character (\\u0000), which cannot be stored."}

    values = {
        "occurred_at": occurred_at,
        "user_ref": user_ref,
        **labels,
        "parameters": parameters,
        **texts,
        "retrieved_context": context,
        "moderation": moderation,
        "tool_calls": tool_calls,
        **counts,
        "cost": cost,
        "has_error": has_error,
    }
    body_hash = hmac.digest(keys[1], canonical, "sha256").hex()
    return _Clean(line, feature, request_id, body_hash, values), None


# --- parsing --------------------------------------------------------------------------------------


class _Unreadable:
    """A line that is not a record Fireline can read: {field path or "record": reason}."""

    __slots__ = ("errors",)

    def __init__(self, errors: dict[str, str]):
        self.errors = errors


def ndjson_lines(body: bytes, *, max_lines: int | None = None) -> list[tuple[int, bytes]]:
    """The non-blank lines of an NDJSON body with their 1-based line numbers.

    IngestLimitError when there are more than max_lines records (blank lines do not count).
    """
    max_lines = settings.FIRELINE_AUDIT_MAX_LINES if max_lines is None else max_lines
    lines = [(n, raw) for n, raw in enumerate(body.split(b"\n"), start=1) if raw and not raw.isspace()]
    if len(lines) > max_lines:
        raise IngestLimitError(
            f"The body has {len(lines):,} records; the limit is {max_lines:,} lines per request. "
            "Split it into smaller requests."
        )
    return lines


def _parse_float(text: str) -> int | float:
    return _plain_number(float(text))


def _parse(raw: bytes) -> Any:
    """The line's JSON, or _Unreadable naming what is wrong and where.

    Whole numbers written as floats (1.0, 1e20) are read as integers, as jsonb gives them back: JSON has
    one number type, and a record then hashes the same before and after the database. Nesting past
    MAX_DEPTH, huge integers, NaN and Infinity are refused by the reader before they can fail anything
    later; NUL (PostgreSQL refuses it) and lone surrogates (not Unicode) are refused by their field.
    """
    try:
        data = json_input.loads(raw, max_depth=MAX_DEPTH, parse_float=_parse_float, check_text=False)
    except json_input.JSONInputError as exc:
        # The reader's messages name the position or the field, never the content.
        return _Unreadable({"record" if path == "body" else path: reason for path, reason in flatten(exc.errors)})
    if b"\\u0000" in raw or b"\\ud" in raw or b"\\uD" in raw:  # JSON carries either only as an escape
        found = unstorable(data)
        if found:
            path, reason = found
            return _Unreadable({dotted(path) if path else "record": reason})
    return data


# --- storing --------------------------------------------------------------------------------------

_COLUMNS = [f for f in AuditRecord._meta.concrete_fields if not f.primary_key]


def _row(item: _Clean, redactor: Redactor | None, received_at: datetime) -> tuple[dict[str, Any], dict[str, str]]:
    """The new row's column values (by attname), redacted and hashed, and its JSON columns as text."""
    values = item.values
    redactions: dict[str, int] = {}
    if redactor is not None and item.feature.redact_pii:
        for name in _TEXT_FIELDS:
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
    # Ingest parses whole floats as integers, so these texts need no _json_for_hash walk.
    json_texts = {name: canonical_json(row[name]) for name in _JSON_FIELDS}
    row["content_hash"] = _content_hash(row, json_texts)
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


def _insert_one_by_one(rows: list[tuple[_Clean, tuple[dict, dict]]], result: IngestResult) -> None:
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


def _store(items: list[_Clean], result: IngestResult, redactor: Redactor | None, received_at: datetime) -> None:
    # Sorted, so two requests inserting overlapping ids take the unique-index locks in the same
    # order and wait for each other instead of deadlocking.
    items.sort(key=lambda i: (i.feature.pk, i.request_id))
    known = _existing([(i.feature.pk, i.request_id) for i in items])
    for start in range(0, len(items), CHUNK_SIZE):
        fresh: list[_Clean] = []
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
        made: list[tuple[_Clean, tuple[dict, dict]]] = []

        def rows(fresh=fresh, made=made):
            for item in fresh:
                made.append((item, _row(item, redactor, received_at)))
                yield made[-1][1]

        try:
            with transaction.atomic():
                _insert(rows())
        except IntegrityError:
            made += [(item, _row(item, redactor, received_at)) for item in fresh[len(made) :]]
            _insert_one_by_one(made, result)
        else:
            result.accepted += len(fresh)


@contextmanager
def _collector_paused():
    """Pause the cyclic garbage collector while a batch is parsed and prepared.

    Tens of thousands of small dicts and lists trigger collection after collection, each walking
    everything the batch allocated so far: a third of the ingest time, for no garbage (nothing in a
    batch forms a cycle). Reference counting still frees memory as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@transaction.atomic
def audit_records_ingest(*, lines: list[tuple[int, bytes]], now: datetime | None = None) -> IngestResult:
    """Parse, validate, pseudonymise, redact and store records; report each line's fate.

    `lines` are (line number, one JSON record as sent). Nothing here is an action in Fireline, so
    nothing goes to the action log: the records themselves are the trail.
    """
    now = now or timezone.now()
    result = IngestResult()
    records = [(n, _parse(raw)) for n, raw in lines]
    # Only keys that could name a feature are looked up: a wrong type ({} or [1]) is the line's error.
    wanted = {
        data.get("feature") for _, data in records if isinstance(data, dict) and isinstance(data.get("feature"), str)
    }
    wanted = {k for k in wanted if k and len(k) <= FEATURE_KEY_MAX and not text_problem(k)}
    features = {f.key: f for f in AIFeature.objects.filter(key__in=wanted).only("pk", "key", "redact_pii")}
    keys = (_secret(), _body_key())
    good: list[_Clean] = []
    for line, data in records:
        if isinstance(data, _Unreadable):
            result.rejected.append({"line": line, "errors": data.errors})
            continue
        item, errors = _clean(data, line=line, features=features, now=now, keys=keys)
        if errors:
            result.rejected.append({"line": line, "errors": errors})
        else:
            good.append(item)
    redactor = None
    if any(item.feature.redact_pii for item in good):
        redactor = Redactor(redaction_rules_compiled())
    _store(good, result, redactor, now)
    return result


def audit_records_ingest_ndjson(*, body: bytes, now: datetime | None = None) -> IngestResult:
    """Ingest an NDJSON body: one record per line, blank lines ignored, lines numbered from 1."""
    lines = ndjson_lines(body)
    with _collector_paused():
        return audit_records_ingest(lines=lines, now=now)
