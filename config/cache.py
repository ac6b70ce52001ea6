"""The shared cache (Redis) behind one adapter that never raises: Redis is an accelerator, PostgreSQL the truth.

`FailSafeRedisCache` is Django's RedisCache with these differences, so losing Redis costs speed, never
an answer (DESIGN.md, "Fail safe, never open"):

- A read that cannot reach Redis is a miss (the caller reads the database); a write or delete that
  cannot reach Redis reports failure (`add` is False, `delete` is False) instead of raising.
- Short socket timeouts and a circuit breaker per Redis server: after a failure, calls fail fast (no
  connect attempt) for COOLDOWN_SECONDS; then one call at a time probes. A dead Redis costs one short
  timeout per cooldown, not one per call. One warning when Redis is lost and one line when it is back.
- A delete that failed is remembered in this process. Before the first call after Redis
  answers again, the remembered keys are deleted, and so is every key under the prefixes named in
  OPTIONS["clear_on_recovery"]: a flip made during the outage was not written to Redis, and an entry
  from before it (Redis kept its data through a partition) must not be served once Redis is back.
- With OPTIONS["local_fallback"] (the rate-limit cache), calls answer from an in-process store while
  Redis is down: counters stay per process instead of shared, instead of no limit at all.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

logger = logging.getLogger(__name__)

COOLDOWN_SECONDS = 2.0
FAILURES = (RedisError, OSError)
PENDING_LIMIT = 10_000  # remembered failed deletes; past this, recovery clears the prefixes only


class Breaker:
    """The state of one Redis server as this process sees it: reachable, or lost until a probe succeeds."""

    def __init__(self, location: str, cooldown: float = COOLDOWN_SECONDS):
        self.location = location
        self.cooldown = cooldown
        self.is_lost = False
        self._retry_at = 0.0
        self._probing = False
        self._lock = threading.Lock()
        self.pending: set[str] = set()  # made keys whose delete (or write) did not reach Redis
        self.lost_count = 0

    def allow(self) -> bool:
        """True when a call may go to Redis: always while reachable, one probe per cooldown while lost."""
        if not self.is_lost:
            return True
        with self._lock:
            if self._probing or time.monotonic() < self._retry_at:
                return False
            self._probing = True
            return True

    def lose(self, reason: object = None, *, probe_now: bool = False) -> None:
        with self._lock:
            newly = not self.is_lost
            self.is_lost = True
            self._probing = False
            self._retry_at = time.monotonic() + (0 if probe_now else self.cooldown)
            if newly:
                self.lost_count += 1
        if newly:
            logger.warning(
                "Redis at %s is unreachable (%s): the cache answers misses and the database answers instead; "
                "probing every %.0f s",
                self.location,
                reason,
                self.cooldown,
            )

    def recovered(self) -> None:
        if not self.is_lost and not self._probing:
            return  # the hot path: no lock while Redis answers
        with self._lock:
            was_lost = self.is_lost
            self.is_lost = False
            self._probing = False
        if was_lost:
            logger.warning("Redis at %s answers again: the cache is back in use", self.location)

    def remember(self, keys) -> None:
        if not keys:
            return
        with self._lock:
            if len(self.pending) < PENDING_LIMIT:
                self.pending.update(keys)
                return
        logger.warning("Redis at %s: over %d deletes owed; %s will not be retried", self.location, PENDING_LIMIT, keys)

    def take_pending(self) -> set[str]:
        with self._lock:
            pending, self.pending = self.pending, set()
            return pending


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()
# Key patterns to clear when a server is back, from every cache on it: whichever cache (the default or
# the rate-limit one) makes the first call after an outage does the clearing for all of them.
_recovery_patterns: dict[str, set[str]] = {}


def breaker_for(location: str) -> Breaker:
    breaker = _breakers.get(location)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.setdefault(location, Breaker(location))
    return breaker


def redis_lost(location: str, reason: object = None) -> None:
    """Another client of this Redis (the hotcache subscriber) lost it: recover before the next cache call."""
    breaker_for(location).lose(reason, probe_now=True)


def redis_is_lost(location: str) -> bool:
    breaker = _breakers.get(location)
    return breaker is not None and breaker.is_lost


def reset_breakers() -> None:
    """Forget every server's state (tests)."""
    with _breakers_lock:
        _breakers.clear()


