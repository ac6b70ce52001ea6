"""The schedule page's two-week timeline as positioned bars (percentages), drawn by an HTML template."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, rrule

from .models import Schedule
from .selectors import display_name, schedule_timeline, users_by_id

DAYS = 14
# Distinct, readable on white, with dark text: one per person, stable by user id.
PALETTE = [
    "#8ecae6",
    "#ffb703",
    "#90be6d",
    "#f4a3c0",
    "#bdb2ff",
    "#f9c74f",
    "#72efdd",
    "#ffadad",
    "#a0c4ff",
    "#caffbf",
    "#e9c46a",
    "#cdb4db",
]


# A bar narrower than this (percent of two weeks, about 16 hours) shows initials, not the name.
NAME_FITS = 5.0


@dataclass
class Bar:
    left: float
    width: float
    label: str
    title: str
    colour: str
    is_gap: bool = False

    @property
    def is_short(self) -> bool:
        return self.width < NAME_FITS

    @property
    def text(self) -> str:
        if self.width >= NAME_FITS:
            return self.label
        if self.is_gap:
            return "!"
        return "".join(part[0] for part in self.label.split()[:2]).upper()


@dataclass
class Row:
    label: str
    bars: list[Bar] = field(default_factory=list)
    is_final: bool = False


@dataclass
class Tick:
    left: float
    label: str
    is_weekend: bool
    width: float


@dataclass
class Timeline:
    zone: str
    start: datetime
    end: datetime
    rows: list[Row]
    ticks: list[Tick]
    now_left: float | None
    on_call_now: str
    gaps: int
    until: str = ""  # when the current shift ends, in the schedule's zone
    next_name: str = ""
    legend: list[tuple[str, str]] = field(default_factory=list)


def colour_for(user_id: int) -> str:
    return PALETTE[user_id % len(PALETTE)]


def schedule_timeline_get(*, schedule: Schedule, now: datetime) -> Timeline:
    zone = ZoneInfo(schedule.time_zone)
    today = now.astimezone(zone).date()
    days = list(rrule(DAILY, dtstart=datetime.combine(today, time()), count=DAYS + 1))
    # In UTC: two aware datetimes sharing one zone subtract as wall-clock times, an hour off across DST.
    start, end = (d.replace(tzinfo=zone).astimezone(UTC) for d in (days[0], days[-1]))
    total = (end - start).total_seconds()

    def pos(instant: datetime) -> float:
        return round(100 * (instant - start).total_seconds() / total, 3)

    data = schedule_timeline(schedule=schedule, start=start, end=end)
    people = users_by_id(s.user_id for row in data for s in row.shifts)
    rows, on_call_now, gaps = [], "no one", 0
    until, next_name, legend = None, "", {}
    for row in data:
        out = Row(label=row.label, is_final=row.is_final)
        for shift in row.shifts:
            local_from = shift.start.astimezone(zone)
            local_to = shift.end.astimezone(zone)
            span = f"{local_from:%a %d %b %H:%M} – {local_to:%a %d %b %H:%M} {local_to:%Z}"
            if shift.is_gap:
                gaps += 1
                bar = Bar(
                    pos(shift.start), pos(shift.end) - pos(shift.start), "no one", f"No one on call: {span}", "", True
                )
            else:
                name = display_name(people.get(shift.user_id))
                via = " (override)" if shift.source == "override" else (f" ({shift.source})" if row.is_final else "")
                bar = Bar(
                    pos(shift.start),
                    pos(shift.end) - pos(shift.start),
                    name,
                    f"{name}{via}: {span}",
                    colour_for(shift.user_id),
                )
            out.bars.append(bar)
            if not shift.is_gap:
                legend.setdefault(bar.label, bar.colour)
            if row.is_final and shift.start <= now < shift.end:
                on_call_now, until = bar.label, shift.end.astimezone(zone)
            elif row.is_final and until is not None and not next_name:
                next_name = bar.label
        rows.append(out)
    ticks = [
        Tick(
            pos(d.replace(tzinfo=zone)),
            f"{d:%a %d %b}",
            d.weekday() >= 5,
            pos(n.replace(tzinfo=zone)) - pos(d.replace(tzinfo=zone)),
        )
        for d, n in zip(days, days[1:], strict=False)
    ]
    now_left = pos(now) if start <= now < end else None
    return Timeline(
        schedule.time_zone,
        start,
        end,
        rows,
        ticks,
        now_left,
        on_call_now,
        gaps,
        until=f"{until:%a %d %b %H:%M}" if until is not None and until < end else "",
        next_name=next_name,
        legend=sorted(legend.items()),
    )
