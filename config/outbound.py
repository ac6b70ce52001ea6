"""Fetching a URL someone typed into Fireline (a calendar feed): never an address inside the network.

A schedule manager can point a layer at any feed; without this check Fireline would fetch from its own
network on their behalf (the cloud metadata address, the database's admin port). Every request, redirects
included, is checked against what its host resolves to now. FIRELINE_ALLOW_PRIVATE_FETCH=true lifts the
check for an install whose feeds live inside its own network (and for the tests' local servers).
"""

from __future__ import annotations

import ipaddress
import socket

import httpx
from django.conf import settings


class PrivateAddressRefused(httpx.RequestError):
    pass


def _check(request: httpx.Request) -> None:
    if getattr(settings, "FIRELINE_ALLOW_PRIVATE_FETCH", False):
        return
    host = request.url.host
    try:
        infos = socket.getaddrinfo(host, request.url.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise PrivateAddressRefused(f"{host} does not resolve", request=request) from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise PrivateAddressRefused(
                f"{host} is an address inside the network ({address}); Fireline fetches only public addresses",
                request=request,
            )


def public_client(**kwargs) -> httpx.Client:
    """An httpx client that refuses hosts resolving to private, loopback, link-local or reserved addresses."""
    hooks = kwargs.pop("event_hooks", {})
    hooks = {**hooks, "request": [*hooks.get("request", []), _check]}
    return httpx.Client(event_hooks=hooks, **kwargs)
