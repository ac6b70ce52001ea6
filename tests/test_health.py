"""/healthz and /readyz: JSON, no login, no secrets; a lost dependency is a 503 that names it, never a 500."""

from datetime import timedelta

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from config import health
from incidents.constants import Channel
from incidents.models import Notification
from tests.integration.fixtures import redis_server  # noqa: F401 - a Redis this test owns
from tests.integration.harness import CeleryPublisher
from tests.redis_settings import dead_redis_url, forget_process_state, use_redis


@pytest.fixture(autouse=True)
def _fresh_migration_check(monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)


@pytest.fixture
def production_like(settings):
    """Production's refusals in force: a Host outside ALLOWED_HOSTS is refused, plain HTTP is redirected."""
    settings.ALLOWED_HOSTS = ["fireline.example.com"]
    settings.SECURE_SSL_REDIRECT = True


def test_healthz_answers_without_login_host_or_https(client, production_like):
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_reports_every_check_when_all_hold(client, db, production_like):
    response = client.get("/readyz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["failed"] == []
    assert set(body["checks"]) == {"database", "migrations", "cache", "broker", "outbox"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_names_a_lost_redis_and_answers_503(client, db, settings):
    url = dead_redis_url()
    use_redis(settings, url)
    try:
        response = client.get("/readyz")
    finally:
        forget_process_state()
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["cache"] and body["status"] == "fail"
    assert body["checks"]["cache"]["error"] == "ConnectionError"
    assert url.split("//")[1] not in response.content.decode()  # no host, port or URL in the answer


def test_readyz_names_a_lost_broker_and_answers_503(client, db):
    from config.celery import app

    publisher = CeleryPublisher(app)
    url = "redis://:s3cret-broker-password@" + dead_redis_url().split("//")[1]
    publisher.point_at(url)
    try:
        response = client.get("/readyz")
    finally:
        publisher.undo()
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker"]
    assert "s3cret" not in response.content.decode()


def test_readyz_follows_redis_as_it_goes_and_comes_back(client, db, settings, redis_server):  # noqa: F811
    use_redis(settings, redis_server.url)
    try:
        assert client.get("/readyz").json()["checks"]["cache"] == {
            "ok": True,
            "backend": "redis",
            "ms": pytest.approx(0, abs=1000),
        }
        redis_server.stop()
        down = client.get("/readyz")
        assert down.status_code == 503 and down.json()["failed"] == ["cache"]
        redis_server.start()
        assert client.get("/readyz").status_code == 200
    finally:
        forget_process_state()


def test_readyz_fails_when_the_outbox_lags_past_the_threshold(client, db, settings):
    settings.FIRELINE_READY_OUTBOX_LAG_SECONDS = 120
    Notification.objects.create(
        channel=Channel.EMAIL,
        recipient="oncall@example.com",
        subject="SEV1",
        body="paged",
        dedup_key="lagging",
        next_attempt_at=timezone.now() - timedelta(minutes=5),
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["outbox"]
    assert body["checks"]["outbox"]["lag_seconds"] >= 300 and body["checks"]["outbox"]["threshold_seconds"] == 120


def test_a_notification_waiting_for_its_retry_time_is_not_lag(client, db, settings):
    settings.FIRELINE_READY_OUTBOX_LAG_SECONDS = 120
    Notification.objects.create(
        channel=Channel.EMAIL,
        recipient="oncall@example.com",
        subject="SEV1",
        body="paged",
        dedup_key="backing-off",
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    assert client.get("/readyz").status_code == 200


def test_readyz_fails_while_a_migration_is_not_applied(client, db):
    MigrationRecorder.Migration.objects.filter(app="incidents").order_by("-id").first().delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["migrations"] and body["checks"]["migrations"]["unapplied"] == 1
