from .containment import ContainmentAction
from .features import AIFeature
from .incident import Incident, IncidentQuerySet
from .timeline import TimelineEntry
from .tokens import ApiToken, hash_token
from .triage import TriageRule

__all__ = [
    "AIFeature",
    "ApiToken",
    "ContainmentAction",
    "Incident",
    "IncidentQuerySet",
    "TimelineEntry",
    "TriageRule",
    "hash_token",
]
