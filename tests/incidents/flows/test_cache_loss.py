"""Redis lost (nothing listening where REDIS_URL points): every path answers from the database, none 500s.

The cache is configured as config/settings.py configures it for a REDIS_URL (tests/redis_settings.py).
"""

import json
import uuid

import pytest
from django.test import Client

from incidents.models import Alert, AlertPayload, UserReport
from incidents.services import api_token_create
from incidents.services.flags import killswitch_set
from tests.audit.trail.test_ingest import record as audit_record
from tests.incidents.api.test_alerts import firing
from tests.incidents.services.test_reports import form_data
from tests.redis_settings import dead_redis_url, forget_process_state, use_redis

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def redis_lost(settings):
    use_redis(settings, dead_redis_url())
    settings.RATELIMIT_CACHE_PREFIX = f"rl-test-{uuid.uuid4().hex}:"
    yield
    forget_process_state()


@pytest.fixture
def client():
    return Client(raise_request_exception=False)  # a crash is the 500 a user would get


def ofrep(client, token, key=None, context=None):
    url = "/ofrep/v1/evaluate/flags" + (f"/{key}" if key else "")
    body = json.dumps({"context": context or {}})
    return client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_kill_switch_held_off_reads_off_single_and_bulk(client, feature, commander):
    token = api_token_create(name="product", scopes=["flags"])[1]
    killswitch_set(feature=feature, is_on=False, reason="harmful answers", actor=commander)
    single = ofrep(client, token, feature.kill_switch_key)
    assert single.status_code == 200
    assert single.json()["value"] is False and single.json()["reason"] == "DISABLED"
    bulk = ofrep(client, token)
    assert bulk.status_code == 200
    assert {f["key"]: f["value"] for f in bulk.json()["flags"]} == {feature.kill_switch_key: False}


def test_a_flip_while_redis_is_lost_is_seen_at_once(client, feature, commander, django_capture_on_commit_callbacks):
    token = api_token_create(name="product", scopes=["flags"])[1]
    assert ofrep(client, token, feature.kill_switch_key).json()["value"] is True
    with django_capture_on_commit_callbacks(execute=True):
        killswitch_set(feature=feature, is_on=False, reason="harmful answers", actor=commander)
    assert ofrep(client, token, feature.kill_switch_key).json()["value"] is False


def test_token_checks_fall_back_to_the_database(client, feature):
    flags = api_token_create(name="product", scopes=["flags"])[1]
    assert ofrep(client, "not-a-token", feature.kill_switch_key).status_code == 401
    assert ofrep(client, flags, feature.kill_switch_key).status_code == 200
    incidents = api_token_create(name="dashboard", scopes=["incidents"])[1]
    response = client.get("/api/v1/incidents", HTTP_AUTHORIZATION=f"Bearer {incidents}")
    assert response.status_code == 200
    assert client.get("/api/v1/incidents", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401


def test_alert_intake_stores_and_opens_incidents(client, feature):
    token = api_token_create(name="alertmanager", scopes=["alerts"])[1]
    for fingerprint in ("lost-1", "lost-2"):
        response = client.post(
            "/api/v1/alerts/alertmanager",
            json.dumps(firing(fingerprint)),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 202, response.content
    assert AlertPayload.objects.count() == 2 and Alert.objects.count() == 2


def test_the_report_form_still_takes_reports_and_still_limits(client, feature, settings):
    settings.FIRELINE_REPORT_FORM_RATE = "3/m"
    answers = [client.post("/report/", form_data(feature)).status_code for _ in range(4)]
    assert answers == [302, 302, 302, 429], "counted in this process while Redis is lost: limited, not open"
    assert UserReport.objects.count() == 3


def test_the_admin_works(client, superuser, feature):
    login = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "correct-horse-battery"})
    assert login.status_code == 302 and login.url == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/incidents/killswitch/").status_code == 200


def test_audit_ingest_stores_records(client, feature):
    token = api_token_create(name="product", scopes=["audit"])[1]
    response = client.post(
        "/api/v1/audit/records",
        json.dumps(audit_record(1)),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1
