from .containment import ContainmentAction
from .features import AIFeature
from .incident import Incident, IncidentQuerySet
from .notifications import EscalationPolicy, Notification, Page, StakeholderContact
from .timeline import TimelineEntry
from .tokens import ApiToken, hash_token
from .triage import TriageRule

__all__ = [
    "AIFeature",
    "ApiToken",
    "ContainmentAction",
    "EscalationPolicy",
    "Incident",
    "IncidentQuerySet",
    "Notification",
    "Page",
    "StakeholderContact",
    "TimelineEntry",
    "TriageRule",
    "hash_token",
]
