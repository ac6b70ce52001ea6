"""The triage matrix: category x impact -> severity -> response."""

from __future__ import annotations

from django.conf import settings

from incidents.constants import DetectionSignal, Impact
from incidents.models import Incident, TriageRule


def incident_impact(*, is_public: bool, involves_privacy: bool, users_affected: int, detection_signal: str) -> Impact:
    """The highest impact level that applies. External attention makes an incident public."""
    if involves_privacy:
        return Impact.REGULATORY
    if is_public or detection_signal == DetectionSignal.EXTERNAL_ATTENTION:
        return Impact.PUBLIC
    if users_affected >= settings.FIRELINE_WIDESPREAD_USERS:
        return Impact.WIDESPREAD
    return Impact.LIMITED


def triage_rule_for(*, category: str, impact: str) -> TriageRule | None:
    if not category:
        return None
    return TriageRule.objects.filter(category=category, impact=impact).first()


def triage_apply(incident: Incident) -> None:
    """Set impact, matrix cell, severity and the response duties on an (unsaved) incident."""
    incident.impact = incident_impact(
        is_public=incident.is_public,
        involves_privacy=incident.involves_privacy,
        users_affected=incident.users_affected or 0,
        detection_signal=incident.detection_signal,
    )
    rule = triage_rule_for(category=incident.category, impact=incident.impact)
    incident.triage_rule = rule
    incident.severity = incident.severity_override or (rule.severity if rule else "")
    incident.requires_postmortem = rule.requires_postmortem if rule else False
    incident.required_communications = list(rule.required_communications) if rule else []
