"""The incident list's columns (also read-only fields on the incident page), and the state colours."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from incidents.constants import IncidentState
from incidents.text import format_duration as duration

# Each state's badge colour, on the incident list and the incident page.
STATE_COLOURS = {
    IncidentState.DETECTED: "red",
    IncidentState.TRIAGED: "orange",
    IncidentState.CONTAINED: "amber",
    IncidentState.INVESTIGATING: "amber",
    IncidentState.FIXED: "blue",
    IncidentState.VERIFIED: "blue",
    IncidentState.POSTMORTEM: "purple",
    IncidentState.CLOSED: "green",
    IncidentState.DISMISSED: "grey",
}


class IncidentColumnsAdminMixin:
    """The incident admin's list columns: reference, state and severity badges, feature, clocks, triage."""

    @admin.display(description="ref", ordering="id")
    def reference_link(self, obj):
        return obj.reference

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return format_html('<span class="fl-state fl-{}">{}</span>', STATE_COLOURS[obj.state], obj.get_state_display())

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, obj):
        if not obj.severity:
            return format_html('<span class="fl-sev fl-none">{}</span>', "untriaged")
        return format_html('<span class="fl-sev fl-{}">{}</span>', obj.severity.lower(), obj.severity)

    @admin.display(description="feature", ordering="feature__key")
    def feature_key(self, obj):
        return obj.feature.key

    @admin.display(description="open for")
    def time_open(self, obj):
        return duration(obj.time_open())

    @admin.display(description="restricted", boolean=True, ordering="is_restricted")
    def restricted(self, obj):
        return obj.is_restricted

    @admin.display(description="triage matrix says")
    def triage_outcome(self, obj):
        rule = obj.triage_rule
        if rule is None:
            return "Set the category to get a severity from the triage matrix."
        text = (
            f"{obj.get_category_display()} × {obj.get_impact_display()} → {rule.severity}; "
            f"page within {rule.page_within_minutes} min; post-mortem "
            f"{'required' if rule.requires_postmortem else 'optional'}"
        )
        if obj.severity_override:
            text += f". Overridden to {obj.severity_override}: {obj.severity_override_reason}"
        return text
