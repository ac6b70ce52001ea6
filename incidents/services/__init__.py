from .containment import (
    containment_hand_over,
    containment_record,
    containment_revert,
    incident_close_settled,
    incident_contain_now,
    incident_dismiss_settled,
    incident_end_drill,
)
from .errors import IncidentChanged
from .findings import finding_record
from .incidents import (
    TRANSITION_LABELS,
    TRANSITION_SERVICES,
    incident_close,
    incident_contain,
    incident_dismiss,
    incident_investigate,
    incident_investigate_without_containment,
    incident_mark_fixed,
    incident_open,
    incident_reopen,
    incident_start_postmortem,
    incident_triage,
    incident_update,
    incident_verify,
    transition_blockers,
    transition_options,
)
from .records import record_save
from .reports import report_attach, report_dismiss, report_open_incident, report_submit
from .timeline import timeline_add_note
from .tokens import api_token_create
from .triage import incident_impact, triage_apply, triage_rule_for

__all__ = [
    "TRANSITION_LABELS",
    "TRANSITION_SERVICES",
    "IncidentChanged",
    "api_token_create",
    "containment_hand_over",
    "containment_record",
    "containment_revert",
    "finding_record",
    "incident_close",
    "incident_contain",
    "incident_dismiss",
    "incident_impact",
    "incident_investigate",
    "incident_close_settled",
    "incident_dismiss_settled",
    "incident_contain_now",
    "incident_end_drill",
    "incident_investigate_without_containment",
    "incident_mark_fixed",
    "incident_open",
    "incident_reopen",
    "incident_start_postmortem",
    "incident_triage",
    "incident_update",
    "incident_verify",
    "record_save",
    "report_attach",
    "report_dismiss",
    "report_open_incident",
    "report_submit",
    "timeline_add_note",
    "transition_blockers",
    "transition_options",
    "triage_apply",
    "triage_rule_for",
]
