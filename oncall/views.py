"""Calendar feeds at secret per-user URLs: calendar apps subscribe without a login, so the token is the key."""

from __future__ import annotations

from datetime import timedelta

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from .calendars import shifts_calendar
from .models import CalendarToken, Schedule
from .rotation import final_shifts
from .selectors import display_name, schedule_spec, schedules_with_rows, user_shifts, users_by_id

PAST = timedelta(days=14)
AHEAD = timedelta(days=90)


def _owner(token: str):
    found = CalendarToken.objects.select_related("user").filter(token=token).first()
    if found is None or not found.user.is_active or not found.user.is_staff:
        raise Http404("No such calendar.")
    return found.user


def _ics(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=300"
    return response


@require_GET
def user_calendar(request, token: str):
    """Every shift the token's owner has, in every schedule, overrides applied."""
    user = _owner(token)
    now = timezone.now()
    found = user_shifts(user=user, start=now - PAST, end=now + AHEAD)
    entries = [(spec.name, spec.schedule_id, shift) for spec, shift in found]
    body = shifts_calendar(name=f"On call: {display_name(user)}", entries=entries, users={user.pk: user})
    return _ics(body, "my-on-call-shifts.ics")


@require_GET
def schedule_calendar(request, token: str, schedule_id: int):
    """Who is on call in one schedule (gaps left out)."""
    _owner(token)
    now = timezone.now()
    start, end = now - PAST, now + AHEAD
    schedule = get_object_or_404(schedules_with_rows(Schedule.objects.filter(pk=schedule_id), start=start, end=end))
    spec = schedule_spec(schedule)
    shifts = [s for s in final_shifts(spec, start, end) if not s.is_gap]
    users = users_by_id(s.user_id for s in shifts)
    body = shifts_calendar(name=schedule.name, entries=[(spec.name, spec.schedule_id, s) for s in shifts], users=users)
    return _ics(body, f"on-call-{schedule.pk}.ics")
