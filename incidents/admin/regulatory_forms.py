"""The regulatory forms (decision, submission, request, amendment, clock event, waiver), the helpers that
run them, and deadlines shown in the reader's time zone: the zone of the reader's own stakeholder
contact when they have one, else the site's TIME_ZONE.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from incidents.constants import ContactState
from incidents.deadlines import ClockStart, OpensOn
from incidents.models import (
    DeadlineRule,
    ObligationState,
    Regime,
    RegulatoryObligation,
    StakeholderContact,
)
from incidents.text import format_duration as duration

from .forms import error_text as _error_text

OBLIGATION_COLOURS = {ObligationState.OPEN: "amber", ObligationState.SUBMITTED: "green", ObligationState.WAIVED: "grey"}


def user_time_zone(user) -> zoneinfo.ZoneInfo:
    name = (
        StakeholderContact.objects.filter(user_id=getattr(user, "pk", None))
        .exclude(state=ContactState.RETIRED)
        .values_list("time_zone", flat=True)
        .first()
    )
    try:
        return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def local_text(moment: datetime | None, zone) -> str:
    if moment is None:
        return "—"
    return timezone.localtime(moment, zone).strftime("%Y-%m-%d %H:%M %Z")


def time_left_text(obligation: RegulatoryObligation, now: datetime) -> str:
    if obligation.deadline is None:
        return "clock not started"
    if not obligation.is_open:
        return ""
    left = obligation.deadline - now
    return f"overdue by {duration(-left)}" if left.total_seconds() <= 0 else f"{duration(left)} left"


class DecisionForm(forms.Form):
    regimes = forms.ModelMultipleChoiceField(
        queryset=Regime.objects.none(), widget=forms.CheckboxSelectMultiple, required=False
    )
    variants = forms.ModelMultipleChoiceField(
        queryset=DeadlineRule.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Pick a variant only when its condition holds; it may replace the regime's standard deadline.",
    )
    # One clock start per trigger: each regime counts from its own (EU regimes from awareness, SB 53 from
    # discovery, Form 8-K from the materiality determination), each with its instant and its evidence.
    aware_at = forms.DateTimeField(
        label="Aware at",
        required=False,
        help_text="AI Act, GDPR, NIS2: when the organisation became aware, in your time zone. Empty: detection time.",
    )
    aware_evidence = forms.CharField(
        label="Evidence of awareness", required=False, max_length=2000, help_text="e.g. the alert acknowledged."
    )
    discovered_at = forms.DateTimeField(
        label="Discovered at", required=False, help_text="SB 53: when it was discovered. Empty: detection time."
    )
    discovery_evidence = forms.CharField(label="Evidence of discovery", required=False, max_length=2000)
    materiality_at = forms.DateTimeField(
        label="Determined material at",
        required=False,
        help_text="Form 8-K: when the incident was determined to be material (required for the SEC).",
    )
    materiality_evidence = forms.CharField(
        label="Evidence of the determination",
        required=False,
        max_length=2000,
        help_text="e.g. the disclosure committee's minutes.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)

    def triggers(self) -> dict:
        data = self.cleaned_data
        return {
            ClockStart.AWARENESS: (data.get("aware_at"), data.get("aware_evidence", "")),
            ClockStart.DISCOVERY: (data.get("discovered_at"), data.get("discovery_evidence", "")),
            ClockStart.MATERIALITY: (data.get("materiality_at"), data.get("materiality_evidence", "")),
        }

    def __init__(self, *args, rules=None, **kwargs):
        kwargs.setdefault("auto_id", "id_reg_%s")
        super().__init__(*args, **kwargs)
        self.fields["regimes"].queryset = Regime.objects.filter(is_active=True).order_by("name")
        self.fields["variants"].queryset = DeadlineRule.objects.filter(is_variant=True, regime__is_active=True)
        if rules is not None:
            # Choices from rules the caller already read: the incident page stays at a fixed query count.
            regimes = {r.regime_id: r.regime for r in rules if r.regime.is_active}
            self.fields["regimes"].choices = [
                (r.pk, f"{r.name} ({r.citation})") for r in sorted(regimes.values(), key=lambda r: r.name)
            ]
            self.fields["variants"].choices = [
                (v.pk, f"{v.regime.citation}: {v.name}. {v.condition}")
                for v in rules
                if v.is_variant and v.regime.is_active
            ]


class SubmitForm(forms.Form):
    submitted_to = forms.CharField(max_length=300, required=False, help_text="Empty: the regime's recipient.")
    reference = forms.CharField(max_length=300, required=False, help_text="The authority's case or filing number.")
    submitted_at = forms.DateTimeField(required=False, help_text="In your time zone; empty for now.")
    report_file = forms.FileField(required=False, help_text="The exact document sent (kept with its SHA-256).")
    is_incomplete = forms.BooleanField(
        label="Sent incomplete: the rest follows",
        required=False,
        help_text="AI Act Art. 73(5), GDPR Art. 33(4), Form 8-K Instruction 2: opens the follow-up report.",
    )
    is_ongoing = forms.BooleanField(
        label="The incident is still ongoing (progress report)",
        required=False,
        help_text="NIS2 Art. 23(4)(e): opens the final report due a month after the incident is handled.",
    )

    def __init__(self, *args, obligation=None, **kwargs):
        kwargs.setdefault("auto_id", "id_submit_%s")
        super().__init__(*args, **kwargs)
        if obligation is not None:
            # Offer only what this regime's chain has.
            opens = set(
                DeadlineRule.objects.filter(regime_id=obligation.rule.regime_id).values_list("opens_on", flat=True)
            )
            if OpensOn.INCOMPLETE not in opens:
                del self.fields["is_incomplete"]
            if not DeadlineRule.objects.filter(after_id=obligation.rule_id, opens_on=OpensOn.ONGOING).exists():
                del self.fields["is_ongoing"]


class RequestForm(forms.Form):
    requested_by = forms.CharField(max_length=300, required=False, help_text="The authority. Empty: the recipient.")
    requested_at = forms.DateTimeField(required=False, help_text="In your time zone; empty for now.")
    due_at = forms.DateTimeField(help_text="The deadline the request sets, in your time zone.")


class AmendForm(forms.Form):
    reason = forms.CharField(max_length=5000, help_text="What the amended report adds or corrects.")


class ClockEventForm(forms.Form):
    at = forms.DateTimeField(help_text="In your time zone.")
    evidence = forms.CharField(max_length=2000, help_text="What shows it.")


class WaiveForm(forms.Form):
    reason = forms.CharField(max_length=5000)


def _errors(form) -> str:
    return " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())


def _run(modeladmin, request, func, success: str) -> None:
    try:
        func()
    except PermissionDenied as exc:
        modeladmin.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
    except ValidationError as exc:
        modeladmin.message_user(request, _error_text(exc), messages.ERROR)
    else:
        modeladmin.message_user(request, success, messages.SUCCESS)


def _submit_kwargs(request, form) -> dict:
    data = form.cleaned_data
    return {
        "submitted_to": data["submitted_to"],
        "reference": data["reference"],
        "submitted_at": data["submitted_at"],
        "report_file": data["report_file"],
        "is_incomplete": data.get("is_incomplete", False),
        "is_ongoing": data.get("is_ongoing", False),
        "actor": request.user,
    }


def _bound(form_class, request, **kwargs):
    # Naive times typed by the user are in the user's zone.
    with timezone.override(user_time_zone(request.user)):
        form = form_class(request.POST, request.FILES, **kwargs)
        form.is_valid()
    return form
