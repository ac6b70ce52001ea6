"""Reads: schedules as specs, who is on call, gaps. A fixed number of queries whatever the number of rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from .constants import OverrideState
from .models import ImportedShift, Layer, LayerMember, Override, Schedule
from .rotation import (
    LayerSpec,
    OverrideSpec,
    Restriction,
    ScheduleSpec,
    Shift,
    final_shifts,
    layer_shifts,
    on_call_at,
)

GAP_HORIZON = timedelta(days=7)


def schedules_with_rows(queryset: QuerySet[Schedule] | None = None, *, start=None, end=None) -> QuerySet[Schedule]:
    """Schedules with their layers, members, imported shifts and active overrides: five queries in all."""
    queryset = Schedule.objects.all() if queryset is None else queryset
    overrides = Override.objects.filter(state=OverrideState.ACTIVE)
    imported = ImportedShift.objects.all()
    if start is not None and end is not None:
        overrides = overrides.filter(ends_at__gt=start, starts_at__lt=end)
        imported = imported.filter(ends_at__gt=start, starts_at__lt=end)
    return queryset.prefetch_related(
        Prefetch("layers", queryset=Layer.objects.order_by("-priority", "pk")),
        Prefetch("layers__memberships", queryset=LayerMember.objects.order_by("position")),
        Prefetch("layers__imported_shifts", queryset=imported.order_by("starts_at")),
        Prefetch("overrides", queryset=overrides, to_attr="active_overrides"),
    )


def layer_spec(layer: Layer) -> LayerSpec:
    restriction = None
    if layer.restrict_weekdays and layer.restrict_start is not None and layer.restrict_end is not None:
        restriction = Restriction(tuple(sorted(layer.restrict_weekdays)), layer.restrict_start, layer.restrict_end)
    imported = None
    if layer.is_imported:
        imported = [
            Shift(s.starts_at, s.ends_at, s.user_id, layer.name, layer.pk)
            for s in layer.imported_shifts.all()
            if s.user_id is not None
        ]
    return LayerSpec(
        layer_id=layer.pk,
        name=layer.name,
        priority=layer.priority,
        time_zone=layer.time_zone,
        rotation_start=layer.rotation_start,
        handoff_time=layer.handoff_time,
        length=layer.length,
        interval=layer.interval,
        members=[m.user_id for m in layer.memberships.all()],
        restriction=restriction,
        imported=imported,
    )


def schedule_spec(schedule: Schedule, *, with_overrides: bool = True) -> ScheduleSpec:
    """The spec of a schedule loaded through schedules_with_rows."""
    overrides = getattr(schedule, "active_overrides", None)
    if overrides is None:
        overrides = list(schedule.overrides.filter(state=OverrideState.ACTIVE))
    return ScheduleSpec(
        schedule_id=schedule.pk,
        name=schedule.name,
        time_zone=schedule.time_zone,
        layers=[layer_spec(layer) for layer in schedule.layers.all()],
        overrides=[OverrideSpec(o.pk, o.user_id, o.starts_at, o.ends_at, o.created_at) for o in overrides]
        if with_overrides
        else [],
    )


def schedule_specs(*, ids=None, start=None, end=None) -> list[ScheduleSpec]:
    queryset = Schedule.objects.all() if ids is None else Schedule.objects.filter(pk__in=ids)
    return [schedule_spec(s) for s in schedules_with_rows(queryset, start=start, end=end)]


def users_by_id(ids) -> dict:
    ids = {i for i in ids if i is not None}
    return {u.pk: u for u in get_user_model().objects.filter(pk__in=ids)} if ids else {}


def display_name(user) -> str:
    if user is None:
        return "no one"
    return user.get_full_name() or user.get_username()


@dataclass
class OnCallNow:
    schedule_id: int
    schedule_name: str
    shift: Shift
    user: object | None
    next_change: datetime | None  # when this shift (or gap) ends, within the horizon looked at

    @property
    def name(self) -> str:
        return display_name(self.user)


def on_call_now_list(*, now: datetime | None = None, ids=None) -> list[OnCallNow]:
    """For every schedule: who is on call now and until when (looked at over the next 7 days)."""
    now = now or timezone.now()
    specs = schedule_specs(ids=ids, start=now, end=now + GAP_HORIZON)
    rows = []
    for spec in specs:
        shifts = final_shifts(spec, now, now + GAP_HORIZON)
        current = shifts[0]
        rows.append(OnCallNow(spec.schedule_id, spec.name, current, current.user_id, current.end))
    people = users_by_id(row.user for row in rows)
    for row in rows:
        row.user = people.get(row.user)
        row.next_change = row.next_change if row.next_change < now + GAP_HORIZON else None
    return rows


@dataclass
class ScheduleGap:
    schedule_id: int
    schedule_name: str
    start: datetime
    end: datetime


def gap_list(*, now: datetime | None = None, horizon: timedelta = GAP_HORIZON) -> list[ScheduleGap]:
    """Every stretch in the next 7 days when a schedule has no one on call, soonest first."""
    now = now or timezone.now()
    found = []
    for spec in schedule_specs(start=now, end=now + horizon):
        for shift in final_shifts(spec, now, now + horizon):
            if shift.is_gap:
                found.append(ScheduleGap(spec.schedule_id, spec.name, shift.start, shift.end))
    return sorted(found, key=lambda g: (g.start, g.schedule_name))


def who_is_on_call(*, schedule_id: int, at: datetime) -> int | None:
    """The user id on call on the schedule at the instant (None in a gap)."""
    specs = schedule_specs(ids=[schedule_id], start=at, end=at + timedelta(seconds=1))
    return on_call_at(specs[0], at).user_id if specs else None


@dataclass
class TimelineRow:
    label: str
    shifts: list[Shift]
    is_final: bool = False


def schedule_timeline(*, schedule: Schedule, start: datetime, end: datetime) -> list[TimelineRow]:
    """The rows of the schedule page's timeline: who is on call (final) first, then each layer and overrides."""
    schedule = schedules_with_rows(Schedule.objects.filter(pk=schedule.pk), start=start, end=end).get()
    spec = schedule_spec(schedule)
    rows = [TimelineRow("On call", final_shifts(spec, start, end), is_final=True)]
    for layer in spec.layers:
        label = f"{layer.name} (layer {layer.priority})"
        rows.append(TimelineRow(label, [_clipped(s, start, end) for s in layer_shifts(layer, start, end)]))
    rows.append(
        TimelineRow(
            "Overrides",
            sorted(
                (
                    _clipped(Shift(o.start, o.end, o.user_id, "override", None, o.override_id), start, end)
                    for o in spec.overrides
                    if o.end > start and o.start < end
                ),
                key=lambda s: s.start,
            ),
        )
    )
    return rows


def _clipped(shift: Shift, start: datetime, end: datetime) -> Shift:
    return Shift(
        max(shift.start, start), min(shift.end, end), shift.user_id, shift.source, shift.layer_id, shift.override_id
    )


def user_shifts(*, user, start: datetime, end: datetime) -> list[tuple[ScheduleSpec, Shift]]:
    """The user's own shifts in every schedule (as the final timeline has them: overrides applied)."""
    found = []
    for spec in schedule_specs(start=start, end=end):
        for shift in final_shifts(spec, start, end):
            if shift.user_id == user.pk:
                found.append((spec, shift))
    return found
