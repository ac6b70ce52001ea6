"""The incident page's containment-now button, kill-switch state, fix check and eval gate.

A mixin for IncidentAdmin, like the investigation cards, using its `_visible_or_404` and `_run` helpers.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpResponseNotAllowed
from django.urls import path

from incidents.constants import ContainmentType, RootCauseLayer
from incidents.models import Incident, KillSwitch
from incidents.services import containment_record
from incidents.services.evals import incident_eval_status, policy_for

# What one click can do without asking: the rest of the default needs parameters from a person.
ONE_CLICK = (ContainmentType.FEATURE_FLAG_OFF, ContainmentType.FALLBACK)


def one_click_containment(incident: Incident) -> list[str]:
    if incident.severity not in ("SEV1", "SEV2") or incident.triage_rule is None or not incident.is_open:
        return []
    active = set(incident.containment_actions.filter(reverted_at__isnull=True).values_list("action_type", flat=True))
    return [t for t in incident.triage_rule.default_containment if t in ONE_CLICK and t not in active]


class FixPanelAdminMixin:
    def get_urls(self):
        own = [
            path(
                "<int:pk>/contain-now/",
                self.admin_site.admin_view(self.contain_now_view),
                name="incidents_incident_contain_now",
            ),
        ]
        return own + super().get_urls()

    def contain_now_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        types = one_click_containment(incident)

        @transaction.atomic
        def contain():
            for action_type in types:
                parameters = {}
                if action_type == ContainmentType.FALLBACK:
                    parameters = {
                        "fallback": (incident.feature.fallback_description or "the documented fallback")[:200]
                    }
                containment_record(
                    incident_id=incident.pk,
                    action_type=action_type,
                    parameters=parameters,
                    description="One click from the incident page (triage matrix default).",
                    actor=request.user,
                )

        labels = " + ".join(ContainmentType(t).label for t in types) or "nothing left to do"
        return self._run(request, pk, contain, f"Contained: {labels}.")

    def fix_panel_context(self, request, incident: Incident) -> dict:
        # a read, never a write: a feature whose switch was never touched is on, at version 0
        switch = KillSwitch.objects.filter(feature=incident.feature).first() or KillSwitch(
            feature=incident.feature, is_on=True, version=0
        )
        statuses = incident_eval_status(incident)
        policy = policy_for(incident.severity)
        layer_mismatch = bool(
            incident.fix_layer and incident.root_cause_layer and incident.fix_layer != incident.root_cause_layer
        )
        return {
            "contain_now": [ContainmentType(t).label for t in one_click_containment(incident)],
            "can_contain_now": request.user.has_perm("incidents.add_containmentaction")
            and request.user.has_perm("incidents.change_killswitch"),
            "kill_switch": switch,
            "eval_statuses": statuses,
            "eval_policy": policy,
            "layer_mismatch": layer_mismatch,
            "root_cause_layer_label": RootCauseLayer(incident.root_cause_layer).label
            if incident.root_cause_layer
            else "",
            "fix_layer_label": RootCauseLayer(incident.fix_layer).label if incident.fix_layer else "",
        }
