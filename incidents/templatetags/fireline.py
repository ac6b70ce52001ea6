from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

from incidents.text import CLOCK, format_duration, render_markdown

register = template.Library()


@register.filter
def markdown(text):
    return render_markdown(text)


@register.filter
def duration(delta: timedelta | None) -> str:
    """A clock as a commander reads it: 2d 3h, 4h 05m, 12m 30s."""
    return format_duration(delta, CLOCK)


@register.filter
def percent(value) -> str:
    """0.0123 -> '1.2%'."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.1f}%"


# The one way Fireline writes an instant on screen: ISO date, 24-hour clock, the zone named, in the
# viewer's zone (the middleware activates it). config/formats says the same for Django's own widgets.
WHEN_FORMAT = "Y-m-d H:i T"
CLOCK_FORMAT = "H:i T"


@register.filter
def when(value) -> str:
    """'2026-12-04 18:52 CET' in the viewer's zone; '' for no value."""
    if not value:
        return ""
    if not isinstance(value, datetime):
        return date_format(value, "Y-m-d")
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return date_format(value, WHEN_FORMAT)


@register.filter
def clock(value) -> str:
    """'18:52 CET': the time of day in the viewer's zone, for times that are plainly today."""
    if not value:
        return ""
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return date_format(value, CLOCK_FORMAT)


@register.filter
def person(user, fallback: str = "Fireline") -> str:
    """A person as the page names them: full name, else username; `fallback` when there is no one."""
    if user is None or not getattr(user, "pk", None):
        return fallback
    return user.get_full_name() or user.get_username()


@register.filter
def when_short(value) -> str:
    """As `when`, without the date when it is today in the viewer's zone: '23:58 UTC' for a deadline tonight."""
    if isinstance(value, datetime) and timezone.is_aware(value):
        if timezone.localdate(value) == timezone.localdate():
            return clock(value)
    return when(value)
