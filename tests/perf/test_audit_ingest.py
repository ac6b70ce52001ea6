"""Benchmark: NDJSON audit ingest through the HTTP endpoint, against a raw COPY of the same rows.

Run with `make bench`, or alone on PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/pytest tests/perf/test_audit_ingest.py -m perf -s

The benchmark makes the redaction rules it needs (an email and a phone rule of its own, whatever an
earlier test left of the seeded ones) and checks that redaction ran: the records with contact details
are stored redacted. On PostgreSQL the endpoint is served by `gunicorn config.wsgi -w 2` (the production
server); on SQLite by the development live_server, with bulk_create as the floor.

Each batch is posted as one NDJSON request (validation, user hashing, redaction, idempotency lookup, bulk
insert, response); right after it, the same rows, prepared before the clock starts, go in with COPY (the
floor) and with bulk_create (for reference) under other features, so all three insert into a table of
the same size. Three rounds of three batches after a warm-up: the target is the median round's ratio of
ingest time to COPY time (tests/perf/ratios.py).
"""

import json
import logging
import random
import statistics
import time

import httpx
import pytest
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditRecord
from audit.trail import ingest
from audit.trail.ingest import hashing, parsing, storage, validation
from audit.trail.redaction import RedactionRule, Redactor, redaction_rules_compiled
from incidents.services import api_token_create
from tests.incidents.factories import AIFeatureFactory
from tests.perf.ratios import Ratio, check
from tests.perf.servers import gunicorn_server

BATCHES = 9  # after one warm-up: three rounds of three
PER_BATCH = 5000
# Ingest does the work COPY skips (parse, validate, hash user ids, redact, look up duplicates, answer):
# a batch within 4x of COPY's time, i.e. at least a quarter of raw insert speed.
TARGET_RATIO = 4.0
BENCH_RULES = [
    ("Bench email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", "[email]"),
    ("Bench phone", r"\+44 20 \d{4} \d{4}", "[phone]"),
]
WORDS = (
    "account password reset billing invoice plan upgrade refund order delivery shipping address settings "
    "security login error retry support agent policy days within the your you can we our please click "
    "open choose select confirm page menu profile team workspace export report data file limit usage"
).split()


def sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    if rng.random() < 0.3:
        text += f" order {rng.randint(10000, 99999)} on 2026-11-{rng.randint(1, 29):02d}"
    return text.capitalize() + "."


def paragraph(rng: random.Random, chars: int) -> str:
    parts = []
    while sum(len(p) + 1 for p in parts) < chars:
        parts.append(sentence(rng, rng.randint(6, 16)))
    return " ".join(parts)


def make_records(batch: int, rng: random.Random, docs: list[dict]) -> list[dict]:
    """Records the size a support assistant sends: ~250-char input, ~700-char output, two documents."""
    records = []
    for i in range(PER_BATCH):
        n = batch * PER_BATCH + i
        question = paragraph(rng, 250)
        if rng.random() < 0.05:  # some users paste their contact details
            question += f" Reach me at user{n}@example.com or +44 20 7946 {n % 10000:04d}."
        answer = paragraph(rng, 700)
        moderated = rng.random() < 0.1
        records.append(
            {
                "request_id": f"bench-{n:08d}",
                "occurred_at": f"2026-11-29T{n % 24:02d}:{n % 60:02d}:{(n // 60) % 60:02d}.{n % 1000:03d}Z",
                "feature": "bench-bot",
                "user_id": f"user-{n % 5000}",
                "model_provider": "openai",
                "model_version": "gpt-4o-2024-08-06" if n % 7 else "gpt-4o-2024-11-20",
                "prompt_id": "support-answer",
                "prompt_version": "v14",
                "parameters": {"temperature": 0.2, "top_p": 1.0, "seed": n},
                "input": question,
                "retrieved_context": rng.sample(docs, 2),
                "model_output": answer,
                "user_output": "I can't help with that here." if moderated else answer,
                "moderation": [
                    {"stage": "input", "rule": "prompt-injection", "verdict": "allow", "score": 0.02},
                    {
                        "stage": "output",
                        "rule": "toxicity",
                        "verdict": "rewrite" if moderated else "allow",
                        "score": round(rng.random(), 3),
                    },
                ],
                "tool_calls": [{"name": "lookup_order", "arguments": {"order": n}}] if n % 10 == 0 else [],
                "latency_ms": rng.randint(300, 4000),
                "tokens_in": rng.randint(200, 1500),
                "tokens_out": rng.randint(20, 400),
                "cost": round(rng.random() / 100, 6),
                "error": False,
            }
        )
    return records


def prepared_rows(records: list[dict], feature) -> list[dict]:
    """The column values ingest stores for these records, built before the clock starts, under another feature."""
    keys = (hashing.user_secret(), hashing.body_key())
    redactor = Redactor(redaction_rules_compiled())
    now = timezone.now()
    rows = []
    for n, data in enumerate(records, start=1):
        parsed = parsing.record_parse(json.dumps({**data, "feature": feature.key}).encode())
        item, errors = validation.record_clean(parsed, line=n, features={feature.key: feature}, now=now, keys=keys)
        assert not errors, errors
        rows.append(storage.record_row(item, redactor, now)[0])
    return rows


