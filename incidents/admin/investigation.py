"""The incident page's investigation cards: what changed, evidence, findings.

A mixin for IncidentAdmin, so the commander's page stays one screen while this part lives here.
It uses IncidentAdmin's `_visible_or_404` and `_run` helpers.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils.http import urlencode

from audit.trail.charts import what_changed_svg
from audit.trail.investigation import (
    evidence_integrity,
    incident_propose_change_hypotheses,
    incident_what_changed,
)
from incidents.constants import RootCauseLayer
from incidents.models import CommonFinding, Incident
from incidents.services import finding_record

# The audit-trail search opened from an incident looks at the hours around when it started.
SEARCH_BEFORE = timedelta(hours=2)
SEARCH_AFTER = timedelta(hours=1)


class FindingForm(forms.Form):
    layer = forms.ChoiceField(choices=[("", "Choose the layer…"), *RootCauseLayer.choices])
    common_finding = forms.ChoiceField(
        label="Common finding", choices=CommonFinding.choices, initial=CommonFinding.OTHER
    )
    text = forms.CharField(
        label="Finding",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What was found, and the evidence that shows it"}),
        max_length=10000,
    )
    is_root_cause = forms.BooleanField(label="This is the root cause", required=False)

    def __init__(self, *args, **kwargs):
        # Its own ids: the incident page has other forms with a "text" field.
        kwargs.setdefault("auto_id", "id_finding_%s")
        super().__init__(*args, **kwargs)


def audit_search_url(incident: Incident) -> str:
    anchor = incident.occurred_at or incident.detected_at
    query = {
        "feature__id__exact": incident.feature_id,
        "occurred_at__gte": (anchor - SEARCH_BEFORE).isoformat(timespec="seconds"),
        "occurred_at__lt": (anchor + SEARCH_AFTER).isoformat(timespec="seconds"),
        "incident": incident.pk,
    }
    return reverse("admin:audit_auditrecord_changelist") + "?" + urlencode(query)


class InvestigationAdminMixin:
    def investigation_urls(self):
        return [
            path(
                "<int:pk>/findings/",
                self.admin_site.admin_view(self.finding_view),
                name="incidents_incident_finding",
            ),
            path(
                "<int:pk>/what-changed/",
                self.admin_site.admin_view(self.what_changed_view),
                name="incidents_incident_what_changed",
            ),
        ]

    def investigation_context(self, request, incident: Incident) -> dict:
        user = request.user
        context = {
            "findings": list(incident.findings.select_related("actor")),
            "finding_form": FindingForm(),
            "can_record_finding": user.has_perm("incidents.add_finding") and incident.is_open,
            "can_view_findings": user.has_perm("incidents.view_finding"),
            "can_view_evidence": user.has_perm("audit.view_evidence"),
            "can_search_trail": user.has_perm("audit.view_auditrecord"),
        }
        if context["can_view_evidence"]:
            # The incident came through the admin's visible queryset: no second visibility check.
            checked = evidence_integrity(incident)
            context["evidence"] = checked
            context["evidence_changed"] = [e for e, is_intact in checked if not is_intact]
            context["replay_url"] = reverse("audit-incident-replay", args=[incident.pk])
        if context["can_search_trail"]:
            changed = incident_what_changed(incident=incident)
            marks = [(incident.occurred_at, "started"), (incident.detected_at, "detected")]
            context.update(
                {
                    "audit_search_url": audit_search_url(incident),
                    "what_changed": changed,
                    "what_changed_models": what_changed_svg(changed, dimension="model", marks=marks),
                    "what_changed_prompts": what_changed_svg(changed, dimension="prompt", marks=marks),
                    "can_propose": user.has_perm("incidents.add_timelineentry"),
                }
            )
        return context

    def finding_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        form = FindingForm(request.POST)
        if not form.is_valid():
            errors = " ".join(
                f"{form.fields[name].label or name.capitalize() if name in form.fields else 'Form'}: {' '.join(e)}"
                for name, e in form.errors.items()
            )
            self.message_user(request, "Finding not recorded. " + errors, messages.ERROR)
            return self._back(pk)
        data = form.cleaned_data
        return self._run(
            request,
            pk,
            lambda: finding_record(
                incident_id=incident.pk,
                layer=data["layer"],
                common_finding=data["common_finding"],
                text=data["text"],
                is_root_cause=data["is_root_cause"],
                actor=request.user,
            ),
            "Finding recorded" + (" as the root cause." if data["is_root_cause"] else "."),
        )

    def what_changed_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        try:
            created = incident_propose_change_hypotheses(incident_id=incident.pk, actor=request.user)
        except Incident.DoesNotExist as exc:
            raise Http404("No such incident.") from exc
        except PermissionDenied as exc:
            self.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
            return self._back(pk)
        if created:
            self.message_user(
                request,
                f"{len(created)} version{pluralize(len(created))} first seen in the window "
                "added to the timeline as hypotheses.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, "Nothing new to propose: no version first seen in the window.", messages.INFO)
        return self._back(pk)
