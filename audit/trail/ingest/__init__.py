"""Audit record ingest, in four parts: parsing (lines and JSON), validation (one record, field by field),
hashing (user reference, body and content hashes over canonical JSON) and storage (bulk, idempotent);
services.py puts them together for the API. What other code uses is re-exported here.
"""

from ..redaction import RedactionRuleError
from .hashing import CONTENT_FIELDS, JSON_FIELDS, canonical_json, record_content_hash, user_ref_for
from .parsing import IngestLimitError
from .services import audit_records_ingest, audit_records_ingest_ndjson
from .storage import CHUNK_SIZE, IngestResult
from .validation import COST_PATTERN, MAX_COUNT

__all__ = [
    "CHUNK_SIZE",
    "CONTENT_FIELDS",
    "COST_PATTERN",
    "JSON_FIELDS",
    "MAX_COUNT",
    "IngestLimitError",
    "IngestResult",
    "RedactionRuleError",
    "audit_records_ingest",
    "audit_records_ingest_ndjson",
    "canonical_json",
    "record_content_hash",
    "user_ref_for",
]
