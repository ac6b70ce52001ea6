"""Audit record ingest: single and NDJSON, idempotency, bad lines, limits, pseudonymised users, redaction."""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from audit.models import ActionLogEntry, AuditRecord, RedactionRule
from audit.trail import ingest
from audit.trail.ingest import audit_records_ingest, record_content_hash, storage
from audit.trail.redaction import compile_rule, redact_text, redaction_rules_compiled
from incidents.services import api_token_create
from tests.incidents.factories import AIFeatureFactory

URL = "/api/v1/audit/records"
RAW_USER = "customer-8812-jane"


settings_for_hypothesis = hypothesis_settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def seeded_rules(db):
    return redaction_rules_compiled()


@pytest.fixture
def token(db):
    return api_token_create(name="product", scopes=["audit"])[1]


def record(n=1, **fields):
    data = {
        "request_id": f"req-{n}",
        "occurred_at": "2026-11-29T22:00:00Z",
        "feature": "support-bot",
        "user_id": RAW_USER,
        "model_provider": "openai",
        "model_version": "gpt-4o-2024-08-06",
        "prompt_id": "support-answer",
        "prompt_version": "v14",
        "parameters": {"temperature": 0.2, "seed": 7},
        "input": "How do I reset my password?",
        "retrieved_context": [{"id": "kb-12", "source": "help-center", "text": "Open Settings, then Security."}],
        "model_output": "Open Settings, then Security.",
        "user_output": "Open Settings, then Security.",
        "moderation": [{"stage": "output", "rule": "toxicity", "verdict": "allow", "score": 0.01}],
        "tool_calls": [{"name": "lookup_account", "arguments": {"plan": "pro"}}],
        "latency_ms": 840,
        "tokens_in": 312,
        "tokens_out": 41,
        "cost": 0.00042,
        "error": False,
    }
    data.update(fields)
    return data


def ndjson(*records) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


def lines(*records):
    return [(n, json.dumps(r).encode()) for n, r in enumerate(records, start=1)]


def post(client, token, body, content_type="application/json"):
    if not isinstance(body, str | bytes):
        body = json.dumps(body)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(URL, data=body, content_type=content_type, **headers)


def post_ndjson(client, token, *records):
    return post(client, token, ndjson(*records), content_type="application/x-ndjson")


# --- single records -----------------------------------------------------------------------------


def test_single_record_is_stored_with_every_field(client, token, feature):
    response = post(client, token, record())
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 1, "duplicates": 0, "conflicts": [], "rejected": []}
    stored = AuditRecord.objects.get()
    assert stored.feature == feature and stored.request_id == "req-1"
    assert stored.occurred_at == datetime(2026, 11, 29, 22, tzinfo=UTC)
    assert (stored.model_provider, stored.model_version) == ("openai", "gpt-4o-2024-08-06")
    assert (stored.prompt_id, stored.prompt_version) == ("support-answer", "v14")
    assert stored.parameters == {"temperature": 0.2, "seed": 7}
    assert stored.retrieved_context == record()["retrieved_context"]
    assert stored.moderation[0]["verdict"] == "allow"
    assert stored.tool_calls == [{"name": "lookup_account", "arguments": {"plan": "pro"}}]
    assert (stored.latency_ms, stored.tokens_in, stored.tokens_out) == (840, 312, 41)
    assert stored.cost == Decimal("0.000420") and stored.has_error is False
    assert stored.content_hash == record_content_hash(stored)
    assert len(stored.body_hash) == 64 and stored.redactions == {}


def test_prompt_hash_stands_in_for_the_prompt_version(client, token, feature):
    data = record(prompt_hash="sha256:9f2c")
    del data["prompt_version"]
    assert post(client, token, data).status_code == 200
    assert AuditRecord.objects.get().prompt_version == "sha256:9f2c"


@pytest.mark.parametrize("error, has_error", [(True, True), ("upstream timeout", True), (False, False), (None, False)])
def test_error_as_flag_or_message_marks_the_record(client, token, feature, error, has_error):
    assert post(client, token, record(error=error)).status_code == 200
    assert AuditRecord.objects.get().has_error is has_error


