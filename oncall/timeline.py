"""The schedule page's two-week timeline as positioned bars (percentages), drawn by an HTML template."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
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


@dataclass
class Bar:
    left: float
    width: float
    label: str
    title: str
    colour: str
    is_gap: bool = False


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


def colour_for(user_id: int) -> str:
    return PALETTE[user_id % len(PALETTE)]


def schedule_timeline_get(*, schedule: Schedule, now: datetime) -> Timeline:
    zone = ZoneInfo(schedule.time_zone)
    today = now.astimezone(zone).date()
    days = list(rrule(DAILY, dtstart=datetime.combine(today, time()), count=DAYS + 1))
    start, end = (d.replace(tzinfo=zone) for d in (days[0], days[-1]))
    total = (end - start).total_seconds()

    def pos(instant: datetime) -> float:
        return round(100 * (instant - start).total_seconds() / total, 3)

    data = schedule_timeline(schedule=schedule, start=start, end=end)
    people = users_by_id(s.user_id for row in data for s in row.shifts)
    rows, on_call_now, gaps = [], "no one", 0
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
            if row.is_final and shift.start <= now < shift.end:
                on_call_now = bar.label
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
    return Timeline(schedule.time_zone, start, end, rows, ticks, now_left, on_call_now, gaps)
