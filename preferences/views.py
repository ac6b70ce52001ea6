"""Where a person sets their own time zone, and where the admin pages report the browser's zone and
which incident-page cards were opened or closed."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http import HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from .services import (
    preference_get,
    preference_set_card,
    preference_set_time_zone,
    server_time_zone,
    time_zone_names,
)


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Your time zone",
        choices=(),
        error_messages={
            "required": "Choose a time zone.",
            "invalid_choice": "%(value)s is not a time zone name such as Europe/Berlin.",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(z, z.replace("_", " ")) for z in time_zone_names()]


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
    return {"__all__": exc.messages}


@require_http_methods(["GET", "POST"])
def preferences(request):
    pref = preference_get(user=request.user)
    current = pref.time_zone if pref and pref.time_zone else ""
    form = TimeZoneForm(request.POST or None, initial={"time_zone": current or server_time_zone()})
    if request.method == "POST" and form.is_valid():
        try:
            preference_set_time_zone(user=request.user, time_zone=form.cleaned_data["time_zone"], request=request)
        except ValidationError as exc:
            form.add_error("time_zone", _errors(exc).get("time_zone", exc.messages))
        else:
            messages.success(request, f"Times are now shown in {form.cleaned_data['time_zone']}.")
            return HttpResponseRedirect(reverse("preferences:preferences"))
    context = {
        **admin.site.each_context(request),
        "title": "Your preferences",
        "subtitle": None,
        "form": form,
        "current": current,
        "source": pref.get_time_zone_source_display() if pref and pref.time_zone else "",
        "server_zone": server_time_zone(),
        "now": timezone.now(),
    }
    return TemplateResponse(request, "preferences/preferences.html", context, status=400 if form.errors else 200)


@require_POST
def browser_time_zone(request):
    """The browser's zone, sent once by the admin pages of someone who has no zone yet."""
    try:
        pref = preference_set_time_zone(
            user=request.user, time_zone=request.POST.get("time_zone", ""), from_browser=True, request=request
        )
    except ValidationError as exc:
        return JsonResponse({"errors": _errors(exc)}, status=400)
    return JsonResponse({"time_zone": pref.time_zone, "source": pref.time_zone_source})


@require_POST
def card_state(request):
    """A card on the incident page was opened or closed: remember it for this person."""
    state = request.POST.get("open", "")
    if state not in ("0", "1"):
        return JsonResponse({"errors": {"open": ["Send open=1 or open=0."]}}, status=400)
    try:
        preference_set_card(
            user=request.user,
            page=request.POST.get("page", ""),
            card=request.POST.get("card", ""),
            is_open=state == "1",
            request=request,
        )
    except ValidationError as exc:
        return JsonResponse({"errors": _errors(exc)}, status=400)
    except OperationalError:
        # SQLite refuses a write while another holds the lock (cards toggled at once): the card just is
        # not remembered this time, which the page tolerates; it is never a 500.
        return JsonResponse({"errors": {"__all__": ["Busy: not remembered this time."]}}, status=503)
    return JsonResponse({"ok": True})