def test_a_wholly_bad_single_record_is_400_naming_each_field(client, token, feature):
    bad = record(occurred_at="2026-11-29T22:00:00", latency_ms=-1, moderation=[{"verdict": "maybe"}])
    del bad["request_id"]
    response = post(client, token, bad)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"request_id", "occurred_at", "latency_ms", "moderation[0].verdict"}
    assert "zone" in errors["occurred_at"][0]
    assert not AuditRecord.objects.exists()


def test_a_body_that_is_not_json_is_400(client, token, feature):
    response = post(client, token, '{"request_id": ')
    assert response.status_code == 400 and "Not valid JSON" in response.json()["errors"]["record"][0]


def test_a_json_array_is_refused_with_a_pointer_to_ndjson(client, token, feature):
    response = post(client, token, [record()])
    assert response.status_code == 400 and "NDJSON" in response.json()["errors"]["record"][0]


def test_other_content_types_are_415(client, token, feature):
    response = post(client, token, json.dumps(record()), content_type="text/plain")
    assert response.status_code == 415 and "content_type" in response.json()["errors"]


# --- NDJSON -------------------------------------------------------------------------------------


def test_ndjson_stores_every_good_line(client, token, feature):
    response = post_ndjson(client, token, *(record(n) for n in range(1, 6)))
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 5
    assert sorted(AuditRecord.objects.values_list("request_id", flat=True)) == [f"req-{n}" for n in range(1, 6)]


def test_bad_lines_are_reported_by_line_number_while_good_lines_land(client, token, feature):
    no_time = record(3)
    del no_time["occurred_at"]
    body = ndjson(record(1), "{not json", no_time, record(4, feature="no-such-bot"), record(5)).replace(
        "\n", "\n\n", 1
    )  # a blank line 2: numbers are physical lines
    response = post(client, token, body, content_type="application/x-ndjson")
    assert response.status_code == 200
    result = response.json()
    assert result["accepted"] == 2
    rejected = {r["line"]: r["errors"] for r in result["rejected"]}
    assert set(rejected) == {3, 4, 5}
    assert "Not valid JSON" in rejected[3]["record"]
    assert set(rejected[4]) == {"occurred_at"}
    assert rejected[5] == {"feature": "No AI feature has the key 'no-such-bot'."}
    assert set(AuditRecord.objects.values_list("request_id", flat=True)) == {"req-1", "req-5"}


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2099-01-01T00:00:00Z"}, "occurred_at"),
        ({"request_id": ""}, "request_id"),
        ({"request_id": "x" * 201}, "request_id"),
        ({"feature": None}, "feature"),
        ({"parameters": [0.2]}, "parameters"),
        ({"input": {"text": "hi"}}, "input"),
        ({"retrieved_context": [{"id": "d1", "text": 7}]}, "retrieved_context[0].text"),
        ({"retrieved_context": "doc"}, "retrieved_context"),
        ({"moderation": [{"stage": "output", "verdict": "allow", "score": "high"}]}, "moderation[0].score"),
        ({"tool_calls": {"name": "x"}}, "tool_calls"),
        ({"tokens_in": True}, "tokens_in"),
        ({"cost": "cheap"}, "cost"),
        ({"model_version": "m" * 121}, "model_version"),
        ({"error": 3}, "error"),
        ({"feature": {}}, "feature"),
        ({"feature": [1]}, "feature"),
        ({"feature": 5}, "feature"),
        ({"user_id": {"id": 5}}, "user_id"),
        ({"user_id": [5]}, "user_id"),
        ({"user_id": 1.5}, "user_id"),
        ({"request_id": 5}, "request_id"),
        ({"occurred_at": 1733000000}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:00:00-05:00"}, "occurred_at"),
        ({"tool_calls": [1]}, "tool_calls[0]"),
        ({"latency_ms": 10**40}, "latency_ms"),
        ({"retrieved_context": [{"id": 1.5}]}, "retrieved_context[0].id"),
    ],
)
def test_each_field_is_checked(client, token, feature, fields, field):
    response = post_ndjson(client, token, record(1, **fields))
    [rejected] = response.json()["rejected"]
    assert rejected["line"] == 1 and set(rejected["errors"]) == {field}
    assert not AuditRecord.objects.exists()


