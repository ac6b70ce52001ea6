"""Who is on call when: rotations, restrictions, layer precedence and overrides, as plain data.

Nothing here touches the database; selectors turn rows into these specs. The recurrence (handoffs and
restriction windows) comes from dateutil's rrule over the layer's local wall-clock time, then each
local instant is placed in the layer's zone with zoneinfo. So a daily 09:00 handoff in Europe/Berlin
stays at 09:00 local across DST and the shift that spans the change is 23 or 25 hours long. A local time
that does not exist (02:30 on the spring-forward night) is read with the offset in force before the
change (zoneinfo's fold=0), and an ambiguous one as its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import NamedTuple
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, HOURLY, WEEKLY, rrule

from .constants import RotationLength

FREQUENCIES = {RotationLength.DAILY: DAILY, RotationLength.WEEKLY: WEEKLY, RotationLength.CUSTOM: HOURLY}
ONE_DAY = relativedelta(days=+1)


class Shift(NamedTuple):
    """[start, end) in UTC; user_id None is a gap (no one on call). A tuple: a year of them is made per lookup."""

    start: datetime
    end: datetime
    user_id: int | None
    source: str = ""  # the layer's name, "override", or "" for a gap
    layer_id: int | None = None
    override_id: int | None = None

    @property
    def is_gap(self) -> bool:
        return self.user_id is None


@dataclass(frozen=True)
class Restriction:
    """On call only inside windows that start on these weekdays (0 = Monday) at `start` and end at `end`
    local time; an end at or before the start runs into the next day (22:00-06:00), equal means 24 hours."""

    weekdays: tuple[int, ...]
    start: time
    end: time


@dataclass
class LayerSpec:
    layer_id: int
    name: str
    priority: int
    time_zone: str
    rotation_start: date
    handoff_time: time
    length: str
    interval: int
    members: Sequence[int]  # user ids in rotation order
    restriction: Restriction | None = None
    # an imported (iCal) layer has fixed shifts instead of a rotation
    imported: list[Shift] | None = None


@dataclass
class OverrideSpec:
    override_id: int
    user_id: int
    start: datetime
    end: datetime
    created_at: datetime


@dataclass
class ScheduleSpec:
    schedule_id: int
    name: str
    time_zone: str
    layers: list[LayerSpec] = field(default_factory=list)
    overrides: list[OverrideSpec] = field(default_factory=list)


def _aware(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _periods_to_skip(layer: LayerSpec, first: datetime, start_local: datetime) -> int:
    """Whole handoff periods from the first handoff to a little before the window (one period early).

    Only an anchor: rrule still makes every occurrence from there. Over naive wall-clock time rrule's
    k-th occurrence is the first plus k intervals, so starting it k periods later gives the same handoffs
    without walking a year of past ones on every lookup (tests/oncall/test_rotation.py checks both agree).
    """
    if start_local <= first:
        return 0
    if layer.length == RotationLength.CUSTOM:
        units = int((start_local - first).total_seconds() // 3600)
    else:
        units = (start_local.date() - first.date()).days // (7 if layer.length == RotationLength.WEEKLY else 1)
    return max(units // layer.interval - 1, 0)


def rotation_shifts(layer: LayerSpec, start: datetime, end: datetime, *, skip_ahead: bool = True) -> list[Shift]:
    """The layer's rotation (before restrictions) for the shifts overlapping [start, end)."""
    if layer.imported is not None:
        return [s for s in layer.imported if s.end > start and s.start < end]
    if not layer.members:
        return []
    zone = ZoneInfo(layer.time_zone)
    first = datetime.combine(layer.rotation_start, layer.handoff_time)
    skipped = _periods_to_skip(layer, first, _local(start, zone)) if skip_ahead else 0
    unit = {RotationLength.DAILY: "days", RotationLength.WEEKLY: "weeks", RotationLength.CUSTOM: "hours"}[layer.length]
    anchor = first + relativedelta(**{unit: skipped * layer.interval})
    rule = rrule(FREQUENCIES[layer.length], interval=layer.interval, dtstart=anchor, cache=False)
    end_local = _local(end, zone)
    shifts: list[Shift] = []
    members = layer.members
    previous: datetime | None = None
    index = skipped - 1
    # The k-th handoff from the rotation's start gives the shift to member k mod n.
    for occurrence in rule:
        at = _aware(occurrence, zone)
        if previous is not None and at > start:
            shifts.append(Shift(previous, at, members[index % len(members)], layer.name, layer.layer_id))
        if occurrence > end_local:
            break
        previous, index = at, index + 1
    return shifts


