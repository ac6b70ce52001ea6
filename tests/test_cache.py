"""config.cache.FailSafeRedisCache with nothing listening: misses and failures, never an exception."""

import logging
import time

import pytest
from django.core.cache import caches
from redis.connection import Connection

from config.cache import FailSafeRedisCache, breaker_for, reset_breakers
from tests.redis_settings import cache_settings_for, dead_redis_url


@pytest.fixture
def url():
    reset_breakers()
    yield dead_redis_url()
    reset_breakers()


def backend(url, **options):
    return FailSafeRedisCache(url, {"OPTIONS": options})


def test_settings_with_redis_url_use_the_fail_safe_backend():
    configured = cache_settings_for("redis://127.0.0.1:6399/0")
    assert configured["CACHES"]["default"]["BACKEND"] == "config.cache.FailSafeRedisCache"
    limiter = configured["CACHES"][configured["RATELIMIT_USE_CACHE"]]
    assert limiter["BACKEND"] == "config.cache.FailSafeRedisCache" and limiter["OPTIONS"]["local_fallback"]


def test_a_lost_redis_reads_as_a_miss_and_writes_report_failure(url):
    cache = backend(url)
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("k") is False
    assert cache.add("k", 1) is False
    cache.set("k", 1)
    cache.set_many({"a": 1})
    assert cache.delete("k") is False
    cache.delete_many(["a", "b"])
    assert cache.touch("k") is False
    with pytest.raises(ValueError):  # Django's "no such key", which callers of incr already handle
        cache.incr("k")


def test_after_a_failure_calls_fail_fast_until_the_cooldown_and_warn_once(url, monkeypatch, caplog):
    attempts = []
    real_connect = Connection.connect

    def counting_connect(self, *args, **kwargs):
        attempts.append(self.port)
        return real_connect(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "connect", counting_connect)
    cache = backend(url)
    with caplog.at_level(logging.WARNING, logger="config.cache"):
        cache.get("k")
        first = len(attempts)
        assert first >= 1
        started = time.monotonic()
        for _ in range(200):
            cache.get("k")
            cache.set("k", 1)
        assert time.monotonic() - started < 0.5
    assert len(attempts) == first, "calls inside the cooldown must not try to connect"
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1
    breaker = breaker_for(url)
    breaker._retry_at = 0  # the cooldown is over: one call probes again
    cache.get("k")
    assert len(attempts) > first


def test_the_rate_limit_cache_counts_in_process_while_redis_is_lost(url):
    cache = backend(url, local_fallback=True)
    assert cache.add("rl:1", 1, 60) is True
    assert cache.incr("rl:1") == 2
    assert cache.get("rl:1") == 2


def test_the_configured_caches_do_not_raise_either(settings, url):
    settings.CACHES = cache_settings_for(url)["CACHES"]
    assert caches["default"].get("fireline:ofrep:flag:x") is None
    caches["default"].delete_many(["fireline:ofrep:flag:x"])
    assert caches["ratelimit"].add("rl:x", 1) is True


def test_a_miss_is_a_new_dict_each_time(url):
    cache = backend(url)
    first = cache.get_many(["x"])
    first["x"] = "filled by a caller"
    assert cache.get_many(["x"]) == {}
