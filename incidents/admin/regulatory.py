"""Regulatory regimes (editable with their deadline rules) and the obligations list and page.

Deadlines are stored in UTC and shown in the reader's time zone next to the zone the rule counts in.
The forms live in `regulatory_forms`, the incident page's card in `regulatory_card`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import re_path, reverse
from django.utils import timezone
from django.utils.html import format_html

from incidents.deadlines import ClockFrom, OpensOn
from incidents.models import (
    DeadlineRule,
    ObligationState,
    Regime,
    RegulatoryObligation,
)
from incidents.selectors import visible_incidents
from incidents.services import record_save
from incidents.services.regulatory import (
    obligation_amend,
    obligation_request,
    obligation_start_clock,
    obligation_submit,
    obligation_waive,
)

from .regulatory_forms import (
    OBLIGATION_COLOURS,
    AmendForm,
    ClockEventForm,
    RequestForm,
    SubmitForm,
    WaiveForm,
    _bound,
    _errors,
    _run,
    _submit_kwargs,
    local_text,
    time_left_text,
    user_time_zone,
)


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
