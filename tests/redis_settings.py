"""Point this process's cache at a Redis of the test's choosing, configured as config/settings.py does it.

The cache settings are read from config/settings.py run with REDIS_URL set (not copied here), so the tests
exercise what a deployment with Redis gets. pytest-django loaded the settings before any test could set
REDIS_URL, hence the second read (see STYLE.md, the test settings pitfall).
"""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path
from unittest import mock

SETTINGS_FILE = Path(__file__).resolve().parents[1] / "config" / "settings.py"


def cache_settings_for(redis_url: str) -> dict:
    """CACHES and RATELIMIT_USE_CACHE as config/settings.py sets them when REDIS_URL is redis_url."""
    spec = importlib.util.spec_from_file_location("fireline_settings_with_redis", SETTINGS_FILE)
    module = importlib.util.module_from_spec(spec)
    with mock.patch.dict(os.environ, {"REDIS_URL": redis_url}):
        spec.loader.exec_module(module)
    return {"CACHES": module.CACHES, "RATELIMIT_USE_CACHE": getattr(module, "RATELIMIT_USE_CACHE", "default")}


def dead_redis_url() -> str:
    """A Redis URL on a loopback port nothing listens on: every connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def forget_process_state() -> None:
    """Start the next request afresh: no subscriber, no local entries, no breaker state, no OFREP memory."""
    from incidents import ofrep
    from incidents.services import hotcache

    if hasattr(hotcache, "reset"):
        hotcache.reset()
    else:  # the subscriber of an earlier Redis keeps running; a new one starts on the next use
        hotcache._started_pid = None
        hotcache.clear()
    try:
        from config.cache import reset_breakers
    except ImportError:
        pass
    else:
        reset_breakers()
    if hasattr(ofrep, "forget_known_state"):
        ofrep.forget_known_state()


def use_redis(settings, redis_url: str) -> None:
    """settings (pytest-django's fixture, restored after the test): the cache and hotcache on redis_url."""
    for name, value in cache_settings_for(redis_url).items():
        setattr(settings, name, value)
    settings.REDIS_URL = redis_url
    forget_process_state()
