"""The audit record validator: one JSON record checked field by field, every problem named by its field.

A DRF serializer per line is ten times too slow for thousands of records a second, so this is written by
hand. A good record comes back as a CleanRecord (the user id already pseudonymised, the body hash taken);
a bad one as {field: reason}, never repeating the personal data it was sent.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from config.json_input import printable
from incidents.models import AIFeature

from ..models import AuditRecord, Verdict
from .hashing import COST_QUANTUM, canonical_json

# A record stamped further ahead than this is refused: retention counts from occurred_at, so a
# wrong clock would otherwise keep a record for years.
FUTURE_TOLERANCE = timedelta(days=1)
MAX_COUNT = 2_147_483_647  # PositiveIntegerField on PostgreSQL
MAX_COST = Decimal("1000000")  # DecimalField(max_digits=12, decimal_places=6)
COST_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,6})?$"  # a cost sent as text: plain digits, as the schema says
_COST_TEXT = re.compile(COST_PATTERN)
VERDICTS = frozenset(Verdict.values)

REQUEST_ID_MAX = AuditRecord._meta.get_field("request_id").max_length
FEATURE_KEY_MAX = AIFeature._meta.get_field("key").max_length
_LABEL_FIELDS = tuple(
    (name, AuditRecord._meta.get_field(name).max_length)
    for name in ("model_provider", "model_version", "prompt_id", "prompt_version")
)
TEXT_FIELDS = ("input", "model_output", "user_output")
_COUNT_FIELDS = ("latency_ms", "tokens_in", "tokens_out")


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
class CleanRecord:
    """One valid line, ready to become a row."""

    line: int
    feature: AIFeature
    request_id: str
    body_hash: str
    values: dict


def record_clean(data: Any, *, line: int, features: dict[str, AIFeature], now: datetime, keys: tuple[bytes, bytes]):
    """(CleanRecord, None) for a good record, (None, {field: reason}) for a bad one."""
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
    for name in TEXT_FIELDS:
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
    return CleanRecord(line, feature, request_id, body_hash, values), None
