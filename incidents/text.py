"""Text Fireline writes: user-typed Markdown rendered only through the nh3 sanitizer, and durations.

Every duration on a page, in an export or on the command centre goes through `format_duration`; the
places read differently (a commander's clock shows seconds, the PDF does not, the command centre
spells its units out and keeps a sign), so each names its `DurationStyle`.
"""

from dataclasses import dataclass
from datetime import timedelta

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}


def render_markdown(text: str | None) -> SafeString:
    html = markdown.markdown(text or "", extensions=["tables", "fenced_code", "sane_lists"])
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 - sanitized by nh3 just above


@dataclass(frozen=True)
class DurationStyle:
    empty: str  # what no duration at all reads as
    units: tuple[str, str, str, str]  # the day, hour, minute and second suffixes, with any space before them
    signed: bool  # a negative duration keeps its sign (otherwise it reads as zero)
    seconds: str  # under an hour: "always" (12m 30s), "never" (12m) or "under_a_minute" (12 min, 45 s)


# The incident page's clocks: 2d 3h, 4h 05m, 12m 30s; nothing yet is "—".
CLOCK = DurationStyle(empty="—", units=("d", "h", "m", "s"), signed=False, seconds="always")
# The incident summary PDF: 2d 3h, 4h 05m, 12m; nothing yet is "not yet".
SUMMARY = DurationStyle(empty="not yet", units=("d", "h", "m", "s"), signed=False, seconds="never")
# The command centre, for tired eyes: 3 d 4 h, 2 h 05 min, 12 min, 45 s, signed; nothing is "–".
SPELLED = DurationStyle(empty="–", units=(" d", " h", " min", " s"), signed=True, seconds="under_a_minute")


def format_duration(delta: timedelta | None, style: DurationStyle = CLOCK) -> str:
    """A duration in whole units, the two largest that matter: days and hours, or hours and minutes."""
    if delta is None:
        return style.empty
    seconds = int(delta.total_seconds())
    sign = "-" if style.signed and seconds < 0 else ""
    seconds = abs(seconds) if style.signed else max(seconds, 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    day, hour, minute, second = style.units
    if days:
        return f"{sign}{days}{day} {hours}{hour}"
    if hours:
        return f"{sign}{hours}{hour} {minutes:02d}{minute}"
    if style.seconds == "always":
        return f"{sign}{minutes}{minute} {secs:02d}{second}"
    if style.seconds == "under_a_minute" and not minutes:
        return f"{sign}{secs}{second}"
    return f"{sign}{minutes}{minute}"
