"""Schedules as a schedule editor would set them up in the admin."""

from datetime import date, time

from oncall.models import Layer, LayerMember, Schedule


def make_schedule(name="AI on-call", *, zone="UTC", layers=()):
    """layers: dicts of Layer fields plus `members` (users in rotation order)."""
    schedule = Schedule.objects.create(name=name, time_zone=zone)
    for n, spec in enumerate(layers or [{}]):
        spec = dict(spec)
        members = spec.pop("members", [])
        spec.setdefault("name", f"layer {n + 1}")
        spec.setdefault("priority", n + 1)
        spec.setdefault("time_zone", zone)
        spec.setdefault("rotation_start", date(2026, 3, 2))
        spec.setdefault("handoff_time", time(9))
        spec.setdefault("length", "weekly")
        layer = Layer.objects.create(schedule=schedule, **spec)
        LayerMember.objects.bulk_create(LayerMember(layer=layer, user=u, position=i) for i, u in enumerate(members))
    return schedule
