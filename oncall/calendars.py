"""iCalendar out (a schedule's or a user's shifts, for calendar apps) and in (a feed as a read-only layer)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import httpx
import icalendar
from dateutil.rrule import rrulestr
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from audit import services as audit
from config.outbound import public_client

from .models import ImportedShift, Layer
from .rotation import Shift
from .selectors import display_name

logger = logging.getLogger(__name__)

PRODID = "-//Fireline//On-call schedules//EN"
FEED_TIMEOUT = 10.0
FEED_MAX_BYTES = 5 * 1024 * 1024
# Recurring events in an imported feed are expanded this far ahead.
IMPORT_HORIZON = timedelta(days=120)


def shifts_calendar(*, name: str, entries: list[tuple[str, int, Shift]], users: dict) -> bytes:
    """entries: (schedule name, schedule id, shift). One VEVENT per shift, times in UTC."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    stamp = timezone.now()
    for schedule_name, schedule_id, shift in entries:
        user = users.get(shift.user_id)
        event = icalendar.Event()
        event.add("uid", f"{schedule_id}-{shift.start:%Y%m%dT%H%M%SZ}-{shift.user_id}@fireline")
        event.add("dtstamp", stamp)
        event.add("dtstart", shift.start.astimezone(UTC))
        event.add("dtend", shift.end.astimezone(UTC))
        event.add("summary", f"On call: {display_name(user)} ({schedule_name})")
        if user is not None and user.email:
            attendee = icalendar.vCalAddress(f"mailto:{user.email}")
            attendee.params["cn"] = icalendar.vText(display_name(user))
            event.add("attendee", attendee)
        cal.add_component(event)
    return cal.to_ical()


def _as_utc(value) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):  # an all-day event: midnight UTC
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError(f"not a date: {value!r}")


def parse_feed(data: bytes, *, now: datetime) -> list[tuple[str, str, datetime, datetime]]:
    """(who: attendee email or summary, summary, start, end) for each event, recurring ones expanded."""
    try:
        cal = icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise ValidationError({"ical_url": f"The feed is not iCalendar: {exc}"}) from exc
    found = []
    horizon = now + IMPORT_HORIZON
    for event in cal.walk("VEVENT"):
        if "DTSTART" not in event:
            continue
        start = _as_utc(event.decoded("DTSTART"))
        if "DTEND" in event:
            end = _as_utc(event.decoded("DTEND"))
        elif "DURATION" in event:
            end = start + event.decoded("DURATION")
        else:
            continue
        summary = str(event.get("SUMMARY", ""))
        attendee = event.get("ATTENDEE")
        if isinstance(attendee, list):
            attendee = attendee[0] if attendee else None
        who = str(attendee).removeprefix("mailto:").removeprefix("MAILTO:") if attendee else summary
        starts = [start]
        if "RRULE" in event:
            rule = rrulestr(event["RRULE"].to_ical().decode(), dtstart=start, ignoretz=False)
            starts = list(rule.between(now - IMPORT_HORIZON, horizon, inc=True))
        length = end - start
        found.extend((who, summary, s, s + length) for s in starts)
    return found


def _match_users(keys: set[str]) -> dict[str, int]:
    users = get_user_model().objects.filter(is_active=True)
    lowered = {k.lower() for k in keys}
    by_email = {
        email: pk
        for email, pk in users.annotate(e=Lower("email")).filter(e__in=lowered).values_list("e", "pk")
        if email
    }
    by_name = dict(users.filter(username__in=keys).values_list("username", "pk"))
    return {k: by_email.get(k.lower()) or by_name.get(k) for k in keys}


def layer_import_ical(*, layer_id: int, actor=None, now: datetime | None = None) -> int:
    """Fetch the layer's feed and replace its shifts; on any failure the old shifts stay and the error is kept.

    Returns the number of shifts imported. Events whose attendee (or summary) matches no user's email or
    username are kept as unmatched and count as no one on call.
    """
    now = now or timezone.now()
    layer = Layer.objects.get(pk=layer_id)
    if actor is not None and not actor.has_perm("oncall.change_schedule"):
        raise PermissionDenied("Only Incident Commanders and Schedule Managers edit schedules.")
    if not layer.ical_url:
        raise ValidationError({"ical_url": "This layer has no feed to import."})
    try:
        with public_client(timeout=FEED_TIMEOUT, follow_redirects=True, max_redirects=3) as client:
            with client.stream("GET", layer.ical_url, headers={"Accept": "text/calendar"}) as response:
                response.raise_for_status()
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > FEED_MAX_BYTES:
                        raise ValidationError({"ical_url": "The feed is larger than 5 MB."})
                    chunks.append(chunk)
        events = parse_feed(b"".join(chunks), now=now)
    except (httpx.HTTPError, ValidationError) as exc:
        message = exc.message_dict["ical_url"][0] if isinstance(exc, ValidationError) else f"Fetch failed: {exc}"
        Layer.objects.filter(pk=layer.pk).update(ical_error=message[:1000])
        raise ValidationError({"ical_url": message}) from exc
    matched = _match_users({who for who, *_ in events})
    with transaction.atomic():
        layer = Layer.objects.select_for_update().get(pk=layer_id)
        layer.imported_shifts.all().delete()
        ImportedShift.objects.bulk_create(
            ImportedShift(layer=layer, user_id=matched.get(who), label=summary[:200], starts_at=start, ends_at=end)
            for who, summary, start, end in events
            if end > start
        )
        unmatched = sorted({who for who, *_ in events if matched.get(who) is None})
        layer.ical_fetched_at = now
        layer.ical_error = ("No Fireline user for: " + ", ".join(unmatched))[:1000] if unmatched else ""
        layer.save(update_fields=["ical_fetched_at", "ical_error"])
        audit.log_changed(actor=actor, target=layer, before={}, after={"imported_shifts": len(events)})
    return len(events)