@pytest.mark.parametrize(
    "line",
    [
        '{"request_id": "r", "occurred_at": "2026-11-29T22:00:00Z", "feature": "support-bot", "cost": NaN}',
        '{"request_id": "r", "occurred_at": "2026-11-29T22:00:00Z", "feature": "support-bot", "input": "a\\u0000b"}',
        '{"request_id": "r", "occurred_at": "2026-11-29T22:00:00Z", "feature": "support-bot", "input": "\\ud800"}',
        '{"request_id": "r", "occurred_at": "2026-11-29T22:00:00Z", "feature": "support-bot", "parameters": '
        '{"t": Infinity}}',
        "[1, 2]",
        '{"request_id": "r", "occurred_at": "2026-11-29T22:00:00Z", "feature": "support-bot", "moderation": '
        '[{"verdict": ["allow"]}]}',
        '{"request_id": "r", "occurred_at": "0001-01-01T00:00:00+05:00", "feature": "support-bot"}',
        '{"request_id": "r", "occurred_at": "2026-11-29T22:00:00Z", "feature": "support-bot", "tokens_in": '
        + "9" * 5000
        + "}",
        '{"request_id": "r", "occurred_at": "2026-11-29T22:00:00Z", "feature": "support-bot", "tool_calls": '
        + "[" * 100
        + "]" * 100
        + "}",
        '{"request_id": "r", "occurred_at": "2026-11-29T22:00:00Z", "feature": "support-bot", "tool_calls": '
        + "[" * 100_000
        + "]" * 100_000
        + "}",
    ],
)
def test_values_no_database_can_store_are_rejected_not_crashed_on(client, token, feature, line):
    response = post(client, token, line + "\n", content_type="application/x-ndjson")
    assert response.status_code == 200
    assert response.json()["accepted"] == 0 and response.json()["rejected"][0]["line"] == 1


@pytest.mark.parametrize(
    "value, reason",
    [("a\\u0000b", "NUL"), ("\\ud800", "lone UTF-16 surrogate"), ("a\\\\u0000b", None)],
)
def test_unstorable_text_is_named(client, token, feature, value, reason):
    line = f'{{"request_id": "r", "occurred_at": "2026-11-29T22:00:00Z", "feature": "support-bot", "input": "{value}"}}'
    result = post(client, token, line + "\n", content_type="application/x-ndjson").json()
    if reason is None:  # an escaped backslash before u0000 is just text
        assert result["accepted"] == 1
    else:
        assert reason in result["rejected"][0]["errors"]["input"]


def test_a_byte_order_mark_is_tolerated(client, token, feature):
    response = post(client, token, b"\xef\xbb\xbf" + json.dumps(record()).encode())
    assert response.status_code == 200 and response.json()["accepted"] == 1


def test_an_empty_body_is_400(client, token, feature):
    response = post(client, token, "\n\n", content_type="application/x-ndjson")
    assert response.status_code == 400


# --- idempotency --------------------------------------------------------------------------------


def test_the_same_record_again_is_a_duplicate(client, token, feature):
    post(client, token, record())
    stored = AuditRecord.objects.get()
    response = post(client, token, record())
    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "duplicates": 1, "conflicts": [], "rejected": []}
    assert AuditRecord.objects.get().pk == stored.pk


def test_key_order_does_not_make_a_different_body(client, token, feature):
    post(client, token, record())
    reordered = dict(reversed(list(record().items())))
    assert post(client, token, reordered).json()["duplicates"] == 1


def test_a_different_body_under_a_stored_id_is_a_conflict_and_never_overwrites(client, token, feature):
    post(client, token, record(model_output="first answer"))
    response = post_ndjson(client, token, record(2), record(1, model_output="second answer"))
    assert response.json()["accepted"] == 1
    assert response.json()["conflicts"] == [{"line": 2, "request_id": "req-1"}]
    assert AuditRecord.objects.get(request_id="req-1").model_output == "first answer"
    single = post(client, token, record(model_output="third answer"))
    assert single.status_code == 409 and single.json()["conflicts"] == [{"line": 1, "request_id": "req-1"}]


def test_repeats_inside_one_request_are_duplicates_or_conflicts(client, token, feature):
    response = post_ndjson(client, token, record(1), record(1), record(1, input="changed"))
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["conflicts"]) == (1, 1, [{"line": 3, "request_id": "req-1"}])


