"""Reading what the AI product sent: an NDJSON body into numbered lines, a line into a JSON value."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from config import json_input
from config.json_input import dotted, flatten, unstorable

from .hashing import plain_number

MAX_DEPTH = 64  # levels of JSON nesting in a record


class IngestLimitError(Exception):
    """The request as a whole is over a limit (lines per request); nothing was stored."""


class Unreadable:
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
    return plain_number(float(text))


def record_parse(raw: bytes) -> Any:
    """The line's JSON, or Unreadable naming what is wrong and where.

    Whole numbers written as floats (1.0, 1e20) are read as integers, as jsonb gives them back: JSON has
    one number type, and a record then hashes the same before and after the database. Nesting past
    MAX_DEPTH, huge integers, NaN and Infinity are refused by the reader before they can fail anything
    later; NUL (PostgreSQL refuses it) and lone surrogates (not Unicode) are refused by their field.
    """
    try:
        data = json_input.loads(raw, max_depth=MAX_DEPTH, parse_float=_parse_float, check_text=False)
    except json_input.JSONInputError as exc:
        # The reader's messages name the position or the field, never the content.
        return Unreadable({"record" if path == "body" else path: reason for path, reason in flatten(exc.errors)})
    if b"\\u0000" in raw or b"\\ud" in raw or b"\\uD" in raw:  # JSON carries either only as an escape
        found = unstorable(data)
        if found:
            path, reason = found
            return Unreadable({dotted(path) if path else "record": reason})
    return data
