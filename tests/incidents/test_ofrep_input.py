"""Whatever a client sends the OFREP endpoints, the answer is OFREP's error shape or an evaluation, never a 5xx."""

import json

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.services import api_token_create, hotcache


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    hotcache.clear()
    yield
    cache.clear()
    hotcache.clear()


@pytest.fixture
def flags_token(db):
    return api_token_create(name="product", scopes=["flags"])[1]


def post(client, token, path, body):
    return client.post(path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.parametrize("key", ["%00", "%ED%A0%80", "a%00b", "x" * 300, "Support-Bot", "%F0%9F%98%80", ".hidden"])
def test_a_key_no_switch_can_have_is_flag_not_found(client, flags_token, feature, key):
    response = post(client, flags_token, f"/ofrep/v1/evaluate/flags/{key}", '{"context": {}}')
    assert response.status_code == 404
    assert response.json()["errorCode"] == "FLAG_NOT_FOUND"


def test_an_odd_key_still_needs_a_token(client, feature):
    response = client.post("/ofrep/v1/evaluate/flags/%00", data="{}", content_type="application/json")
    assert response.status_code == 401


DEEP = '{"context": {"plan": ' + "[" * 1000 + "]" * 1000 + "}}"


@pytest.mark.parametrize(
    "body, code, where",
    [
        (DEEP, "PARSE_ERROR", "Nested more than 64 levels deep"),
        ('{"context": {"plan": ' + "7" * 5000 + "}}", "INVALID_CONTEXT", "context.plan"),
        ('{"context": {"plan": "free\\u0000"}}', "INVALID_CONTEXT", "context.plan"),
        ('{"context": {"pl\\ud800an": "free"}}', "INVALID_CONTEXT", "context"),
        ('{"context": {"plan": NaN}}', "INVALID_CONTEXT", "context.plan"),
        (b'{"context": {"plan": "\xff"}}', "PARSE_ERROR", "Not UTF-8"),
    ],
)
@pytest.mark.parametrize("path", ["/ofrep/v1/evaluate/flags/{key}", "/ofrep/v1/evaluate/flags"])
def test_a_body_that_cannot_be_read_is_a_400_in_ofreps_shape(client, flags_token, feature, body, code, where, path):
    response = post(client, flags_token, path.format(key=feature.kill_switch_key), body)
    assert response.status_code == 400, response.content
    assert response.json()["errorCode"] == code and where in response.json()["errorDetails"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=15,
)


@pytest.mark.parametrize("path", ["/ofrep/v1/evaluate/flags/{key}", "/ofrep/v1/evaluate/flags"])
def test_no_body_makes_the_kill_switch_fail(client, flags_token, feature, path):
    url = path.format(key=feature.kill_switch_key)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        body=st.binary(max_size=60)
        | json_values.map(json.dumps)
        | json_values.map(lambda c: json.dumps({"context": c}))
    )
    def run(body):
        response = post(client, flags_token, url, body)
        assert response.status_code in (200, 304, 400), (response.status_code, body, response.content[:300])
        if response.status_code == 400:
            assert response.json()["errorCode"] in ("PARSE_ERROR", "INVALID_CONTEXT")

    run()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.text(min_size=1, max_size=30))
def test_no_key_makes_the_kill_switch_fail(client, flags_token, key):
    from urllib.parse import quote

    response = post(client, flags_token, "/ofrep/v1/evaluate/flags/" + quote(key, safe=""), "{}")
    assert response.status_code in (404, 405), (key, response.status_code, response.content[:300])
