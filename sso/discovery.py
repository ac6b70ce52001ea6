"""The provider's OpenID configuration, read once from `<issuer>/.well-known/openid-configuration`."""

import threading
import time

import requests
from django.conf import settings

REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")

_lock = threading.Lock()
_cache: dict[str, tuple[float, dict]] = {}


class DiscoveryError(Exception):
    """The provider's configuration could not be read or does not describe this issuer."""


def sso_enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def provider_metadata() -> dict:
    """The discovery document of OIDC_ISSUER, cached per process (a failure is not cached, so it is retried)."""
    issuer = settings.OIDC_ISSUER
    hit = _cache.get(issuer)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    with _lock:
        hit = _cache.get(issuer)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            metadata = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise DiscoveryError(f"could not read {url} ({exc.__class__.__name__})") from exc
        if not isinstance(metadata, dict) or any(not metadata.get(key) for key in REQUIRED):
            raise DiscoveryError(f"{url} lacks one of {', '.join(REQUIRED)}")
        if metadata["issuer"].rstrip("/") != issuer.rstrip("/"):
            raise DiscoveryError(f"{url} names another issuer ({metadata['issuer']})")
        _cache[issuer] = (time.monotonic() + settings.OIDC_DISCOVERY_CACHE_SECONDS, metadata)
        return metadata


def forget_provider_metadata() -> None:
    _cache.clear()
