"""A real Redis as the cache, lost mid-run: killed and restarted, or frozen (a partition that keeps its data).

A live server answers the published OpenFeature SDK (OFREP provider) while the test flips kill switches
through the services. What a user would notice is asserted: no 5xx anywhere, a switch held off reads off
(not the SDK's default) before, during and after the outage, a flip made during the outage is seen, and
every alert and report sent during it is stored.
"""

import json
import os
import signal
import threading
import time
import uuid

import httpx
import pytest
from django.db import connection
from django.test import Client

from incidents.models import AlertPayload, UserReport
from incidents.services import api_token_create
from incidents.services.flags import flag_cache_key, killswitch_set
from tests.incidents.api.test_alerts import firing
from tests.incidents.services.test_reports import form_data
from tests.integration.harness import wait_for
from tests.redis_settings import forget_process_state, use_redis

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def redis_cache(redis_server, settings):
    """The Django cache and hotcache on this test's own redis-server (started; the test stops it)."""
    use_redis(settings, redis_server.url)
    settings.RATELIMIT_CACHE_PREFIX = f"rl-test-{uuid.uuid4().hex}:"
    try:
        yield redis_server
    finally:
        if redis_server.proc is not None:
            os.kill(redis_server.proc.pid, signal.SIGCONT)  # a frozen Redis would not hear SIGTERM
        forget_process_state()


class Product:
    """The AI product: reads its kill switch through the OpenFeature SDK, sends alerts and reports."""

    def __init__(self, base_url: str, feature):
        from openfeature import api
        from openfeature.contrib.provider.ofrep import OFREPProvider

        self.base_url = base_url
        self.feature = feature
        self.flags = api_token_create(name="product", scopes=["flags"])[1]
        self.alerts = api_token_create(name="alertmanager", scopes=["alerts"])[1]
        self.dashboard = api_token_create(name="dashboard", scopes=["incidents"])[1]
        api.set_provider(OFREPProvider(base_url, headers_factory=lambda: {"Authorization": f"Bearer {self.flags}"}))
        self.client = api.get_client()
        self.web = Client(raise_request_exception=False)  # an unhandled error is the 500 a user would get
        self.sent_alerts = 0
        self.sent_reports = 0

    def switch(self) -> bool:
        """The switch as the product reads it; True (on) is the default a failed read would fall back to."""
        from openfeature.evaluation_context import EvaluationContext

        details = self.client.get_boolean_details(
            self.feature.kill_switch_key, True, EvaluationContext(targeting_key=f"user-{uuid.uuid4().hex[:6]}")
        )
        assert details.reason != "ERROR", f"the SDK fell back to its default: {details.error_message}"
        return details.value

    def statuses(self) -> dict[str, int]:
        """Every path the outage took down, once each; returns their status codes."""
        auth = {"Authorization": f"Bearer {self.flags}"}
        body = {"context": {"targetingKey": "user-1"}}
        codes = {
            "ofrep single": httpx.post(
                f"{self.base_url}/ofrep/v1/evaluate/flags/{self.feature.kill_switch_key}", json=body, headers=auth
            ).status_code,
            "ofrep bulk": httpx.post(f"{self.base_url}/ofrep/v1/evaluate/flags", json=body, headers=auth).status_code,
            "api incidents": self.web.get(
                "/api/v1/incidents", HTTP_AUTHORIZATION=f"Bearer {self.dashboard}"
            ).status_code,
        }
        self.sent_alerts += 1
        codes["alert intake"] = self.web.post(
            "/api/v1/alerts/alertmanager",
            json.dumps(firing(f"outage-{self.sent_alerts}")),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.alerts}",
        ).status_code
        self.sent_reports += 1
        codes["report form"] = self.web.post("/report/", form_data(self.feature)).status_code
        return codes

    def close(self):
        from openfeature import api

        api.shutdown()


@pytest.fixture
def product(live_server, redis_cache, feature):
    product = Product(live_server.url, feature)
    try:
        yield product
    finally:
        product.close()


EXPECTED = {"ofrep single": 200, "ofrep bulk": 200, "api incidents": 200, "alert intake": 202, "report form": 302}


def cached_in_redis(redis_server, flag_key: str) -> bool:
    return bool(redis_server.client().keys(f"*{flag_cache_key(flag_key)}"))


