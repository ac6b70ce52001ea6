"""The API against its own OpenAPI schema: schemathesis generates requests from /api/schema/ (valid and
invalid ones) and checks every answer: no 5xx, only documented status codes, bodies and content types
that match the schema, valid requests accepted and invalid ones refused.

Bounded (EXAMPLES examples per operation and mode, in-process through the WSGI app, about 300 cases)
and slow enough that it runs in the PostgreSQL pass only, where the database is the one production uses.
"""

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.generation import GenerationMode

from config.json_input import flatten
from incidents.services import api_token_create

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="slow property tests run in the PostgreSQL pass"
)

# A deeper, random exploration: FIRELINE_SCHEMA_EXAMPLES=300 (CI keeps the bounded, repeatable default).
EXAMPLES = int(os.environ.get("FIRELINE_SCHEMA_EXAMPLES", "15"))
OPERATIONS = [
    "POST /api/v1/alerts/alertmanager",
    "POST /api/v1/alerts/grafana",
    "POST /api/v1/alerts/generic",
    "POST /api/v1/audit/records",
    "GET /api/v1/evals/cases",
    "POST /api/v1/evals/runs",
    "GET /api/v1/incidents",
    "POST /api/v1/incidents",
    "GET /api/v1/incidents/{id}",
    "PATCH /api/v1/incidents/{id}",
    "GET /api/v1/incidents/{id}/transitions",
    "POST /api/v1/incidents/{id}/transitions/{name}",
    "POST /api/v1/incidents/{id}/notes",
    "POST /api/v1/incidents/{id}/containment",
    "POST /api/v1/incidents/{id}/containment/{action_id}/lift",
    "POST /api/v1/incidents/{id}/pages/{page_id}/acknowledge",
    "POST /api/v1/incidents/{id}/communications",
    "POST /api/v1/incidents/{id}/postmortem",
    "GET /api/v1/incidents/{id}/communications/{comm_id}",
    "PATCH /api/v1/incidents/{id}/communications/{comm_id}",
    "POST /api/v1/incidents/{id}/communications/{comm_id}/actions/{action}",
    "GET /api/v1/incidents/{id}/postmortem",
    "PATCH /api/v1/incidents/{id}/postmortem",
    "POST /api/v1/incidents/{id}/postmortem/actions/{action}",
    "POST /api/v1/incidents/{id}/findings",
    "POST /api/v1/incidents/{id}/evidence",
    "POST /api/v1/incidents/{id}/action-items",
    "POST /api/v1/incidents/{id}/action-items/{item_id}/actions/{action}",
    "POST /api/v1/incidents/{id}/reportability-decisions",
    "POST /api/v1/incidents/{id}/obligations/{obligation_id}/submission",
    "POST /api/v1/reports",
]

# Alert batches are read alert by alert: an alert that breaks the schema is refused (listed under
# `refused` in the 202) and the others are processed, so an invalid batch need not be a 4xx.
READ_PER_ALERT = {"POST /api/v1/alerts/alertmanager", "POST /api/v1/alerts/grafana", "POST /api/v1/alerts/generic"}
# A well-formed reference to a row that does not exist (the generator cannot know the feature keys or
# eval case ids) is a 400 naming that field, and only that field.
REFERENCES = {
    "POST /api/v1/audit/records": {"feature"},
    "POST /api/v1/reports": {"feature"},
    "POST /api/v1/evals/runs": {"case"},
    "GET /api/v1/incidents": {"feature"},
    "POST /api/v1/incidents": {"feature", "commander"},
    "PATCH /api/v1/incidents/{id}": {"commander", "members"},
    "POST /api/v1/incidents/{id}/transitions/{name}": {"owner", "duplicate_of"},
    "POST /api/v1/incidents/{id}/containment": {"approved_by"},
    "POST /api/v1/incidents/{id}/action-items": {"owner"},
    "POST /api/v1/incidents/{id}/reportability-decisions": {"regimes"},
}

UNSAYABLE = (
    "may not be blank",
    "cannot be stored",
    "not valid Unicode",
    "Required: a non-empty string",
    "Cannot exceed trials",  # failures <= trials
    "in the future",  # an audit record stamped over a day ahead of the server's clock
    "Consent is needed",  # a contact needs contact_consent
    "cannot be edited",  # a PATCH names only the fields it may change; the schema lists them, not the rest
    "at least one field",  # an empty PATCH
    "needs a reason",  # a severity override without its reason, a step that needs one
    "Say why",
    "Required for",  # each containment type's own parameters
    "takes no",
    "Enter a valid URL",  # Django's URL check (a host with a dot, a known scheme) is stricter than format: uri
)


@pytest.fixture
def api_schema(db):
    # The requests run inside the test's transaction, as the test client's do: keep the WSGI handler
    # from closing that connection at the end of each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, feature, superuser):
    # Acting for a person, so the writes run (a token without a user would only ever get 403 there).
    scopes = ["alerts", "reports", "audit", "evals", "flags", "incidents"]
    return api_token_create(name="schema", scopes=scopes, user=superuser)[1]


def test_every_operation_is_covered(api_schema):
    labels = sorted(result.ok().label for result in api_schema.get_all_operations())
    assert labels == sorted(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("label", OPERATIONS)
def test_every_operation_answers_as_documented(api_schema, token, label, mode):
    operation = api_schema.find_operation_by_label(label)
    headers = {"Authorization": f"Bearer {token}"}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize="FIRELINE_SCHEMA_EXAMPLES" not in os.environ,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        if not api_schema.is_security_param_negated(case):  # a case without the token checks the 401
            case.headers = {**(case.headers or {}), **headers}
        excluded = []
        if mode == GenerationMode.POSITIVE:
            excluded.append(positive_data_acceptance)  # checked below, with what the schema cannot say
        if mode == GenerationMode.NEGATIVE:
            # checked below: a 413 (a body over the size limit, refused before it is read) is a rejection too,
            # which schemathesis's own check does not count
            excluded.append(negative_data_rejection)
        response = case.call_and_validate(excluded_checks=excluded)
        if mode == GenerationMode.NEGATIVE and label not in READ_PER_ALERT:
            assert 400 <= response.status_code < 500, (label, response.status_code, response.text[:300])
        if mode == GenerationMode.POSITIVE and response.status_code == 400:
            # What JSON Schema cannot say: text that is only spaces or holds NUL or a lone surrogate, and
            # rules across fields or against the clock.
            errors = response.json()["errors"]
            unsaid = [
                (path, reason)
                for path, reason in flatten(errors)
                if path.split("[")[0].split(".")[-1] not in REFERENCES.get(label, ())
                and not any(words in reason for words in UNSAYABLE)
            ]
            assert not unsaid, (label, errors)
        if mode == GenerationMode.NEGATIVE and label in READ_PER_ALERT and response.status_code == 202:
            assert response.json()["refused"], (label, case.body)

    run()
