"""A process-local cache in front of the shared cache, for the OFREP hot path (flag states, token scopes).

Every change still deletes the shared (Redis) entry on commit; `invalidate()` then drops the local copy
in this process at once and publishes the keys on a Redis channel, and a daemon thread in every web
process (started on first use, reconnecting on errors) drops them there. So a flip is seen by every
process as soon as the message arrives (milliseconds): the cache is invalidated on change, not left to
expire.

Local entries also expire after LOCAL_SECONDS. That is only a safety net for a lost message (a
connection dying between a publish and its delivery); it is not how changes propagate. While the
subscriber is not subscribed (starting, reconnecting) the local layer is bypassed and emptied, so a
message missed while disconnected cannot leave a stale entry behind.

Without REDIS_URL there is one web process with a per-process cache, and invalidate() drops the local
entries directly.

Losing Redis (see config.cache): while the shared cache is lost or the subscriber is not subscribed, the
local layer is bypassed and emptied, so every read goes to the database. An invalidation that could not be
published is kept and published once the subscriber is subscribed again; the subscriber losing Redis also
tells the cache adapter, which clears the kill-switch and token entries before its next call, so an entry
from before a flip made during the outage is not served once Redis is back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time

from django.conf import settings
from django.core.cache import cache

from config.cache import redis_is_lost, redis_lost

logger = logging.getLogger(__name__)

CHANNEL = "fireline:ofrep:invalidate"
LOCAL_SECONDS = 5.0  # safety net against a lost invalidation message only
PING_SECONDS = 2.0  # the subscriber pings Redis this often...
SILENT_SECONDS = 3.0  # ...stops serving local entries when it has heard nothing for this long...
DEAD_AFTER_SECONDS = 6.0  # ...and reconnects when it has heard nothing for this long

_entries: dict[str, tuple[float, object]] = {}
_lock = threading.Lock()
_live = threading.Event()  # set while local entries may be served
_generation = 0  # bumped by every invalidation: a fill racing with one is not kept
_started_pid: int | None = None
_stop: threading.Event | None = None  # set to end the current subscriber (reset())
_publisher = None
_publisher_url = ""
_unpublished: set[str] = set()  # invalidations not published yet (Redis lost): sent on re-subscribe


def _redis_url() -> str:
    return getattr(settings, "REDIS_URL", "") or ""


def _ensure_listener() -> None:
    global _started_pid, _stop
    pid = os.getpid()
    if _started_pid == pid:
        return
    with _lock:
        if _started_pid == pid:
            return
        _started_pid = pid  # a forked child starts its own subscriber
        _live.clear()
        _entries.clear()
        url = _redis_url()
        if not url:
            _live.set()
            return
        _stop = threading.Event()
        threading.Thread(target=_listen, args=(url, _stop), name="fireline-hotcache", daemon=True).start()


def reset() -> None:
    """Forget the subscriber and every local entry, so the next use starts afresh on the current settings
    (tests that point REDIS_URL at a Redis of their own)."""
    global _started_pid, _publisher, _publisher_url
    with _lock:
        if _stop is not None:
            _stop.set()
        _started_pid = None
        _publisher = None
        _publisher_url = ""
        _unpublished.clear()
        _live.clear()
    _drop_all()


def _listen(url: str, stop: threading.Event) -> None:
    import redis

    backoff = 0.1
    lost_since = None  # when the subscription was lost; logged once per outage, not per retry
    while not stop.is_set():
        pubsub = None
        subscribed = False
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, socket_keepalive=True)
            pubsub = client.pubsub()
            pubsub.subscribe(CHANNEL)
            heard = pinged = time.monotonic()
            while not stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                now = time.monotonic()
                if message is not None:
                    heard = now
                    if message["type"] == "subscribe":
                        _drop_all()
                        subscribed = True
                        _live.set()
                        backoff = 0.1
                        if lost_since is not None:
                            logger.warning("hotcache: subscribed again after %.1f s", now - lost_since)
                            lost_since = None
                        _publish_pending(url)
                    elif message["type"] == "message":
                        _drop(json.loads(message["data"]))
                if now - pinged >= PING_SECONDS:
                    pubsub.ping()
                    pinged = now
                    if subscribed and redis_is_lost(url) and now - heard < PING_SECONDS * 2:
                        # Redis answers this thread while the cache client here still counts it lost: let
                        # the cache client probe now, so the deletes it owes are made without waiting for
                        # a request to this process.
                        _probe_cache()
                # A Redis that stopped answering (frozen, partitioned) cannot deliver invalidations either.
                silent = now - heard > SILENT_SECONDS
                if silent and _live.is_set():
                    _live.clear()
                    _drop_all()
                elif subscribed and not silent and not _live.is_set():
                    _drop_all()
                    _live.set()
                if now - heard > DEAD_AFTER_SECONDS:
                    raise redis.ConnectionError("no answer from Redis on the invalidation channel")
        except Exception as exc:
            if lost_since is None:
                lost_since = time.monotonic()
                logger.warning("hotcache: invalidation subscriber lost Redis (%s); reconnecting", exc)
            if subscribed:
                # whatever this process's cache client thinks, entries may be stale once Redis is back
                redis_lost(url, f"the invalidation subscriber: {exc}")
        finally:
            _live.clear()
            _drop_all()
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    pubsub.close()
        stop.wait(backoff)
        backoff = min(backoff * 2, 2.0)


def _probe_cache() -> None:
    try:
        cache.has_key("fireline:hotcache:probe")
    except Exception:  # noqa: BLE001 - a cache that is not the fail-safe one may raise; the next ping retries
        logger.debug("hotcache: the cache probe failed", exc_info=True)


def _drop(keys) -> None:
    global _generation
    with _lock:
        _generation += 1
        for key in keys:
            _entries.pop(key, None)


def _drop_all() -> None:
    global _generation
    with _lock:
        _generation += 1
        _entries.clear()


def clear() -> None:
    """Empty this process's local entries (tests, next to cache.clear())."""
    _drop_all()


