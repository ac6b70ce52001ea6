"""Logs: the JSON and text formatters carry the context and write nothing secret or personal.

A whole run's logs are grepped in tests/fleet/test_logs_of_a_demo_run.py (PostgreSQL).
"""

import io
import json
import logging

from config.logging import ContextFilter, FirelineJsonFormatter, RedactingFormatter, incident_var, redact


def test_the_formatters_redact_emails_tokens_and_passwords_in_urls():
    text = redact(
        "sent to ana@example.com; Authorization: Bearer abc.def-123; broker amqp://guest:s3cret@rabbit:5672//;"
        " GET /ack/Zm9vYmFy/ and /contacts/verify/tok-en/; password=hunter2 token: 'xyz'"
    )
    for secret in ("ana@example.com", "abc.def-123", "s3cret", "Zm9vYmFy", "tok-en", "hunter2", "xyz"):
        assert secret not in text
    assert "amqp://[redacted]@rabbit:5672//" in text and "/ack/[token]/" in text


def test_a_json_line_carries_the_context_and_leaves_the_record_unchanged():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(FirelineJsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("fireline.test.logs")
    # whatever an earlier test's logging setup left (a worker configures logging in-process): this logger speaks
    was = (logger.level, logger.disabled, logging.root.manager.disable)
    logger.setLevel(logging.DEBUG)
    logger.disabled = False
    logging.disable(logging.NOTSET)
    logger.addHandler(handler)
    logger.propagate = False
    token = incident_var.set("INC-7")
    try:
        record_seen = []
        logger.addFilter(lambda record: record_seen.append(record) or True)
        logger.warning("paged %s", "ana@example.com")
    finally:
        incident_var.reset(token)
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(was[0])
        logger.disabled = was[1]
        logging.disable(was[2])
    line = json.loads(stream.getvalue())
    assert line["message"] == "paged [email]" and line["incident"] == "INC-7" and line["level"] == "WARNING"
    assert record_seen[0].getMessage() == "paged ana@example.com"  # other handlers (pytest's) see it as it was
    assert RedactingFormatter("%(message)s").format(record_seen[0]) == "paged [email]"
