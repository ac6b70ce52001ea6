"""Whatever a monitor (or an attacker) sends the intake endpoints, the answer is never a 5xx."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.services import api_token_create

# Any text, lone UTF-16 surrogates included: JSON escapes them (\ud800) and a monitor may send one.
any_text = st.text(alphabet=st.characters(exclude_categories=[]), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
# Payloads shaped like the real ones, with every field liable to be wrong.
alert_like = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["firing", "resolved", "bogus", 3]) | json_values,
        "labels": st.dictionaries(
            st.sampled_from(["alertname", "ai_feature", "signal", "x", "lone \ud800", "\udfff"]) | any_text,
            st.text(max_size=20) | json_values,
            max_size=4,
        ),
        "annotations": st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=3) | json_values,
        "startsAt": st.sampled_from(["2026-11-29T22:00:00Z", "0001-01-01T00:00:00Z", "yesterday", ""]) | json_values,
        "endsAt": st.text(max_size=25),
        "fingerprint": st.text(max_size=300) | json_values,
        "generatorURL": st.text(max_size=50),
        "name": st.text(max_size=50) | json_values,
    },
)
payloads = (
    st.fixed_dictionaries(
        {},
        optional={
            "version": st.sampled_from(["4", "1", 4]) | json_values,
            "groupKey": st.text(max_size=600) | json_values,
            "commonLabels": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3) | json_values,
            "alerts": st.lists(alert_like, max_size=4) | json_values,
            "truncatedAlerts": st.integers() | json_values,
            "name": st.text(max_size=30),
            "labels": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
        },
    )
    | json_values
)


@pytest.fixture
def token(db):
    return api_token_create(name="fuzz", scopes=["alerts"])[1]


@pytest.mark.parametrize("kind", ["alertmanager", "grafana", "generic"])
def test_no_payload_makes_the_intake_fail(client, token, feature, kind):
    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(payload=payloads)
    def run(payload):
        response = client.post(
            f"/api/v1/alerts/{kind}",
            data=json.dumps(payload),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code in (202, 400), (response.status_code, payload, response.content[:300])
        assert response["Content-Type"] == "application/json"

    run()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300))
def test_raw_bytes_never_make_a_5xx(client, token, body):
    response = client.post(
        "/api/v1/alerts/alertmanager", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code in (400, 415)  # the test client drops the content type of an empty body
