from .incident import IncidentAdmin
from .reference import AIFeatureAdmin, ApiTokenAdmin, TriageRuleAdmin

__all__ = ["AIFeatureAdmin", "ApiTokenAdmin", "IncidentAdmin", "TriageRuleAdmin"]
