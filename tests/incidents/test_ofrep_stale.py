"""OFREP with the database lost (and no cached entry): the last state this process knew, marked STALE.

Every SQL statement fails with OperationalError through Django's own execute hook, as when PostgreSQL is
unreachable: the views run their real queries and meet a real database error.
"""

import contextlib
import json

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test import Client

from incidents.services import api_token_create, hotcache
from incidents.services.flags import killswitch_set, killswitch_set_cohort_rules
from tests.incidents.factories import AIFeatureFactory
from tests.redis_settings import forget_process_state


@pytest.fixture(autouse=True)
def fresh_state():
    cache.clear()
    forget_process_state()
    yield
    cache.clear()
    forget_process_state()


@contextlib.contextmanager
def database_lost():
    """No query reaches the database, and no cached entry answers instead (Redis lost too)."""

    def refuse(execute, sql, params, many, context):
        raise OperationalError("server closed the connection unexpectedly")

    cache.clear()
    hotcache.clear()
    with connection.execute_wrapper(refuse):
        yield


@pytest.fixture
def client():
    return Client(raise_request_exception=False)  # an unhandled error is the 500 a user would get


@pytest.fixture
def token(db):
    return api_token_create(name="product", scopes=["flags"])[1]


def evaluate(client, token, key=None, context=None):
    url = "/ofrep/v1/evaluate/flags" + (f"/{key}" if key else "")
    body = json.dumps({"context": context or {}})
    return client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_switch_held_off_stays_off_marked_stale(client, token, feature, commander):
    killswitch_set(feature=feature, is_on=False, reason="harmful answers", actor=commander)
    assert evaluate(client, token, feature.kill_switch_key).json()["value"] is False
    with database_lost():
        response = evaluate(client, token, feature.kill_switch_key, {"targetingKey": "someone-new"})
    assert response.status_code == 200
    body = response.json()
    assert body["value"] is False and body["reason"] == "STALE" and body["key"] == feature.kill_switch_key


def test_the_database_really_is_refused_in_the_test(client, token, feature):
    """Keeps the test above honest: with nothing remembered, the lost database shows."""
    with database_lost():
        response = evaluate(client, token, feature.kill_switch_key)
    assert response.status_code == 503
    assert response.json() == {
        "errorCode": "GENERAL",
        "errorDetails": "The token cannot be checked now (the database is unreachable); retry shortly.",
    }


def test_a_switch_never_read_is_an_ofrep_error_not_a_500(client, token, feature):
    other = AIFeatureFactory(key="search", name="Search")
    assert evaluate(client, token, feature.kill_switch_key).status_code == 200  # token known, flag known
    with database_lost():
        response = evaluate(client, token, other.kill_switch_key)
    assert response.status_code == 503
    assert response.json()["key"] == other.kill_switch_key and response.json()["errorCode"] == "GENERAL"


def test_a_cached_state_answers_every_context(client, token, feature, commander):
    killswitch_set_cohort_rules(
        feature=feature,
        rules=[{"attribute": "plan", "values": ["free"], "enabled": False}],
        reason="free tier misbehaves",
        actor=commander,
    )
    assert evaluate(client, token, feature.kill_switch_key, {"plan": "pro"}).json()["value"] is True
    assert evaluate(client, token, feature.kill_switch_key, {"plan": "pro"}).json()["value"] is True  # from cache
    with database_lost():
        free = evaluate(client, token, feature.kill_switch_key, {"plan": "free"})
        pro = evaluate(client, token, feature.kill_switch_key, {"plan": "pro"})
    assert free.status_code == pro.status_code == 200
    assert free.json()["value"] is False and free.json()["reason"] == "STALE"
    assert pro.json()["value"] is True and pro.json()["reason"] == "STALE"


def test_bulk_answers_what_it_knows_stale(client, token, feature, commander):
    killswitch_set(feature=feature, is_on=False, reason="harmful answers", actor=commander)
    assert evaluate(client, token).status_code == 200
    with database_lost():
        response = evaluate(client, token)
    assert response.status_code == 200
    assert response.json()["flags"] == [
        {
            "key": feature.kill_switch_key,
            "value": False,
            "reason": "STALE",
            "variant": "off",
            "metadata": response.json()["flags"][0]["metadata"],
        }
    ]
    assert "ETag" not in response


def test_a_flip_after_the_last_answer_is_not_hidden_by_an_older_state(client, token, feature, commander):
    """The newest knowledge wins: a state cached before a flip does not outvote the answer after it."""
    assert evaluate(client, token, feature.kill_switch_key).json()["value"] is True
    assert evaluate(client, token, feature.kill_switch_key).json()["value"] is True  # state remembered (cache)
    killswitch_set(feature=feature, is_on=False, reason="harmful answers", actor=commander)
    cache.clear()
    hotcache.clear()
    assert evaluate(client, token, feature.kill_switch_key).json()["value"] is False
    with database_lost():
        body = evaluate(client, token, feature.kill_switch_key).json()
    assert body["value"] is False and body["reason"] == "STALE"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="points the connection at a PostgreSQL that is not there")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_postgresql_unreachable_answers_stale_and_recovers(client, feature, commander):
    """The real thing on PostgreSQL: the server refuses connections, then comes back."""
    from tests.redis_settings import dead_redis_url

    token = api_token_create(name="product", scopes=["flags"])[1]
    killswitch_set(feature=feature, is_on=False, reason="harmful answers", actor=commander)
    assert evaluate(client, token, feature.kill_switch_key).json()["reason"] == "DISABLED"
    cache.clear()
    hotcache.clear()
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = dead_redis_url().rsplit(":", 1)[1].split("/")[0]  # a port nobody serves
    try:
        response = evaluate(client, token, feature.kill_switch_key)
        bulk = evaluate(client, token)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert response.status_code == 200
    assert response.json()["value"] is False and response.json()["reason"] == "STALE"
    assert bulk.status_code == 200 and [f["value"] for f in bulk.json()["flags"]] == [False]
    assert evaluate(client, token, feature.kill_switch_key).json()["reason"] == "DISABLED"  # back to the truth