def test_redis_killed_and_restarted_keeps_switches_off_and_loses_nothing(product, redis_cache, feature, commander):
    killswitch_set(feature=feature, is_on=False, reason="harmful answers", actor=commander)
    assert product.switch() is False
    assert product.statuses() == EXPECTED
    assert wait_for(lambda: cached_in_redis(redis_cache, feature.kill_switch_key), 5), "the cache was not in use"

    redis_cache.stop()
    started = time.monotonic()
    for _ in range(5):
        assert product.switch() is False
    assert time.monotonic() - started < 5, "a dead Redis must not cost a timeout per read"
    assert product.statuses() == EXPECTED
    killswitch_set(feature=feature, is_on=True, reason="fixed; turning it back on", actor=commander)
    assert product.switch() is True, "a flip during the outage is seen at once"
    killswitch_set(feature=feature, is_on=False, reason="it happened again", actor=commander)
    assert product.switch() is False
    assert product.statuses() == EXPECTED

    redis_cache.start()  # same port, empty
    assert product.switch() is False
    assert product.statuses() == EXPECTED
    assert wait_for(lambda: product.switch() is False and cached_in_redis(redis_cache, feature.kill_switch_key), 10), (
        "the cache is not used again after Redis came back"
    )
    killswitch_set(feature=feature, is_on=True, reason="fixed for good", actor=commander)
    assert product.switch() is True, "a flip after the outage is seen at once (the cached copy was dropped)"

    assert AlertPayload.objects.count() == product.sent_alerts
    assert UserReport.objects.count() == product.sent_reports


def test_a_flip_while_redis_is_frozen_is_not_undone_by_its_old_entry(product, redis_cache, feature, commander):
    """A partition: Redis keeps its data but cannot be reached. The entry from before the flip must go."""
    assert product.switch() is True
    assert wait_for(lambda: cached_in_redis(redis_cache, feature.kill_switch_key), 5)
    assert product.switch() is True  # served from the cache
    redis = redis_cache.client()
    [key] = redis.keys(f"*{flag_cache_key(feature.kill_switch_key)}")
    before_the_flip = redis.dump(key)

    os.kill(redis_cache.proc.pid, signal.SIGSTOP)
    try:
        killswitch_set(feature=feature, is_on=False, reason="harmful answers", actor=commander)
        assert product.switch() is False
        assert product.statuses() == EXPECTED
    finally:
        os.kill(redis_cache.proc.pid, signal.SIGCONT)
    # A frozen Redis still runs the DEL that was written to its socket once it thaws; across a real
    # partition that DEL is lost. Put the entry from before the flip back, as the partition leaves it.
    redis.restore(key, 10_000, before_the_flip, replace=True)

    deadline = time.monotonic() + 6  # past the breaker's cooldown, so the cache is used again
    while time.monotonic() < deadline:
        assert product.switch() is False, "the entry from before the flip was served after Redis came back"
        time.sleep(0.2)
    assert product.statuses() == EXPECTED
    assert redis.dump(key) != before_the_flip


def test_local_copies_are_not_served_once_the_shared_cache_is_lost(redis_cache):
    """A process that cannot reach Redis cannot hear invalidations either: its local copies must not answer."""
    from django.core.cache import cache

    from incidents.services import hotcache

    key = f"fireline:test:hotcache:{uuid.uuid4().hex}"
    hotcache.get(key)
    assert hotcache._live.wait(5), "the invalidation subscriber did not subscribe"
    cache.set(key, "before")
    assert hotcache.get(key) == "before"  # now held in this process too
    os.kill(redis_cache.proc.pid, signal.SIGSTOP)  # the subscriber's connection stays up: nothing tells it
    try:
        assert cache.get("fireline:test:anything") is None  # one call meets the lost Redis
        assert hotcache.get(key) is None, "a local copy was served while Redis was lost"
    finally:
        os.kill(redis_cache.proc.pid, signal.SIGCONT)


def test_an_invalidation_not_published_during_the_outage_is_published_when_redis_is_back(redis_cache, monkeypatch):
    from django.core.cache import cache

    from incidents.services import hotcache

    published = []
    real_publish = hotcache._publish

    def recording_publish(url, keys):
        sent = real_publish(url, keys)
        published.append((set(keys), sent))
        return sent

    monkeypatch.setattr(hotcache, "_publish", recording_publish)
    key = f"fireline:test:hotcache:{uuid.uuid4().hex}"
    hotcache.get(key)
    assert hotcache._live.wait(5)
    redis_cache.stop()
    cache.delete(key)  # fails: the cache adapter remembers it
    hotcache.invalidate([key])  # cannot be published now
    assert not any(sent for _, sent in published)
    redis_cache.start()
    assert wait_for(lambda: any(key in keys and sent for keys, sent in published), 10), published


