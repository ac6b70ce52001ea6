from .containment import ContainmentAction
from .detection import (
    Alert,
    AlertDedupKey,
    AlertIntegration,
    AlertPayload,
    AlertRoutingRule,
    AlertState,
    PayloadStatus,
    ReportSource,
    ReportState,
    UserReport,
)
from .features import AIFeature
from .findings import CommonFinding, Finding
from .incident import Incident, IncidentQuerySet
from .notifications import EscalationPolicy, Notification, Page, StakeholderContact
from .timeline import TimelineEntry
from .tokens import ApiToken, hash_token
from .triage import TriageRule

__all__ = [
    "Alert",
    "AlertDedupKey",
    "AlertIntegration",
    "AlertPayload",
    "AlertRoutingRule",
    "AlertState",
    "PayloadStatus",
    "ReportSource",
    "ReportState",
    "UserReport",
    "AIFeature",
    "ApiToken",
    "CommonFinding",
    "ContainmentAction",
    "EscalationPolicy",
    "Finding",
    "Incident",
    "IncidentQuerySet",
    "Notification",
    "Page",
    "StakeholderContact",
    "TimelineEntry",
    "TriageRule",
    "hash_token",
]
