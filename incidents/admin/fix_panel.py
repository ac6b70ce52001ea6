"""The incident page's containment-now button, kill-switch state, fix check and eval gate.

A mixin for IncidentAdmin, like the investigation cards, using its `_visible_or_404` and `_run` helpers.
"""

from __future__ import annotations

from django.http import HttpResponseNotAllowed
from django.urls import path
from django.utils.functional import lazy

from incidents import containment_types
from incidents.constants import IncidentState, RootCauseLayer
from incidents.models import Incident
from incidents.services import incident_contain_now
from incidents.services.containment import one_click_containment
from incidents.services.evals import incident_eval_status, policy_for
from incidents.services.flags import switch_truth


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
        """One click: the service decides what to record and records it; the message says what it did."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        contained = []

        def success() -> str:  # read once the service has run: it names what this click recorded
            labels = " + ".join(action.get_action_type_display() for action in contained[0].contained_with)
            return f"Contained: {labels or 'the containment already recorded'}. {incident.reference} is now Contained."

        return self._run(
            request,
            pk,
            lambda: contained.append(incident_contain_now(incident_id=incident.pk, actor=request.user)),
            lazy(success, str)(),
        )

    def fix_panel_context(self, request, incident: Incident) -> dict:
        switch = switch_truth(incident)
        statuses = incident_eval_status(incident)
        policy = policy_for(incident.severity)
        layer_mismatch = bool(
            incident.fix_layer and incident.root_cause_layer and incident.fix_layer != incident.root_cause_layer
        )
        # The red card is for an incident not yet contained: once it is (or has moved past containment),
        # lifting a containment is a decision, not an emergency, and the card stays away.
        one_click = (
            one_click_containment(incident) if incident.state in (IncidentState.DETECTED, IncidentState.TRIAGED) else []
        )
        kinds = [containment_types.get(value) for value in one_click]
        default = incident.triage_rule.default_containment if incident.triage_rule else []
        return {
            "contain_now": [kind.label for kind in kinds],
            "contain_now_turns_switch_off": any(kind.turns_feature_off for kind in kinds) and switch.is_on,
            # the triage matrix default as the containment card names it, in running text
            "default_containment_names": [containment_types.short(value) for value in default],
            "can_contain_now": request.user.has_perm("incidents.add_containmentaction")
            and request.user.has_perm("incidents.change_killswitch"),
            "kill_switch": switch,
            "switch_key": switch.flag_key,
            "switch_holds": switch.active_holds,
            "switch_warnings": switch.warnings,
            "eval_statuses": statuses,
            "eval_policy": policy,
            "layer_mismatch": layer_mismatch,
            "root_cause_layer_label": RootCauseLayer(incident.root_cause_layer).label
            if incident.root_cause_layer
            else "",
            "fix_layer_label": RootCauseLayer(incident.fix_layer).label if incident.fix_layer else "",
        }
