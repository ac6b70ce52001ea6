"""Reading JSON that anyone can send: every way it can be wrong is a `JSONInputError` naming the place.

Python's own `json.loads` has three ways to fail that are not `JSONDecodeError`: nesting a thousand
levels deep exhausts the recursion limit (RecursionError, checked here before parsing, so the parser
never recurses that far), an integer of thousands of digits trips the int-digit limit (ValueError), and
NaN, Infinity or 1e999 parse into floats that neither PostgreSQL's jsonb nor strict JSON can hold. And
JSON's escapes carry text that cannot be stored at all: NUL (PostgreSQL text refuses it) and lone UTF-16
surrogates (not Unicode; UTF-8 cannot encode them).

Every JSON endpoint (alerts, reports, eval runs, OFREP, the audit trail) reads its body through
`loads`, so they all answer these the same way. Errors are nested by field, as the alert intake and the
REST framework answer them: `{"alerts": {"0": {"labels": ["..."]}}}`; `dotted` spells a path for one line.

This module sits in `config` and imports nothing of Fireline, so every app can use it.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import threading
from collections.abc import Callable
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64  # levels of arrays and objects; no real payload nests past a dozen
MAX_DIGITS = sys.get_int_max_str_digits() or 4300  # in one integer: what Python reads (fields bound them)

NUL = "contains the NUL character (\\u0000), which cannot be stored."
SURROGATE = "contains a lone UTF-16 surrogate (\\ud800 to \\udfff), which is not valid Unicode."

_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))  # deleted before counting depth
_STEP = [0] * 256  # what each bracket adds to the depth
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_refusals = threading.local()  # whether the parser met a value it refused, this thread's parse


class JSONInputError(ValueError):
    """Bad JSON input; `errors` is nested by field ({"body": ["..."]} for the body as a whole)."""

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in flatten(errors)))


def printable(text: str) -> str:
    """Text as it can be stored and shown: NUL and lone surrogates spelled as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def error_at(path: tuple | list, message: str) -> dict:
    """{"alerts": {"0": {"labels": [message]}}} for the path ("alerts", "0", "labels").

    A name on the path is the sender's text: one that cannot be stored is spelled as escapes.
    """
    errors: dict | list = [message]
    for part in reversed(tuple(path) or ("body",)):
        errors = {printable(str(part)): errors}
    return errors


def dotted(path: tuple | list) -> str:
    """("alerts", 0, "labels") as alerts[0].labels; "body" for the empty path."""
    text = ""
    for part in path:
        part = str(part)
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


def flatten(errors, prefix: str = ""):
    """(path, reason) pairs of nested errors, the path spelled as `dotted` spells it."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            key = str(key)
            path = f"{prefix}[{key}]" if key.isdigit() else (f"{prefix}.{key}" if prefix else key)
            yield from flatten(value, path)
    elif isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        yield prefix or "body", " ".join(errors)
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if value:
                yield from flatten(value, f"{prefix}[{index}]")
    else:
        yield prefix or "body", str(errors)


def too_deep(text: str | bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the arrays and objects of this JSON text nest more than `limit` levels (outside strings).

    Done with C-speed byte operations, so a storm of large payloads pays little: escaped backslashes and
    quotes are dropped (every quote left opens or closes a string), everything but brackets and quotes is
    deleted, the strings' contents are cut out, and the depth is the running sum of what is left. Text
    that is not balanced is not JSON; it is answered deep when its openers run past the limit.
    """
    if text.count("[" if isinstance(text, str) else b"[") + text.count("{" if isinstance(text, str) else b"{") <= limit:
        return False
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(data.translate(None, _NOT_STRUCTURE).split(b'"')[0::2])
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return False
    return max(accumulate(map(_STEP.__getitem__, brackets))) > limit


