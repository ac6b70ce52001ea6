"""Reports and eval runs: whatever the body, a 4xx naming the place, never a 5xx."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.models import EvalRun, UserReport
from incidents.services import api_token_create

REPORTS = "/api/v1/reports"
RUNS = "/api/v1/evals/runs"


@pytest.fixture
def token(db):
    return api_token_create(name="product", scopes=["reports", "evals"])[1]


def post(client, token, url, body):
    body = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


REPORT = {"feature": "support-bot", "what_user_saw": "365 days", "what_was_wrong": "It is 30 days."}
DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize("url", [REPORTS, RUNS])
@pytest.mark.parametrize(
    "body, where, reason",
    [
        ('{"feature": ' + DEEP + "}", "body", "Nested more than 64 levels deep"),
        ('{"feature": ' + "7" * 5000 + "}", "feature", "5,000 digits"),
        ('{"feature": NaN}', "feature", "not a number JSON allows"),
        ('{"feature": 1e999}', "feature", "out of range"),
        (b'{"feature": "\xff"}', "body", "Not UTF-8"),
        ('{"feature": ', "body", "Not valid JSON"),
    ],
)
def test_json_no_parser_should_attempt_is_a_400_naming_the_place(client, token, feature, url, body, where, reason):
    response = post(client, token, url, body)
    assert response.status_code == 400, response.content
    assert reason in response.json()["errors"][where][0]


@pytest.mark.parametrize("field", ["feature", "what_user_saw", "what_was_wrong", "request_id", "contact"])
@pytest.mark.parametrize("escape, reason", [("\\u0000", "NUL"), ("\\ud800", "lone UTF-16 surrogate")])
def test_unstorable_text_in_a_report_is_named(client, token, feature, field, escape, reason):
    body = json.dumps({**REPORT, field: "MARK", "contact_consent": True}).replace("MARK", f"a{escape}b")
    response = post(client, token, REPORTS, body)
    assert response.status_code == 400
    assert reason in response.json()["errors"][field][0]
    assert not UserReport.objects.exists()


@pytest.mark.parametrize(
    "run, where",
    [
        ({"case": 10**30, "trials": 10, "failures": 0}, "case"),
        ({"case": 1, "trials": 10, "failures": 10**30}, "failures"),
        ({"case": 1, "trials": 10, "failures": 0, "seeds": [10**30]}, "seeds"),
        ({"case": 1, "trials": 10, "failures": 0, "ran_at": "9999-12-31T23:00:00-05:00"}, "ran_at"),
        ({"case": 1, "trials": 10, "failures": 0, "model_version": {"v": 1}}, "model_version"),
        ({"case": [1], "trials": 10, "failures": 0}, "case"),
    ],
)
def test_an_eval_run_out_of_range_is_a_400_naming_the_field(client, token, feature, run, where):
    response = post(client, token, RUNS, {"harness": "h", "runs": [run]})
    assert response.status_code == 400, response.content
    assert where in response.json()["errors"]["runs"]["0"]
    assert not EvalRun.objects.exists()


def test_an_empty_batch_of_runs_is_refused_by_name(client, token):
    response = post(client, token, RUNS, {"harness": "h", "runs": []})
    assert response.status_code == 400 and "runs" in response.json()["errors"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=15,
)
report_like = st.fixed_dictionaries(
    {}, optional={name: json_values for name in [*REPORT, "category", "request_id", "contact", "contact_consent"]}
)
run_like = st.fixed_dictionaries(
    {},
    optional={
        "harness": json_values,
        "runs": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    name: json_values | st.integers()
                    for name in ["case", "trials", "failures", "seeds", "model_version", "ran_at"]
                },
            ),
            max_size=3,
        )
        | json_values,
    },
)


@pytest.mark.parametrize("url, shapes", [(REPORTS, report_like), (RUNS, run_like)])
def test_no_body_makes_the_endpoint_fail(client, token, feature, url, shapes):
    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=shapes.map(json.dumps) | json_values.map(json.dumps) | st.binary(max_size=60))
    def run(body):
        response = post(client, token, url, body)
        assert response.status_code in (201, 400), (response.status_code, body, response.content[:300])
        if response.status_code == 400:
            assert response.json()["errors"]

    run()