def test_the_same_request_id_under_another_feature_is_another_record(client, token, feature):
    AIFeatureFactory(key="search-bot")
    response = post_ndjson(client, token, record(1), record(1, feature="search-bot"))
    assert response.json()["accepted"] == 2


def test_a_concurrent_insert_of_the_same_ids_is_sorted_out_row_by_row(feature, monkeypatch):
    """Another request stored some ids between our lookup and our insert: the bulk insert fails on the
    unique constraint, and each row is then inserted alone and classified."""
    audit_records_ingest(lines=lines(record(1), record(2, input="theirs")))
    monkeypatch.setattr(storage, "_existing", lambda pairs: {})  # our lookup saw nothing
    result = audit_records_ingest(lines=lines(record(1), record(2, input="ours"), record(3)))
    assert (result.accepted, result.duplicates, result.conflicts) == (1, 1, [{"line": 2, "request_id": "req-2"}])
    assert AuditRecord.objects.get(request_id="req-2").input == "theirs"
    assert AuditRecord.objects.count() == 3


def test_a_race_lost_in_the_middle_of_a_long_chunk_keeps_every_row_and_its_redactions(feature, monkeypatch):
    """On PostgreSQL the unique violation surfaces while rows are still being streamed: the rows not
    made yet are made once, not twice (a second redaction would find nothing and count nothing)."""
    padding = "x" * 2000
    many = [record(n, input=f"mail me at user{n}@example.com {padding}") for n in range(300)]
    audit_records_ingest(lines=lines(many[0]))
    monkeypatch.setattr(storage, "_existing", lambda pairs: {})
    result = audit_records_ingest(lines=lines(*many))
    assert (result.accepted, result.duplicates, result.conflicts) == (299, 1, [])
    assert AuditRecord.objects.count() == 300
    assert all(r == {"Email address": 1} for r in AuditRecord.objects.values_list("redactions", flat=True))
    assert all(r.content_hash == record_content_hash(r) for r in AuditRecord.objects.all())


def test_rows_not_yet_made_when_an_insert_fails_are_made_once(feature, monkeypatch):
    def failing_insert(rows):
        next(rows), next(rows)  # the database has taken two rows when the violation surfaces
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(storage, "_insert", failing_insert)
    many = [record(n, input=f"mail me at user{n}@example.com") for n in range(5)]
    result = audit_records_ingest(lines=lines(*many))
    assert result.accepted == 5
    assert list(AuditRecord.objects.values_list("redactions", flat=True)) == [{"Email address": 1}] * 5


# --- limits and auth ----------------------------------------------------------------------------


def test_a_body_over_the_byte_limit_is_413(client, token, feature, settings):
    settings.FIRELINE_AUDIT_MAX_BYTES = 500
    response = post_ndjson(client, token, record(1), record(2))
    assert response.status_code == 413 and "500" in response.json()["detail"]
    assert not AuditRecord.objects.exists()


def test_more_lines_than_the_limit_is_413_naming_the_limit(client, token, feature, settings):
    settings.FIRELINE_AUDIT_MAX_LINES = 3
    response = post_ndjson(client, token, *(record(n) for n in range(4)))
    assert response.status_code == 413
    assert "limit is 3 lines" in response.json()["detail"]
    assert not AuditRecord.objects.exists()
    assert post_ndjson(client, token, *(record(n) for n in range(3))).json()["accepted"] == 3


def test_a_token_without_the_audit_scope_is_403(client, feature):
    _, raw = api_token_create(name="alerts only", scopes=["alerts"])
    response = post(client, raw, record())
    assert response.status_code == 403 and "audit" in response.json()["detail"]
    assert not AuditRecord.objects.exists()


def test_no_token_is_401(client, feature):
    assert post(client, None, record()).status_code == 401
    assert post(client, "fl_not-a-token", record()).status_code == 401


# --- personal data ------------------------------------------------------------------------------


