from datetime import timedelta

from django import template

from incidents.text import render_markdown

register = template.Library()


@register.filter
def markdown(text):
    return render_markdown(text)


@register.filter
def duration(delta: timedelta | None) -> str:
    """A clock as a commander reads it: 2d 3h, 4h 05m, 12m 30s."""
    if delta is None:
        return "—"
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


@register.filter
def percent(value) -> str:
    """0.0123 -> '1.2%'."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.1f}%"
