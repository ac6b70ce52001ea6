"""The incident page's regulatory card: the reportability decision, Legal's review of a proposal and
each obligation's actions, mixed into the incident admin.
"""

from __future__ import annotations

import zoneinfo

from django.contrib import messages
from django.db.models import Exists, F, OuterRef
from django.http import Http404, HttpResponseNotAllowed
from django.urls import path
from django.utils import timezone

from incidents.models import (
    DeadlineRule,
    DecisionState,
    Incident,
    RegulatoryObligation,
)
from incidents.services.regulatory import (
    obligation_submit,
    obligation_waive,
    reportability_confirm,
    reportability_decide,
    reportability_reject,
)

from .regulatory_forms import (
    OBLIGATION_COLOURS,
    DecisionForm,
    SubmitForm,
    WaiveForm,
    _bound,
    _errors,
    _submit_kwargs,
    local_text,
    time_left_text,
    user_time_zone,
)


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