def test_the_user_id_is_hashed_on_arrival_and_stored_nowhere(client, token, feature):
    post_ndjson(client, token, record(1), record(2, user_id=4711))
    first, second = AuditRecord.objects.order_by("request_id")
    secret = settings.FIRELINE_AUDIT_USER_SECRET.encode()
    assert first.user_ref == hmac.new(secret, RAW_USER.encode(), hashlib.sha256).hexdigest()
    assert second.user_ref == hmac.new(secret, b"4711", hashlib.sha256).hexdigest()
    for row in AuditRecord.objects.values():
        assert RAW_USER not in json.dumps(row, default=str)
    # Nor in the database at large (SQLite keeps it all in one file; PostgreSQL: the audit table).
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {AuditRecord._meta.db_table}")  # noqa: S608 - a fixed table name
        assert RAW_USER not in repr(cursor.fetchall())
    assert not ActionLogEntry.objects.filter(after__icontains=RAW_USER).exists()


def test_the_user_id_is_never_echoed_in_an_error(client, token, feature):
    response = post_ndjson(client, token, record(1, occurred_at="bad"), record(2, user_id={"id": RAW_USER}))
    text = response.content.decode()
    assert RAW_USER not in text
    assert response.json()["rejected"][1]["errors"] == {"user_id": "Must be a string or an integer."}
    single = post(client, token, record(1, feature="nope"))
    assert single.status_code == 400 and RAW_USER not in single.content.decode()


PII = "Mail jane.doe@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111 please."


def test_redaction_replaces_personal_data_and_counts_it(client, token, feature):
    assert feature.redact_pii
    data = record(
        input=PII,
        model_output=f"Noted: {PII}",
        user_output="Noted.",
        retrieved_context=[{"id": "crm-1", "source": "crm", "text": "Owner: bob@example.org"}],
    )
    post(client, token, data)
    stored = AuditRecord.objects.get()
    assert stored.input == "Mail [email] or call [phone]; card [card] please."
    assert stored.model_output == "Noted: Mail [email] or call [phone]; card [card] please."
    assert stored.user_output == "Noted."
    assert stored.retrieved_context == [{"id": "crm-1", "source": "crm", "text": "Owner: [email]"}]
    assert stored.redactions == {"Email address": 3, "Phone number": 2, "Card number": 2}
    assert stored.redaction_count == 7
    for secret in ("jane.doe@example.com", "7946 0958", "4111 1111", "bob@example.org"):
        assert secret not in json.dumps(AuditRecord.objects.values().get(), default=str)
    assert stored.content_hash == record_content_hash(stored)


def test_a_feature_without_redaction_keeps_the_text(client, token, feature):
    AIFeatureFactory(key="internal-bot", redact_pii=False)
    post(client, token, record(feature="internal-bot", input=PII))
    stored = AuditRecord.objects.get()
    assert stored.input == PII and stored.redactions == {}


def test_switched_off_and_new_rules_apply_to_the_next_records(client, token, feature):
    RedactionRule.objects.filter(name="Email address").update(is_active=False)
    RedactionRule.objects.create(name="Ticket", pattern=r"TCK-\d+", replacement="[ticket]", position=5)
    post(client, token, record(input="TCK-991 from jane.doe@example.com"))
    stored = AuditRecord.objects.get()
    assert stored.input == "[ticket] from jane.doe@example.com" and stored.redactions == {"Ticket": 1}


RULE_PATTERNS = [
    r"TCK-\d+",
    r"\d+(?=%)",  # a lookahead on a character the rule never consumes
    r"(?<=id:)\d{3,}",
    r"[0-9]{2}\b",
    r"(?i)secret",
    r"a(?i:b)c",
    r"x+@y",
    r"(?:ab|ac)d",
    r"\(\d+\)",
]
TEXT_ALPHABET = "0123456789 -+().@%:\nabcdxyzSECRTKid٣é"
PII_PIECES = [
    "4111 1111 1111 1111",
    "4111-1111-1111-1111-1",
    "+44 20 7946 0958",
    "(020) 7946-0958",
    "020.7946.0958",
    "jane.doe@example.com",
    "x@y",
    "id:12345",
    "50%",
    "TCK-12",
    "٣٣٣ ٣٣٣ ٣٣٣",
    "12345678901234567890",
    "SeCrEt",
    "abd",
    "(12)",
]
texts = st.lists(st.one_of(st.sampled_from(PII_PIECES), st.text(alphabet=TEXT_ALPHABET, max_size=6)), max_size=12).map(
    "".join
)


