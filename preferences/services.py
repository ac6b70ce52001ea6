"""Each person's own screen settings: their time zone and the incident-page cards they keep open.

Services write one `UserPreference` row per user. The time zone is cached in the session so that the
middleware that activates it costs no query per request; writing a new zone refreshes that cache.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .models import UserPreference

SESSION_KEY = "fireline_time_zone"
CARDS_SESSION_KEY = "fireline_open_cards"
# Card ids are written by templates; anything else sent to the endpoint is refused, not stored.
CARD_ID = re.compile(r"^[a-z][a-z0-9-]{0,47}$")
PAGES = {"incident"}
MAX_CARDS_PER_PAGE = 40


@cache
def time_zone_names() -> list[str]:
    """Every IANA zone this machine knows, sorted, without the legacy aliases ("US/Eastern", "Etc/GMT+5")."""
    names = zoneinfo.available_timezones()
    return sorted(n for n in names if "/" in n and not n.startswith(("Etc/", "SystemV/", "US/")) or n == "UTC")


def clean_time_zone(value: str, *, field: str = "time_zone") -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: "Choose a time zone."})
    if len(value) > 64:
        raise ValidationError({field: "A time zone name is at most 64 characters."})
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError({field: f"{value!r} is not a time zone name such as Europe/Berlin."}) from exc
    return value


def preference_get(*, user) -> UserPreference | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return UserPreference.objects.filter(user=user).first()


def _remember(request, zone: str) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = zone


@transaction.atomic
def preference_set_time_zone(*, user, time_zone: str, from_browser: bool = False, request=None) -> UserPreference:
    """Store the person's zone. A zone read from the browser never replaces one the person chose."""
    zone = clean_time_zone(time_zone)
    pref, _ = UserPreference.objects.select_for_update().get_or_create(user=user)
    if from_browser and pref.time_zone_source == UserPreference.ZoneSource.CHOSEN:
        _remember(request, pref.time_zone)
        return pref
    pref.time_zone = zone
    pref.time_zone_source = UserPreference.ZoneSource.BROWSER if from_browser else UserPreference.ZoneSource.CHOSEN
    pref.save(update_fields=["time_zone", "time_zone_source", "updated_at"])
    _remember(request, zone)
    return pref


@transaction.atomic
def preference_set_card(*, user, page: str, card: str, is_open: bool, request=None) -> UserPreference:
    if page not in PAGES:
        raise ValidationError({"page": f"Unknown page {page!r}: one of {', '.join(sorted(PAGES))}."})
    if not CARD_ID.match(card or ""):
        raise ValidationError({"card": "A card id is lower-case letters, digits and hyphens, at most 48."})
    pref, _ = UserPreference.objects.select_for_update().get_or_create(user=user)
    cards = dict(pref.open_cards.get(page) or {})
    if card not in cards and len(cards) >= MAX_CARDS_PER_PAGE:
        raise ValidationError({"card": "Too many cards remembered for this page."})
    cards[card] = bool(is_open)
    pref.open_cards = {**pref.open_cards, page: cards}
    pref.save(update_fields=["open_cards", "updated_at"])
    if request is not None and hasattr(request, "session"):
        request.session[CARDS_SESSION_KEY] = pref.open_cards
    return pref


def open_cards_get(request, *, page: str) -> dict[str, bool]:
    """The cards this person opened or closed on `page`, from the session (read from the database once)."""
    cached = request.session.get(CARDS_SESSION_KEY) if hasattr(request, "session") else None
    if cached is None:
        pref = preference_get(user=request.user)
        cached = dict(pref.open_cards or {}) if pref else {}
        if hasattr(request, "session"):
            request.session[CARDS_SESSION_KEY] = cached
    return dict(cached.get(page) or {})


def session_time_zone(request) -> str | None:
    """The zone to show this request in; None when the person has not got one yet (the browser will say)."""
    zone = request.session.get(SESSION_KEY)
    if zone is None:
        pref = preference_get(user=request.user)
        zone = pref.time_zone if pref and pref.time_zone else ""
        request.session[SESSION_KEY] = zone
    return zone or None


class UserTimeZoneMiddleware:
    """Show every time in the signed-in person's zone; people without one see the server's zone, named."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = None
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            zone = session_time_zone(request)
            request.fireline_needs_time_zone = zone is None
        if zone:
            try:
                timezone.activate(zoneinfo.ZoneInfo(zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def server_time_zone() -> str:
    return settings.TIME_ZONE


def remember_time_zone_at_login(sender, request, user, **kwargs) -> None:
    """Read the person's zone once, when they log in, so that no request after it pays a query for it."""
    if request is None or not hasattr(request, "session"):
        return
    pref = UserPreference.objects.filter(user=user).only("time_zone", "open_cards").first()
    request.session[SESSION_KEY] = pref.time_zone if pref and pref.time_zone else ""
    request.session[CARDS_SESSION_KEY] = dict(pref.open_cards or {}) if pref else {}