def restriction_windows(restriction: Restriction, zone_name: str, start: datetime, end: datetime) -> list[Shift]:
    """The restriction's windows overlapping [start, end), as UTC intervals (user_id unset)."""
    zone = ZoneInfo(zone_name)
    # Start a day early: a window that opened yesterday evening may still be open at `start`.
    first_opening = datetime.combine(_local(start, zone).date(), restriction.start) - ONE_DAY
    rule = rrule(
        DAILY, dtstart=first_opening, byweekday=restriction.weekdays, until=_local(end, zone) + ONE_DAY, cache=False
    )
    windows = []
    for opens in rule:
        closes = datetime.combine(opens.date(), restriction.end)
        if closes <= opens:
            closes = datetime.combine(opens.date() + ONE_DAY, restriction.end)
        window = Shift(_aware(opens, zone), _aware(closes, zone), None)
        if window.end > start and window.start < end:
            windows.append(window)
    return windows


def _intersect(shifts: list[Shift], windows: list[Shift]) -> list[Shift]:
    out, j = [], 0
    for shift in shifts:
        while j < len(windows) and windows[j].end <= shift.start:
            j += 1
        k = j
        while k < len(windows) and windows[k].start < shift.end:
            lo, hi = max(shift.start, windows[k].start), min(shift.end, windows[k].end)
            if lo < hi:
                out.append(Shift(lo, hi, shift.user_id, shift.source, shift.layer_id))
            k += 1
    return out


def layer_shifts(layer: LayerSpec, start: datetime, end: datetime) -> list[Shift]:
    """The layer's shifts overlapping [start, end), restrictions applied (not clipped to the window)."""
    shifts = rotation_shifts(layer, start, end)
    if layer.restriction is None or not shifts:
        return shifts
    windows = restriction_windows(layer.restriction, layer.time_zone, shifts[0].start, shifts[-1].end)
    return [s for s in _intersect(shifts, windows) if s.end > start and s.start < end]


def _clip(shifts: Iterable[Shift], start: datetime, end: datetime) -> list[Shift]:
    return [
        Shift(max(s.start, start), min(s.end, end), s.user_id, s.source, s.layer_id, s.override_id)
        for s in shifts
        if s.end > start and s.start < end
    ]


def final_shifts(schedule: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call over [start, end): overrides over every layer, higher layers over lower ones, and
    the gaps (user_id None) where no one is. Adjacent pieces with the same person and source are joined."""
    # Each source is a sorted list of non-overlapping shifts; the first that covers an instant wins.
    overrides = sorted(
        (o for o in schedule.overrides if o.end > start and o.start < end), key=lambda o: o.created_at, reverse=True
    )
    # The newest override wins where two overlap: flattened first into one source of their own.
    override_sources = [[Shift(o.start, o.end, o.user_id, "override", None, o.override_id)] for o in overrides]
    sources: list[list[Shift]] = [_sweep(override_sources, start, end, gaps=False)] if overrides else []
    for layer in sorted(schedule.layers, key=lambda spec: (-spec.priority, spec.layer_id)):
        sources.append(_clip(layer_shifts(layer, start, end), start, end))
    return _sweep(sources, start, end, gaps=True)


def _sweep(sources: list[list[Shift]], start: datetime, end: datetime, *, gaps: bool) -> list[Shift]:
    """Walk every boundary once; the first source covering a piece wins it. Gaps as user None if asked."""
    cuts = {start, end}
    for source in sources:
        for shift in source:
            cuts.add(shift.start)
            cuts.add(shift.end)
    points = sorted(c for c in cuts if start <= c <= end)
    pointers = [0] * len(sources)
    result: list[Shift] = []
    for lo, hi in zip(points, points[1:], strict=False):
        winner = None
        for n, source in enumerate(sources):
            p = pointers[n]
            while p < len(source) and source[p].end <= lo:
                p += 1
            pointers[n] = p
            if p < len(source) and source[p].start <= lo:
                winner = source[p]
                break
        if winner is None and not gaps:
            continue
        piece = (
            Shift(lo, hi, winner.user_id, winner.source, winner.layer_id, winner.override_id)
            if winner
            else Shift(lo, hi, None)
        )
        last = result[-1] if result else None
        if (
            last
            and last.end == piece.start
            and (last.user_id, last.source, last.layer_id, last.override_id)
            == (piece.user_id, piece.source, piece.layer_id, piece.override_id)
        ):
            result[-1] = Shift(last.start, piece.end, last.user_id, last.source, last.layer_id, last.override_id)
        else:
            result.append(piece)
    return result


def on_call_at(schedule: ScheduleSpec, instant: datetime) -> Shift:
    """The shift (or gap) in force at the instant."""
    return final_shifts(schedule, instant, instant + relativedelta(seconds=+1))[0]


def gaps(schedule: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    return [s for s in final_shifts(schedule, start, end) if s.is_gap]


def handoffs(shifts: list[Shift]) -> list[tuple[datetime, int | None, int | None]]:
    """(instant, outgoing user, incoming user) wherever the person on call changes."""
    out = []
    for before, after in zip(shifts, shifts[1:], strict=False):
        if before.user_id != after.user_id:
            out.append((after.start, before.user_id, after.user_id))
    return out
