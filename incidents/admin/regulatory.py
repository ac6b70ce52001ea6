"""Regulatory regimes (editable), obligations with their deadlines, and the incident page's card.

Deadlines are stored in UTC and shown in the reader's time zone: the zone of the reader's own
stakeholder contact when they have one, else the site's TIME_ZONE, next to the zone the rule counts in.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, F, OuterRef
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.utils.html import format_html

from incidents.constants import ContactState
from incidents.deadlines import ClockFrom, ClockStart, OpensOn
from incidents.models import (
    DeadlineRule,
    DecisionState,
    Incident,
    ObligationState,
    Regime,
    RegulatoryObligation,
    StakeholderContact,
)
from incidents.selectors import visible_incidents
from incidents.services import record_save
from incidents.services.regulatory import (
    obligation_amend,
    obligation_request,
    obligation_start_clock,
    obligation_submit,
    obligation_waive,
    reportability_confirm,
    reportability_decide,
    reportability_reject,
)
from incidents.templatetags.fireline import duration

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


# --- forms ----------------------------------------------------------------------------------------


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


# --- the incident page card ----------------------------------------------------------------------


class RegulatoryAdminMixin:
    """For IncidentAdmin: the Regulatory card, its decision form and the submit/waive buttons."""

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path(
                "<int:pk>/regulatory/decide/", view(self.regulatory_decide_view), name="incidents_incident_reg_decide"
            ),
            path(
                "<int:pk>/regulatory/decisions/<int:decision_id>/<str:verdict>/",
                view(self.regulatory_review_view),
                name="incidents_incident_reg_review",
            ),
            path(
                "<int:pk>/regulatory/obligations/<int:obligation_id>/<str:action>/",
                view(self.regulatory_obligation_view),
                name="incidents_incident_reg_obligation",
            ),
        ]
        return own + super().get_urls()

    def regulatory_decide_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        form = _bound(DecisionForm, request)
        if not form.is_valid():
            self.message_user(request, "Decision not recorded. " + _errors(form), messages.ERROR)
            return self._back(pk)
        data = form.cleaned_data
        return self._run(
            request,
            pk,
            lambda: reportability_decide(
                incident_id=incident.pk,
                regimes=list(data["regimes"]),
                variants=list(data["variants"]),
                reason=data["reason"],
                triggers=form.triggers(),
                actor=request.user,
            ),
            "Reportability recorded: the clocks are running.",
        )

    def regulatory_review_view(self, request, pk, decision_id, verdict):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        if verdict not in ("confirm", "reject") or not incident.reportability.filter(pk=decision_id).exists():
            raise Http404("No such decision.")
        if verdict == "confirm":
            return self._run(
                request,
                pk,
                lambda: reportability_confirm(decision_id=decision_id, actor=request.user),
                "Proposal confirmed.",
            )
        reason = (request.POST.get("reason") or "").strip()
        return self._run(
            request,
            pk,
            lambda: reportability_reject(decision_id=decision_id, reason=reason, actor=request.user),
            "Proposal rejected; its obligations are waived.",
        )

    def regulatory_obligation_view(self, request, pk, obligation_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        if action not in ("submit", "waive") or not incident.regulatory_obligations.filter(pk=obligation_id).exists():
            raise Http404("No such obligation.")
        if action == "waive":
            form = WaiveForm(request.POST)
            if not form.is_valid():
                self.message_user(request, "Give the reason for waiving it.", messages.ERROR)
                return self._back(pk)
            return self._run(
                request,
                pk,
                lambda: obligation_waive(
                    obligation_id=obligation_id, reason=form.cleaned_data["reason"], actor=request.user
                ),
                "Obligation waived.",
            )
        form = _bound(SubmitForm, request)
        if not form.is_valid():
            self.message_user(request, "Submission not recorded. " + _errors(form), messages.ERROR)
            return self._back(pk)
        kwargs = _submit_kwargs(request, form)
        return self._run(
            request,
            pk,
            lambda: obligation_submit(obligation_id=obligation_id, **kwargs),
            "Submission recorded.",
        )

    def regulatory_context(self, request, incident: Incident) -> dict:
        user = request.user
        now = timezone.now()
        # One query when the incident has no obligation yet (the common case): the rules, for the
        # decision form, each marked with whether this incident already owes a report under it.
        rules = list(
            DeadlineRule.objects.select_related("regime")
            .annotate(on_incident=Exists(RegulatoryObligation.objects.filter(incident=incident, rule=OuterRef("pk"))))
            .order_by("regime__name", "order", "pk")
        )
        rows, decisions, zone = [], [], None
        if any(rule.on_incident for rule in rules):
            zone = user_time_zone(user)
            obligations = incident.regulatory_obligations.select_related(
                "rule__regime", "submitted_by", "waived_by"
            ).order_by(F("deadline").asc(nulls_last=True), "pk")  # "clock not started" last, on any database
            rows = [
                {
                    "obligation": o,
                    "deadline_local": local_text(o.deadline, zone),
                    "deadline_rule_zone": local_text(o.deadline, zoneinfo.ZoneInfo(o.rule.regime.time_zone)),
                    "time_left": time_left_text(o, now),
                    "is_overdue": o.is_overdue(now),
                    "colour": "red" if o.is_overdue(now) else OBLIGATION_COLOURS[o.state],
                }
                for o in obligations
            ]
            decisions = list(
                incident.reportability.select_related("decided_by", "reviewed_by").prefetch_related("regimes")
            )
        can_decide = user.has_perm("incidents.add_reportabilitydecision") and not incident.is_drill
        return {
            "reg_rows": rows,
            "reg_any_overdue": any(r["is_overdue"] for r in rows),
            "reg_decisions": decisions,
            "reg_zone": str(zone) if zone else "",
            "reg_proposed": DecisionState.PROPOSED,
            "reg_decision_form": DecisionForm(rules=rules) if can_decide else None,
            "reg_can_decide": can_decide,
            "reg_can_review": user.has_perm("incidents.confirm_reportabilitydecision"),
            "reg_can_submit": user.has_perm("incidents.submit_regulatoryobligation"),
            "reg_can_waive": user.has_perm("incidents.waive_regulatoryobligation"),
        }


# --- regimes and obligations ---------------------------------------------------------------------


class DeadlineRuleInline(admin.StackedInline):
    model = DeadlineRule
    fk_name = "regime"
    extra = 0
    fields = [
        ("code", "name", "order"),
        "citation",
        ("count", "unit", "due_local_time"),
        ("holiday_country", "holiday_subdivision"),
        ("is_target", "is_variant", "replaces_default"),
        "condition",
        "after",
        ("reminder_percentages", "reminder_hours_before"),
    ]


RULE_FIELDS = [
    "code",
    "name",
    "citation",
    "count",
    "unit",
    "holiday_country",
    "holiday_subdivision",
    "due_local_time",
    "is_target",
    "is_variant",
    "replaces_default",
    "condition",
    "after",
    "reminder_percentages",
    "reminder_hours_before",
    "order",
]


@admin.register(Regime)
class RegimeAdmin(admin.ModelAdmin):
    list_display = ["name", "citation", "clock_start", "audience", "time_zone", "rule_count", "is_active"]
    list_filter = ["audience", "clock_start", "is_active"]
    search_fields = ["name", "code", "citation"]
    inlines = [DeadlineRuleInline]
    audited_fields = [
        "code",
        "name",
        "citation",
        "clock_start",
        "clock_start_note",
        "audience",
        "recipient",
        "time_zone",
        "is_active",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("rules")

    def has_delete_permission(self, request, obj=None):
        return False  # obligations point at its rules: deactivate instead

    @admin.display(description="rules")
    def rule_count(self, obj):
        return len(obj.rules.all())

    def save_model(self, request, obj, form, change):
        record_save(instance=obj, actor=request.user, fields=self.audited_fields)

    def save_formset(self, request, form, formset, change):
        for rule in formset.save(commit=False):
            record_save(instance=rule, actor=request.user, fields=RULE_FIELDS)
        formset.save_m2m()


class OverdueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("open", "Open, not overdue")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.filter(state=ObligationState.OPEN, deadline__lte=now)
        if self.value() == "open":
            return queryset.filter(state=ObligationState.OPEN).exclude(deadline__lte=now)
        return queryset


@admin.register(RegulatoryObligation)
class RegulatoryObligationAdmin(admin.ModelAdmin):
    change_form_template = "admin/incidents/regulatoryobligation/change_form.html"
    list_display = [
        "incident_ref",
        "rule_name",
        "regime_citation",
        "state_badge",
        "deadline_shown",
        "time_left",
        "pdf_link",
    ]
    list_filter = [OverdueFilter, "state", "rule__regime"]
    list_select_related = ["incident", "rule__regime"]
    search_fields = ["rule__name", "rule__regime__name", "submission_reference"]
    ordering = ["deadline"]
    readonly_fields = [
        "incident",
        "decision",
        "rule",
        "state_badge",
        "rule_summary",
        "follows",
        "clock_started_at",
        "clock_basis",
        "deadline_shown",
        "time_left",
        "recipient",
        "submitted_at",
        "submitted_to",
        "submission_reference",
        "is_incomplete",
        "is_ongoing",
        "requested_by",
        "requested_at",
        "submitted_by",
        "report_file",
        "report_sha256",
        "waived_at",
        "waived_by",
        "waive_reason",
        "pdf_link",
    ]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(incident__in=visible_incidents(user=request.user))

    def has_add_permission(self, request):
        return False  # obligations come from a reportability decision

    def has_change_permission(self, request, obj=None):
        return False  # submit and waive are the only changes, through their buttons

    def has_delete_permission(self, request, obj=None):
        return False

    def _in_user_zone(self, request, render):
        # Deadlines in the reader's zone: rendered inside the override, since a TemplateResponse
        # would otherwise render after it ends. The override is per thread, unlike the ModelAdmin.
        with timezone.override(user_time_zone(request.user)):
            response = render()
            if hasattr(response, "render"):
                response.render()
        return response

    def changelist_view(self, request, extra_context=None):
        return self._in_user_zone(
            request, lambda: super(RegulatoryObligationAdmin, self).changelist_view(request, extra_context)
        )

    @admin.display(description="incident", ordering="incident_id")
    def incident_ref(self, obj):
        url = reverse("admin:incidents_incident_change", args=[obj.incident_id])
        return format_html('<a href="{}">{}</a>', url, obj.incident.reference)

    @admin.display(description="report PDF")
    def pdf_link(self, obj):
        url = reverse("regulator-pdf", args=[obj.incident_id, obj.rule.regime.code]) + f"?step={obj.pk}"
        return format_html('<a href="{}">Report PDF</a>', url)

    @admin.display(description="obligation", ordering="rule__name")
    def rule_name(self, obj):
        return obj.step_name

    @admin.display(description="regime", ordering="rule__regime__name")
    def regime_citation(self, obj):
        return obj.rule.regime.citation

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return format_html(
            '<span class="fl-state fl-{}">{}</span>', OBLIGATION_COLOURS[obj.state], obj.get_state_display()
        )

    @admin.display(description="deadline", ordering="deadline")
    def deadline_shown(self, obj):
        text = local_text(obj.deadline, timezone.get_current_timezone())
        if obj.is_target and obj.deadline:
            text += " (internal target)"
        if obj.is_overdue():
            return format_html('<b class="fl-overdue" style="color:#c00">{}</b>', text)
        return text

    @admin.display(description="time left")
    def time_left(self, obj):
        text = time_left_text(obj, timezone.now())
        if obj.is_overdue():
            return format_html('<b class="fl-overdue" style="color:#c00">{}</b>', text)
        return text

    def get_urls(self):
        own = [
            re_path(
                r"^(?P<pk>\d+)/(?P<action>submit|waive|request|amend|clock)/$",
                self.admin_site.admin_view(self.action_view),
                name="incidents_regulatoryobligation_action",
            )
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obligation = self.get_queryset(request).filter(pk=object_id).first()
        if obligation is not None:
            rule = obligation.rule
            opens = set(DeadlineRule.objects.filter(regime_id=rule.regime_id).values_list("opens_on", flat=True))
            extra_context.update(
                {
                    "obligation": obligation,
                    "reg_submit_form": SubmitForm(obligation=obligation),
                    "reg_can_submit": request.user.has_perm("incidents.submit_regulatoryobligation"),
                    "reg_can_waive": request.user.has_perm("incidents.waive_regulatoryobligation"),
                    "reg_request_form": RequestForm() if OpensOn.REQUEST in opens else None,
                    "reg_amend_form": AmendForm()
                    if OpensOn.AMENDMENT in opens and obligation.state == ObligationState.SUBMITTED
                    else None,
                    "reg_clock_form": ClockEventForm()
                    if rule.clock_from == ClockFrom.EVENT
                    and obligation.clock_started_at is None
                    and obligation.state == ObligationState.OPEN
                    else None,
                    "reg_pdf_url": reverse("regulator-pdf", args=[obligation.incident_id, rule.regime.code])
                    + f"?step={obligation.pk}",
                    "reg_chain": list(
                        obligation.incident.regulatory_obligations.filter(rule__regime_id=rule.regime_id)
                        .select_related("rule")
                        .order_by("rule__order", "sequence", "pk")
                    ),
                }
            )
        return self._in_user_zone(
            request,
            lambda: super(RegulatoryObligationAdmin, self).change_view(request, object_id, form_url, extra_context),
        )

    def action_view(self, request, pk, action):
        pk = int(pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in ("submit", "waive", "request", "amend", "clock"):
            raise Http404("No such action.")
        obligation = self.get_queryset(request).select_related("rule__regime").filter(pk=pk).first()
        if obligation is None:
            raise Http404("No such obligation.")
        back = HttpResponseRedirect(reverse("admin:incidents_regulatoryobligation_change", args=[pk]))
        if action in ("request", "amend", "clock"):
            self._chain_action(request, obligation, action)
            return back
        if action == "waive":
            form = WaiveForm(request.POST)
            if form.is_valid():
                _run(
                    self,
                    request,
                    lambda: obligation_waive(obligation_id=pk, reason=form.cleaned_data["reason"], actor=request.user),
                    "Obligation waived.",
                )
            else:
                self.message_user(request, "Give the reason for waiving it.", messages.ERROR)
        else:
            form = _bound(SubmitForm, request, obligation=obligation)
            if form.is_valid():
                kwargs = _submit_kwargs(request, form)
                _run(self, request, lambda: obligation_submit(obligation_id=pk, **kwargs), "Submission recorded.")
            else:
                self.message_user(request, "Submission not recorded. " + _errors(form), messages.ERROR)
        return back

    def _chain_action(self, request, obligation: RegulatoryObligation, action: str) -> None:
        """The next report of a chain: an authority's request, an amendment, or the event its clock counts from."""
        if action == "request":
            form = _bound(RequestForm, request)
            if not form.is_valid():
                self.message_user(request, "Request not recorded. " + _errors(form), messages.ERROR)
                return
            data = form.cleaned_data
            _run(
                self,
                request,
                lambda: obligation_request(
                    obligation_id=obligation.pk,
                    requested_by=data["requested_by"],
                    requested_at=data["requested_at"],
                    due_at=data["due_at"],
                    actor=request.user,
                ),
                "Request recorded: the report it asks for is open, with its deadline.",
            )
        elif action == "amend":
            form = AmendForm(request.POST)
            if not form.is_valid():
                self.message_user(request, "Say what the amended report adds or corrects.", messages.ERROR)
                return
            _run(
                self,
                request,
                lambda: obligation_amend(
                    obligation_id=obligation.pk, reason=form.cleaned_data["reason"], actor=request.user
                ),
                "Amended report opened.",
            )
        else:
            form = _bound(ClockEventForm, request)
            if not form.is_valid():
                self.message_user(request, "Clock not started. " + _errors(form), messages.ERROR)
                return
            data = form.cleaned_data
            _run(
                self,
                request,
                lambda: obligation_start_clock(
                    obligation_id=obligation.pk, at=data["at"], evidence=data["evidence"], actor=request.user
                ),
                "Clock started.",
            )