class _Refused:
    """A value the parser read but Fireline cannot keep (found afterwards, to name its place)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason
        _refusals.met = True


def _careful_int(text: str):
    if len(text) - text.startswith("-") > MAX_DIGITS:
        return _Refused(f"A number of {len(text) - text.startswith('-'):,} digits; at most {MAX_DIGITS:,}.")
    return int(text)


def _careful_constant(name: str):
    return _Refused(f"{name} is not a number JSON allows.")


def _careful_float(parse_float: Callable[[str], Any]):
    def parse(text: str):
        value = float(text)
        if math.isinf(value):
            return _Refused(f"The number {text[:40]} is out of range.")
        return parse_float(text)

    return parse


@functools.cache
def _decoder(parse_float: Callable[[str], Any] | None, careful_ints: bool) -> json.JSONDecoder:
    """NaN, Infinity and floats past the range are refused as they are read; integers only when a plain
    read failed on one (the integer hook would cost every integer a Python call)."""
    return json.JSONDecoder(
        parse_float=_careful_float(parse_float or float),
        parse_constant=_careful_constant,
        **({"parse_int": _careful_int} if careful_ints else {}),
    )


def _refused(value: Any, path: tuple = ()) -> tuple[tuple, str] | None:
    if isinstance(value, _Refused):
        return path, value.reason
    if isinstance(value, dict):
        for key, item in value.items():
            found = _refused(item, (*path, key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _refused(item, (*path, str(index)))
            if found:
                return found
    return None


def text_problem(text: str) -> str:
    """Why this text cannot be stored ("contains the NUL character ..."), or "" when it can."""
    if "\x00" in text:
        return NUL
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE
    return ""


def may_hold_unstorable(text: str) -> bool:
    """Whether JSON text may carry NUL or a lone surrogate: JSON carries either only as an escape."""
    return "\\u0000" in text or "\\ud" in text or "\\uD" in text


def unstorable(value: Any, path: tuple = ()) -> tuple[tuple, str] | None:
    """(path, reason) of the first text in the data (a name or a value) that cannot be stored; None if none.

    A bad name is reported at the object that holds it.
    """
    if isinstance(value, str):
        reason = text_problem(value)
        return (path, f"The text {reason}") if reason else None
    if isinstance(value, dict):
        for key, item in value.items():
            reason = text_problem(key) if isinstance(key, str) else ""
            if reason:
                return path, f"A name {reason}"
            found = unstorable(item, (*path, key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable(item, (*path, str(index)))
            if found:
                return found
    return None


def loads(
    body: str | bytes,
    *,
    max_depth: int = MAX_DEPTH,
    parse_float: Callable[[str], Any] | None = None,
    check_text: bool = True,
) -> Any:
    """Parse untrusted JSON; JSONInputError names what is wrong and where.

    With `check_text` (the default), text that cannot be stored (NUL, lone surrogates) is refused at its
    field; callers that decide per item (one alert of a batch) pass False and call `unstorable` themselves.
    """
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JSONInputError({"body": [f"Not UTF-8: byte {exc.start + 1} cannot be read."]}) from exc
    if too_deep(body, max_depth):
        raise JSONInputError({"body": [f"Nested more than {max_depth} levels deep."]})
    _refusals.met = False
    try:
        try:
            data = _decoder(parse_float, False).decode(body)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer past Python's digit limit: read again, refusing it by its place
            data = _decoder(parse_float, True).decode(body)
    except json.JSONDecodeError as exc:
        # The position, never the content: a body may hold personal data.
        raise JSONInputError({"body": [f"Not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."]}) from exc
    except (ValueError, RecursionError) as exc:  # only if the checks above missed a case
        raise JSONInputError({"body": ["Not valid JSON: a number too long, or nesting too deep, to read."]}) from exc
    if _refusals.met:
        found = _refused(data)
        if found:
            raise JSONInputError(error_at(*found))
    if check_text and may_hold_unstorable(body):
        found = unstorable(data)
        if found:
            raise JSONInputError(error_at(*found))
    return data