@settings_for_hypothesis
@given(text=texts)
def test_redaction_shortcuts_match_a_plain_subn(seeded_rules, text):
    """The required-character and run shortcuts must never change what a rule does."""
    rules = seeded_rules + [compile_rule(name=p, pattern=p, replacement="<\\1>") for p in RULE_PATTERNS]
    expected, expected_counts = text, {}
    for rule in rules:
        expected, n = rule.regex.subn(rule.template, expected)
        if n:
            expected_counts[rule.name] = n
    assert redact_text(text, rules) == (expected, expected_counts)


def test_the_seeded_rules_take_the_shortcuts(seeded_rules):
    by_name = {rule.name: rule for rule in seeded_rules}
    assert by_name["Card number"].runs is not None and by_name["Phone number"].runs is not None
    assert "@" in by_name["Email address"].required


def test_a_broken_rule_stores_nothing_rather_than_unredacted_text(client, token, feature):
    RedactionRule.objects.create(name="Broken", pattern="([a-z", position=1)
    response = post(client, token, record(input=PII))
    assert response.status_code == 503 and "Broken" in response.json()["detail"]
    assert not AuditRecord.objects.exists()


# --- hashes -------------------------------------------------------------------------------------


def test_the_content_hash_survives_the_round_trip_through_the_database(client, token, feature):
    data = record(
        occurred_at="2026-11-29T23:30:00.123456+01:30",
        parameters={"temperature": 1.0, "top_p": 0.95, "big": 1e20, "seed": 12345678901234567890, "neg": -0.0},
        cost="12.5",
        tool_calls=[{"name": "x", "score": 2.0, "nested": [1.5e-7, {"ü": "ß"}]}],
    )
    assert post(client, token, data).status_code == 200
    stored = AuditRecord.objects.get()
    assert record_content_hash(stored) == stored.content_hash
    stored.model_output += " (edited)"
    assert record_content_hash(stored) != stored.content_hash


def test_the_content_hash_is_the_sha256_of_the_canonical_json_of_the_content(client, token, feature):
    """What the other side of an investigation can rely on, stated as code."""
    post(client, token, record(input="Grüße, ☃", parameters={"temperature": 0.7, "stop": ["\n"]}))
    stored = AuditRecord.objects.get()
    content = {name: getattr(stored, name) for name in ingest.CONTENT_FIELDS}
    content.update(feature=stored.feature_id, occurred_at="2026-11-29T22:00:00+00:00", cost="0.000420")
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stored.content_hash == hashlib.sha256(canonical.encode()).hexdigest()
    json_fields = {f.name for f in AuditRecord._meta.concrete_fields if f.get_internal_type() == "JSONField"}
    assert json_fields == set(ingest.JSON_FIELDS)


def test_the_body_hash_is_keyed(client, token, feature):
    """A plain SHA-256 of the body would let someone with the database confirm guessed personal data."""
    data = record()
    post(client, token, data)
    plain = hashlib.sha256(ingest.canonical_json(data).encode()).hexdigest()
    assert AuditRecord.objects.get().body_hash != plain


# --- cost ---------------------------------------------------------------------------------------


