from . import alerts, flags_evals, reports  # noqa: F401 - registers their admins
from .incident import IncidentAdmin
from .notifications import EscalationPolicyAdmin, NotificationAdmin, PageAdmin, StakeholderContactAdmin
from .reference import AIFeatureAdmin, ApiTokenAdmin, TriageRuleAdmin

__all__ = [
    "AIFeatureAdmin",
    "ApiTokenAdmin",
    "EscalationPolicyAdmin",
    "IncidentAdmin",
    "NotificationAdmin",
    "PageAdmin",
    "StakeholderContactAdmin",
    "TriageRuleAdmin",
]
