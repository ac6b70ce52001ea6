"""Canonical JSON gives the same bytes as the encoder every stored content hash was written with.

Content hashes are frozen into evidence and must verify for as long as a record is kept. Until the
ingest split, canonical JSON came from CPython's private C encoder factory (json.encoder.c_make_encoder);
it now comes from the public json.JSONEncoder. `_reference_canonical_json` below is that old encoder,
copied verbatim on purpose: it is the definition of the bytes already hashed, so the new encoder is
checked against it rather than against itself.
"""

import json
import math
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from audit.models import AuditRecord, Evidence
from audit.trail.ingest import canonical_json, record_content_hash
from audit.trail.ingest.hashing import json_for_hash
from audit.trail.investigation import evidence_integrity
from incidents.models import AIFeature
from tests.incidents.factories import AIFeatureFactory, IncidentFactory

FIXTURE = Path(__file__).parent / "fixtures" / "content_hashes_v1.json"


def _not_json(value: Any):
    raise TypeError(f"{type(value).__name__} is not JSON")


def _reference_encoder():
    """The encoder content hashes were written with before the ingest split (kept as the reference)."""
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


_reference_canonical_json = _reference_encoder()

# Everything a JSON document can hold, as json.loads gives it back: any Unicode text (lone surrogates
# included, which the ingest reader refuses but the encoder must treat alike), integers of any size,
# every finite float including -0.0 and subnormals.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(), children, max_size=6),
    max_leaves=40,
)


def _outcome(encode, value):
    """The encoded bytes, or the kind of error a record with this value is refused with."""
    try:
        return encode(value).encode()
    except UnicodeEncodeError:
        return "not Unicode"
    except ValueError:
        return "NaN or Infinity"


@hypothesis_settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
@example({"b": 1, "a": [1e16, -0.0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2]})
@example({"ü": "ß\u2028\x00\x7f😀", "": None, "A": True, "a": False})
@example(["\ud800 lone surrogate"])
@example(10**40)
@example("just a string")
def test_canonical_json_is_byte_identical_to_the_encoder_stored_hashes_were_written_with(value):
    assert _outcome(canonical_json, value) == _outcome(_reference_canonical_json, value)
    # Content hashes are taken over the JSON fields after whole floats become integers.
    hashed = json_for_hash(value)
    assert _outcome(canonical_json, hashed) == _outcome(_reference_canonical_json, hashed)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"score": math.nan}, [1, [math.inf]]])
def test_nan_and_infinity_are_refused_as_before(bad):
    assert _outcome(canonical_json, bad) == _outcome(_reference_canonical_json, bad) == "NaN or Infinity"


def _fixture_records():
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    out = []
    for item in data["records"]:
        fields = dict(item["fields"])
        fields["occurred_at"] = datetime.fromisoformat(fields["occurred_at"])
        fields["cost"] = None if fields["cost"] is None else Decimal(fields["cost"])
        out.append((fields, item["content_hash"], item["canonical"]))
    return out


def test_hashes_written_before_the_split_still_verify_from_the_values():
    records = _fixture_records()
    assert len(records) == 5
    for fields, stored_hash, canonical in records:
        assert canonical_json(fields["parameters"]) == canonical
        assert record_content_hash(AuditRecord(**fields)) == stored_hash, fields["request_id"]


@pytest.mark.django_db
def test_evidence_frozen_before_the_split_still_verifies_from_the_database():
    """What an investigator sees: evidence attached under the old encoder still shows as intact."""
    incident = IncidentFactory()
    for fields, stored_hash, _ in _fixture_records():
        if not AIFeature.objects.filter(pk=fields["feature_id"]).exists():
            AIFeatureFactory(pk=fields["feature_id"])
        record = AuditRecord.objects.create(**fields, received_at=fields["occurred_at"], content_hash=stored_hash)
        Evidence.objects.create(incident=incident, record=record, content_hash=stored_hash)
    checked = evidence_integrity(incident)
    assert len(checked) == 5
    assert [ok for _, ok in checked] == [True] * 5
    # And the check can fail: content changed behind Fireline's back no longer matches its frozen hash.
    AuditRecord.objects.filter(request_id="req-2").update(input="rewritten")
    checked = {e.record.request_id: ok for e, ok in evidence_integrity(incident)}
    assert checked == {"req-1": True, "req-2": False, "req-3": True, "req-4": True, "req-5": True}
