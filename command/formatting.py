from datetime import timedelta


def format_duration(value: timedelta | None) -> str:
    """A clock for tired eyes: "3 d 4 h", "2 h 05 min", "12 min"."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    return f"{sign}{minutes} min" if minutes else f"{sign}{seconds} s"
