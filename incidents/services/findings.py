"""Findings: what the investigation found, at which layer; the root cause feeds the "fixed" guard."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import Truncator

from audit import services as audit
from audit.actors import actor_user
from incidents.constants import RootCauseLayer, TimelineKind
from incidents.models import CommonFinding, Finding, Incident
from incidents.selectors import incident_is_visible

from .incidents import incident_update
from .workflow import timeline_add

FINDING_FIELDS = ["incident", "layer", "common_finding", "text", "is_root_cause"]


def _root_cause_text(finding: Finding) -> str:
    if finding.common_finding == CommonFinding.OTHER:
        return finding.text
    return f"{finding.get_common_finding_display()}. {finding.text}"


@transaction.atomic
def finding_record(
    *, incident_id: int, layer: str, common_finding: str, text: str, is_root_cause: bool, actor
) -> Finding:
    """Record a finding; marked as the root cause, it becomes the incident's root cause and layer.

    Only one finding is the root cause at a time: marking a new one unmarks the others. The incident's
    root cause is written through `incident_update`, so the edit is logged like any other and the
    `has_root_cause` guard of "Mark fixed" reads it.
    """
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if not incident_is_visible(user=actor, incident=incident):
        raise Incident.DoesNotExist("No incident with that id.")
    if not actor.has_perm("incidents.add_finding"):
        raise PermissionDenied("You may not record findings.")
    if is_root_cause and not actor.has_perm("incidents.change_incident"):
        raise PermissionDenied("Marking the root cause edits the incident, and you may not edit incidents.")
    if not incident.is_open:
        raise ValidationError(f"{incident.reference} is {incident.get_state_display().lower()}: reopen it first.")
    errors = {}
    text = (text or "").strip()
    if not text:
        errors["text"] = "Write what was found and the evidence that shows it."
    if layer not in RootCauseLayer.values:
        errors["layer"] = "Choose the layer: prompt, model, retrieval, moderation, architecture, tool/agent or data."
    common_finding = common_finding or CommonFinding.OTHER
    if common_finding not in CommonFinding.values:
        errors["common_finding"] = "Choose one of the playbook's common findings, or other."
    if errors:
        raise ValidationError(errors)

    finding = Finding(
        incident=incident,
        layer=layer,
        common_finding=common_finding,
        text=text,
        is_root_cause=bool(is_root_cause),
        actor=actor_user(actor),
    )
    finding.full_clean()
    if finding.is_root_cause:
        for previous in incident.findings.select_for_update().filter(is_root_cause=True):
            previous.is_root_cause = False
            previous.save(update_fields=["is_root_cause"])
            audit.log_changed(
                actor=actor,
                target=previous,
                before={"is_root_cause": True},
                after={"is_root_cause": False},
                incident=incident,
            )
    finding.save()
    audit.log_created(actor=actor, target=finding, values=audit.snapshot(finding, FINDING_FIELDS), incident=incident)
    summary = Truncator(text).chars(300)
    label = "" if common_finding == CommonFinding.OTHER else f"{finding.get_common_finding_display()}. "
    timeline_add(
        incident,
        kind=TimelineKind.CHANGE,
        actor=actor,
        text=f"Finding ({finding.get_layer_display().lower()}): {label}{summary}"
        + (" — marked as the root cause" if finding.is_root_cause else ""),
    )
    if finding.is_root_cause:
        incident_update(
            incident_id=incident.pk,
            changes={"root_cause_layer": finding.layer, "root_cause": _root_cause_text(finding)},
            actor=actor,
        )
    return finding
