"""Audit record ingest: what the AI product sends, checked, pseudonymised, redacted and stored in bulk.

One request carries one record (JSON) or up to FIRELINE_AUDIT_MAX_LINES records (NDJSON). Each line
is read (parsing.py) and checked by a small hand-written validator (validation.py), so a bad line is
reported with its number and reason while the good lines land (storage.py). hashing.py holds the
hashes and the canonical JSON they are taken over.

Idempotency: a record is identified by (feature, request_id). The same id with the same body is a
duplicate (a retry: nothing happens); a different body is a conflict, reported and never stored over
the first one. Existing ids are looked up once per request; new rows go in with one COPY
(PostgreSQL) or bulk INSERT per chunk, and a chunk that loses a race with a concurrent request for
the same ids is redone row by row.

Redaction (audit/trail/redaction.py) runs before anything is hashed or stored.

Personal data: the user id is replaced by HMAC-SHA256(FIRELINE_AUDIT_USER_SECRET, user id) before
anything else happens to it, and is never stored, logged or echoed in an error. The body hash is
keyed with the same secret: a plain SHA-256 of the body as sent would let anyone holding the
database confirm a guessed user id, phone number or card number that redaction removed.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from config.json_input import text_problem
from incidents.models import AIFeature

from ..redaction import Redactor, redaction_rules_compiled
from .hashing import body_key, user_secret
from .parsing import Unreadable, ndjson_lines, record_parse
from .storage import IngestResult, records_store
from .validation import FEATURE_KEY_MAX, CleanRecord, record_clean


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
    records = [(n, record_parse(raw)) for n, raw in lines]
    # Only keys that could name a feature are looked up: a wrong type ({} or [1]) is the line's error.
    wanted = {
        data.get("feature") for _, data in records if isinstance(data, dict) and isinstance(data.get("feature"), str)
    }
    wanted = {k for k in wanted if k and len(k) <= FEATURE_KEY_MAX and not text_problem(k)}
    features = {f.key: f for f in AIFeature.objects.filter(key__in=wanted).only("pk", "key", "redact_pii")}
    keys = (user_secret(), body_key())
    good: list[CleanRecord] = []
    for line, data in records:
        if isinstance(data, Unreadable):
            result.rejected.append({"line": line, "errors": data.errors})
            continue
        item, errors = record_clean(data, line=line, features=features, now=now, keys=keys)
        if errors:
            result.rejected.append({"line": line, "errors": errors})
        else:
            good.append(item)
    redactor = None
    if any(item.feature.redact_pii for item in good):
        redactor = Redactor(redaction_rules_compiled())
    records_store(good, result, redactor, now)
    return result


def audit_records_ingest_ndjson(*, body: bytes, now: datetime | None = None) -> IngestResult:
    """Ingest an NDJSON body: one record per line, blank lines ignored, lines numbered from 1."""
    lines = ndjson_lines(body)
    with _collector_paused():
        return audit_records_ingest(lines=lines, now=now)
