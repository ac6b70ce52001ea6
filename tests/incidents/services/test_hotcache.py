"""The process-local cache in front of the shared cache: invalidated on change, here and in other processes."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

from incidents.services import hotcache

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def key():
    key = f"fireline:test:hotcache:{uuid.uuid4().hex}"
    hotcache.clear()
    yield key
    cache.delete(key)
    hotcache.clear()


def primed(key):
    """key cached locally as 1, while the shared cache already says 2 (changed behind the local copy)."""
    hotcache.get(key)  # starts the subscriber
    assert hotcache._live.wait(5), "the invalidation subscriber did not subscribe"
    cache.set(key, 1)
    assert hotcache.get(key) == 1
    cache.set(key, 2)
    assert hotcache.get(key) == 1  # served locally


def test_invalidate_drops_the_local_copy_at_once(key):
    primed(key)
    hotcache.invalidate([key])
    assert hotcache.get(key) == 2


def test_a_missing_shared_entry_is_not_cached_locally(key):
    assert hotcache.get(key) is None
    cache.set(key, 3)
    assert hotcache.get(key) == 3


@pytest.mark.skipif(not settings.REDIS_URL, reason="cross-process invalidation goes through Redis pub/sub")
def test_a_change_in_another_process_reaches_this_process_local_cache(key):
    primed(key)
    code = f"import django; django.setup(); from incidents.services import hotcache; hotcache.invalidate([{key!r}])"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)  # noqa: S603
    published = time.monotonic()
    while hotcache.get(key) != 2:
        # well before the local safety-net expiry: the message did it, not the TTL
        assert time.monotonic() - published < 1.0, "the other process's invalidation did not arrive"
        time.sleep(0.005)