def test_a_delete_owed_to_a_frozen_redis_is_made_when_it_thaws_without_waiting_for_a_request(redis_cache):
    from django.core.cache import cache

    from incidents.services import hotcache

    key = f"fireline:test:owed:{uuid.uuid4().hex}"  # under no cleared prefix: only the owed delete removes it
    hotcache.get(key)
    assert hotcache._live.wait(5)
    cache.set(key, "before", 60)
    redis = redis_cache.client()
    [made_key] = redis.keys(f"*{key}")
    before = redis.dump(made_key)
    os.kill(redis_cache.proc.pid, signal.SIGSTOP)
    try:
        assert cache.delete(key) is False  # reported, not raised
    finally:
        os.kill(redis_cache.proc.pid, signal.SIGCONT)
    redis.restore(made_key, 60_000, before, replace=True)  # across a partition the DEL never arrives
    assert wait_for(lambda: not redis.exists(made_key), 10), "the delete owed since the outage was not made"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="gunicorn's workers share the test database")
def test_two_gunicorn_workers_keep_a_flip_made_while_redis_is_frozen(redis_cache, feature, commander, monkeypatch):
    """Production's shape: web processes with local copies, the flip made in another process (the admin's)."""
    from tests.perf.servers import gunicorn_server

    monkeypatch.setenv("REDIS_URL", redis_cache.url)
    with gunicorn_server(workers=2) as base_url:
        product = Product(base_url, feature)
        try:
            assert [product.switch() for _ in range(10)] == [True] * 10  # cached in Redis and in both workers
            redis = redis_cache.client()
            [key] = redis.keys(f"*{flag_cache_key(feature.kill_switch_key)}")
            before_the_flip = redis.dump(key)

            os.kill(redis_cache.proc.pid, signal.SIGSTOP)
            try:
                killswitch_set(feature=feature, is_on=False, reason="harmful answers", actor=commander)
                flipped = time.monotonic()
                # No process can be told while Redis is frozen; a worker stops trusting its local copy as
                # soon as Redis stops answering it (a few seconds at most), then reads the database.
                assert wait_for(lambda: [product.switch() for _ in range(6)] == [False] * 6, 8)
                seen_after = time.monotonic() - flipped
                # The DEL lost in the partition: the old entry is put back, queued before the thaw so that
                # Redis runs it before anything a worker sends once it answers again (a restore sent after
                # the thaw could land after a worker's catch-up and test nothing Fireline does).
                restoring = threading.Thread(
                    target=redis.restore, args=(key, 10_000, before_the_flip), kwargs={"replace": True}
                )
                restoring.start()
                time.sleep(0.3)
            finally:
                os.kill(redis_cache.proc.pid, signal.SIGCONT)
            restoring.join(timeout=10)
            assert not restoring.is_alive()

            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                assert product.switch() is False, "a worker served the entry from before the flip"
                time.sleep(0.1)
            killswitch_set(feature=feature, is_on=True, reason="fixed", actor=commander)
            assert wait_for(lambda: [product.switch() for _ in range(6)] == [True] * 6, 2), "invalidation is back"
        finally:
            product.close()
    assert seen_after < 8


def test_an_error_that_is_the_callers_during_a_probe_does_not_leave_the_cache_off(redis_cache):
    """incr of a missing key is a ValueError from a Redis that answered: the cache is back, not lost for good."""
    from django.core.cache import cache

    from config.cache import breaker_for

    breaker = breaker_for(redis_cache.url)
    breaker.lose("a test", probe_now=True)
    with pytest.raises(ValueError):
        cache.incr(f"fireline:test:missing:{uuid.uuid4().hex}")
    assert not breaker.is_lost
    cache.set("fireline:test:back", "yes")
    assert cache.get("fireline:test:back") == "yes"


def test_whichever_cache_calls_first_after_an_outage_clears_the_kill_switch_entries(redis_cache):
    """The rate-limit cache (the report form) may be the first to reach Redis again: it clears them too."""
    from django.core.cache import caches

    from config.cache import breaker_for

    caches["default"].set(flag_cache_key("from-before"), {"stale": True}, 60)
    breaker_for(redis_cache.url).lose("a test", probe_now=True)
    assert caches["ratelimit"].add(f"rl:{uuid.uuid4().hex}", 1, 60) is True  # the first call after the outage
    assert caches["default"].get(flag_cache_key("from-before")) is None