def raw_copy(rows: list[dict]) -> float:
    """The floor: COPY of ready-made tuples (JSON already serialised), one transaction, nothing else."""
    fields = [f for f in AuditRecord._meta.concrete_fields if not f.primary_key]
    tuples = [
        [json.dumps(row[f.attname]) if f.get_internal_type() == "JSONField" else row[f.attname] for f in fields]
        for row in rows
    ]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"COPY {AuditRecord._meta.db_table} ({columns}) FROM STDIN"
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor, cursor.copy(sql) as copy:
        for values in tuples:
            copy.write_row(values)
    return time.perf_counter() - start


def raw_bulk_create(rows: list[dict]) -> float:
    """For reference: Django's bulk_create of ready-made instances, in ingest's chunk size."""
    instances = [AuditRecord(**row) for row in rows]
    start = time.perf_counter()
    with transaction.atomic():
        for chunk in range(0, len(instances), ingest.CHUNK_SIZE):
            AuditRecord.objects.bulk_create(instances[chunk : chunk + ingest.CHUNK_SIZE])
    return time.perf_counter() - start


@pytest.mark.perf
@pytest.mark.django_db(transaction=True)
def test_audit_ndjson_ingest_throughput(live_server):
    for position, (name, pattern, replacement) in enumerate(BENCH_RULES, start=1):
        rule = {"pattern": pattern, "replacement": replacement, "is_active": True, "position": position}
        RedactionRule.objects.update_or_create(name=name, defaults=rule)
    AIFeatureFactory(key="bench-bot", redact_pii=True)
    copy_feature = AIFeatureFactory(key="bench-copy", redact_pii=True)
    bulk_feature = AIFeatureFactory(key="bench-bulk", redact_pii=True)
    _, token = api_token_create(name="bench", scopes=["audit"])
    logging.getLogger("httpx").setLevel(logging.WARNING)
    has_copy = connection.vendor == "postgresql"
    rng = random.Random(20261129)  # noqa: S311 - test data
    docs = [{"id": f"kb-{d}", "source": "help-center", "text": paragraph(rng, 400)} for d in range(50)]
    batches = [make_records(b, rng, docs) for b in range(BATCHES + 1)]
    bodies = [("\n".join(json.dumps(r) for r in records) + "\n").encode() for records in batches]

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson", "Connection": "close"}
    times: dict[str, list[float]] = {"ingest": [], "copy": [], "bulk_create": []}
    floor = "copy" if has_copy else "bulk_create"
    ratio = Ratio(f"ingest time / {floor} time per batch of {PER_BATCH:,}", TARGET_RATIO)

    def run(base_url: str) -> None:
        with httpx.Client(base_url=base_url, timeout=300) as client:
            for n, (records, body) in enumerate(zip(batches, bodies, strict=True)):
                start = time.perf_counter()
                response = client.post("/api/v1/audit/records", content=body, headers=headers)
                elapsed = time.perf_counter() - start
                assert response.status_code == 200, response.text[:500]
                result = response.json()
                assert result["accepted"] == PER_BATCH and not result["rejected"], result["rejected"][:3]
                copied = raw_copy(prepared_rows(records, copy_feature)) if has_copy else 0.0
                bulk = raw_bulk_create(prepared_rows(records, bulk_feature))
                if n:  # batch 0 warms up every path
                    times["ingest"].append(elapsed)
                    times["copy"].append(copied)
                    times["bulk_create"].append(bulk)
                if n and n % 3 == 0:  # a round: three batches
                    ingest_median = statistics.median(times["ingest"][-3:])
                    ratio.add(statistics.median(times[floor][-3:]), ingest_median, f"({ingest_median:.2f} s)")

    if has_copy:
        with gunicorn_server(ready_path="/healthz") as base_url:
            run(base_url)
        server = "gunicorn config.wsgi -w 2"
    else:
        run(live_server.url)
        server = "live_server (development server; on PostgreSQL the figures come from gunicorn)"

    total = BATCHES * PER_BATCH
    rate = {name: total / sum(values) if sum(values) else 0.0 for name, values in times.items()}
    ingested = AuditRecord.objects.filter(feature__key="bench-bot")
    redacted = ingested.exclude(redactions={}).count()
    mb = sum(len(b) for b in bodies[1:]) / BATCHES / 1e6
    lines = [
        f"database: {connection.vendor}; server: {server}",
        f"{BATCHES} NDJSON requests x {PER_BATCH:,} records ({mb:.1f} MB each) after one warm-up, redaction on "
        f"({redacted:,} of {(BATCHES + 1) * PER_BATCH:,} records had something redacted)",
        f"HTTP ingest: {rate['ingest']:,.0f} records/s; median request {statistics.median(times['ingest']):.2f} s",
    ]
    if has_copy:
        lines.append(f"floor, raw COPY of the same rows: {rate['copy']:,.0f} records/s")
    lines.append(f"raw bulk_create of the same rows: {rate['bulk_create']:,.0f} records/s")
    print("\n== audit ingest benchmark\n  " + "\n  ".join(lines))
    expected = (BATCHES + 1) * PER_BATCH
    assert ingested.count() == expected
    assert AuditRecord.objects.filter(feature=bulk_feature).count() == expected
    assert AuditRecord.objects.filter(feature=copy_feature).count() == (expected if has_copy else 0)
    # Redaction ran: about 5% of the questions carry an email and a phone number, none is stored.
    assert redacted > expected * 0.03
    assert not ingested.filter(input__contains="@example.com").exists()
    assert not ingested.filter(input__contains="+44 20 7946").exists()
    check([ratio])