class FailSafeRedisCache(RedisCache):
    def __init__(self, server, params):
        params = dict(params)
        options = dict(params.get("OPTIONS") or {})
        self.clear_on_recovery = tuple(options.pop("clear_on_recovery", ()))
        local_fallback = options.pop("local_fallback", False)
        options.setdefault("socket_connect_timeout", 0.5)
        options.setdefault("socket_timeout", 0.5)
        # One immediate retry (a pooled connection that died with a restart is replaced), no backoff sleeps.
        options.setdefault("retry", Retry(NoBackoff(), 1))
        params["OPTIONS"] = options
        super().__init__(server, params)
        self.location = server if isinstance(server, str) else ",".join(server)
        with _breakers_lock:
            patterns = _recovery_patterns.setdefault(self.location, set())
            patterns.update(self.make_key(prefix) + "*" for prefix in self.clear_on_recovery)
        self._fallback = LocMemCache(f"fireline-fallback-{self.location}", {}) if local_fallback else None

    @property
    def breaker(self) -> Breaker:
        return breaker_for(self.location)

    def _recover(self) -> None:
        """Run before the first call that reaches Redis after it was lost; raises if Redis is still gone."""
        client = self._cache.get_client(None, write=True)
        pending = self.breaker.take_pending()
        try:
            if pending:
                client.delete(*pending)
            for pattern in sorted(_recovery_patterns.get(self.location, ())):
                doomed = list(client.scan_iter(match=pattern, count=1000))
                for start in range(0, len(doomed), 500):
                    client.delete(*doomed[start : start + 500])
        except FAILURES:
            self.breaker.remember(pending)
            raise

    def _guarded(self, name: str, call, fallback, *, writes=()):
        """call() against Redis; fallback() when Redis is lost or fails. `writes`: made keys it deletes.

        A failed set is not owed: it leaves what was there, and what was there was either current or
        already owed a delete by the change that made it stale.
        """
        breaker = self.breaker
        if not breaker.allow():
            breaker.remember(writes)
            return fallback()
        try:
            if breaker.is_lost:
                self._recover()
            result = call()
        except FAILURES as exc:
            breaker.remember(writes)
            breaker.lose(f"{name}: {exc.__class__.__name__}: {exc}")
            return fallback()
        except BaseException:
            breaker.recovered()  # Redis answered (a missing key for incr, say): the error is the caller's
            raise
        breaker.recovered()
        return result

    def _local(self, name: str, default):
        if self._fallback is None:
            return lambda *args, **kwargs: default
        return getattr(self._fallback, name)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(
            "add",
            lambda: super(FailSafeRedisCache, self).add(key, value, timeout, version),
            lambda: self._local("add", False)(key, value, timeout, version),
        )

    def get(self, key, default=None, version=None):
        return self._guarded(
            "get",
            lambda: super(FailSafeRedisCache, self).get(key, default, version),
            lambda: self._local("get", default)(key, default, version),
        )

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(
            "set",
            lambda: super(FailSafeRedisCache, self).set(key, value, timeout, version),
            lambda: self._local("set", None)(key, value, timeout, version),
        )

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(
            "touch",
            lambda: super(FailSafeRedisCache, self).touch(key, timeout, version),
            lambda: self._local("touch", False)(key, timeout, version),
        )

    def delete(self, key, version=None):
        return self._guarded(
            "delete",
            lambda: super(FailSafeRedisCache, self).delete(key, version),
            lambda: self._local("delete", False)(key, version),
            writes=[self.make_key(key, version=version)],
        )

    def get_many(self, keys, version=None):
        return self._guarded(
            "get_many",
            lambda: super(FailSafeRedisCache, self).get_many(keys, version),
            lambda: self._local("get_many", None)(keys, version) or {},  # a new dict: callers may fill it
        )

    def has_key(self, key, version=None):
        return self._guarded(
            "has_key",
            lambda: super(FailSafeRedisCache, self).has_key(key, version),
            lambda: self._local("has_key", False)(key, version),
        )

    def incr(self, key, delta=1, version=None):
        # A missing key is still a ValueError (Django's contract); a lost Redis is one too, so a caller
        # that handles "not there" (django-ratelimit) does not see a new kind of error.
        def lost():
            if self._fallback is None:
                raise ValueError(f"Key {key!r} not found: the cache is unreachable.")
            return self._fallback.incr(key, delta, version)

        return self._guarded("incr", lambda: super(FailSafeRedisCache, self).incr(key, delta, version), lost)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(
            "set_many",
            lambda: super(FailSafeRedisCache, self).set_many(data, timeout, version),
            lambda: self._local("set_many", list(data))(data, timeout, version),
        )

    def delete_many(self, keys, version=None):
        keys = list(keys)
        return self._guarded(
            "delete_many",
            lambda: super(FailSafeRedisCache, self).delete_many(keys, version),
            lambda: self._local("delete_many", None)(keys, version),
            writes=[self.make_key(key, version=version) for key in keys],
        )

    def clear(self):
        return self._guarded(
            "clear",
            lambda: super(FailSafeRedisCache, self).clear(),
            lambda: self._local("clear", False)(),
        )