def test_query_count_does_not_grow_with_the_lines(client, token, feature):
    def queries(n, offset):
        body = ndjson(*(record(offset + i) for i in range(n)))
        with CaptureQueriesContext(connection) as ctx:
            response = post(client, token, body, content_type="application/x-ndjson")
        assert response.json()["accepted"] == n
        return len(ctx.captured_queries)

    small = queries(10, 0)
    large = queries(1000, 10_000)
    # One lookup and one INSERT per chunk of rows; SQLite splits an INSERT by its parameter limit.
    fields = [f for f in AuditRecord._meta.concrete_fields if f.name != "id"]
    per_insert = connection.ops.bulk_batch_size(fields, [None] * 1000)
    assert large - small <= -(-1000 // per_insert) + 2, (small, large)


def test_the_openapi_schema_documents_the_endpoint(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/audit/records"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "application/x-ndjson"}
    record_schema = schema["components"]["schemas"]["AuditRecord"]
    assert {"request_id", "occurred_at", "feature"} <= set(record_schema["required"])
    assert "moderation" in record_schema["properties"]
    assert {"200", "400", "401", "403", "413"} <= set(operation["responses"])


# --- input that used to fail the whole request ------------------------------------------------------


@pytest.mark.parametrize("bad", [{}, [1], {"key": "support-bot"}])
def test_a_feature_of_the_wrong_type_refuses_its_line_only(client, token, feature, bad):
    """One line with `feature: {}` used to fail all 10,000 lines of its request with a 500."""
    response = post_ndjson(client, token, record(1), record(2, feature=bad), record(3))
    assert response.status_code == 200
    result = response.json()
    assert result["accepted"] == 2
    assert result["rejected"] == [
        {"line": 2, "errors": {"feature": "Must be a string: the AI feature's key, e.g. support-bot."}}
    ]


def test_a_single_record_with_a_feature_of_the_wrong_type_is_400(client, token, feature):
    response = post(client, token, record(1, feature={}))
    assert response.status_code == 400 and "feature" in response.json()["errors"]


@pytest.mark.parametrize("field", ["feature", "user_id", "request_id", "model_version", "input"])
@pytest.mark.parametrize("escape, reason", [("\\u0000", "NUL"), ("\\udfff", "lone UTF-16 surrogate")])
def test_unstorable_text_in_any_field_is_named_with_its_line(client, token, feature, field, escape, reason):
    bad = json.dumps(record(2, **{field: "MARK"})).replace("MARK", f"a{escape}b")
    body = ndjson(record(1), bad, record(3))
    response = post(client, token, body, content_type="application/x-ndjson")
    assert response.status_code == 200
    result = response.json()
    assert result["accepted"] == 2
    [rejected] = result["rejected"]
    assert rejected["line"] == 2 and reason in rejected["errors"][field]
    assert RAW_USER not in response.content.decode()


def test_unstorable_text_deep_in_a_record_is_named_by_its_path(client, token, feature):
    bad = json.dumps(record(1, tool_calls=[{"name": "x", "arguments": {"q": "MARK"}}])).replace("MARK", "\\u0000")
    response = post(client, token, bad)
    assert response.status_code == 400
    assert "NUL" in response.json()["errors"]["tool_calls[0].arguments.q"][0]


@pytest.mark.parametrize(
    "body, where, reason",
    [
        ('{"input": ' + "[" * 1000 + "]" * 1000 + "}", "record", "Nested more than 64 levels deep"),
        ('{"latency_ms": ' + "9" * 5000 + "}", "latency_ms", "5,000 digits"),
        ('{"parameters": {"t": 1e999}}', "parameters.t", "out of range"),
    ],
)
def test_numbers_and_nesting_no_parser_should_attempt_are_named(client, token, feature, body, where, reason):
    response = post(client, token, body)
    assert response.status_code == 400
    assert reason in response.json()["errors"][where][0]


any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
record_like = st.fixed_dictionaries(
    {"request_id": st.text(min_size=1, max_size=20), "feature": st.just("support-bot") | any_json},
    optional={
        name: any_json
        for name in [
            "occurred_at",
            "user_id",
            "model_version",
            "parameters",
            "input",
            "retrieved_context",
            "moderation",
            "tool_calls",
            "latency_ms",
            "cost",
            "error",
        ]
    },
)
# a line: a record with any field of any type, any JSON, or any bytes (one line of them)
ndjson_line = (
    record_like.map(json.dumps).map(str.encode)
    | any_json.map(json.dumps).map(str.encode)
    | st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" "))
)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body_lines=st.lists(ndjson_line, min_size=1, max_size=6))
def test_no_ndjson_body_makes_the_ingest_fail_and_every_line_is_accounted_for(client, token, feature, body_lines):
    body = b"\n".join(body_lines) + b"\n"
    response = post(client, token, body, content_type="application/x-ndjson")
    records = [line for line in body.split(b"\n") if line and not line.isspace()]
    if not records:
        assert response.status_code == 400
        return
    assert response.status_code == 200, (response.status_code, body, response.content[:300])
    result = response.json()
    assert result["accepted"] + result["duplicates"] + len(result["conflicts"]) + len(result["rejected"]) == len(
        records
    )


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=ndjson_line)
def test_no_single_record_makes_the_ingest_fail(client, token, feature, body):
    response = post(client, token, body)
    answers = (200, 400, 409) if body else (400, 415)  # the test client drops the content type of an empty body
    assert response.status_code in answers, (response.status_code, body, response.content[:300])
    if response.status_code == 400:
        assert response.json()["errors"]
