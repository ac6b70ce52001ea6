"""The command centre's durations: incidents.text's one formatter in its spelled-out, signed style."""

from datetime import timedelta

from incidents.text import SPELLED
from incidents.text import format_duration as _format_duration


def format_duration(value: timedelta | None) -> str:
    """A clock for tired eyes: "3 d 4 h", "2 h 05 min", "12 min"."""
    return _format_duration(value, SPELLED)