def get_many(keys: list[str]) -> dict:
    """Like cache.get_many, answered from this process when it can, from the shared cache otherwise."""
    _ensure_listener()
    found = {}
    live = _live.is_set()
    if live and redis_is_lost(_redis_url()):
        # the shared cache is unreachable, so invalidations from other processes are not arriving either
        live = False
        if _entries:
            _drop_all()
    if live:
        now = time.monotonic()
        for key in keys:
            entry = _entries.get(key)
            if entry is not None and entry[0] > now:
                found[key] = entry[1]
        if len(found) == len(keys):
            return found
    generation = _generation
    fetched = cache.get_many([key for key in keys if key not in found])
    found.update(fetched)
    if live and fetched:
        expires = time.monotonic() + LOCAL_SECONDS
        with _lock:
            if generation == _generation and _live.is_set():
                for key, value in fetched.items():
                    _entries[key] = (expires, value)
    return found


def get(key: str):
    return get_many([key]).get(key)


def _publish(url: str, keys) -> bool:
    global _publisher, _publisher_url
    try:
        import redis

        if _publisher is None or _publisher_url != url:
            _publisher = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
            _publisher_url = url
        _publisher.publish(CHANNEL, json.dumps(sorted(keys)))
    except Exception as exc:
        # Every other process lost Redis too (its subscriber is down, so its local layer is bypassed and
        # emptied); the keys are published when this process's subscriber is subscribed again.
        logger.info("hotcache: could not publish an invalidation now (%s); kept for when Redis is back", exc)
        return False
    return True


def _publish_pending(url: str) -> None:
    with _lock:
        keys = set(_unpublished)
        _unpublished.clear()
    if keys and not _publish(url, keys):
        with _lock:
            _unpublished.update(keys)


def invalidate(keys: list[str]) -> None:
    """Call after deleting the shared entries: drop them here at once, and in every other process."""
    _drop(keys)
    url = _redis_url()
    if not url:
        return
    if redis_is_lost(url) or not _publish(url, keys):
        with _lock:
            _unpublished.update(keys)
