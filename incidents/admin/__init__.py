from . import alerts, flags_evals, reports  # noqa: F401 - registers their admins
from .incident import IncidentAdmin
from .notifications import EscalationPolicyAdmin, NotificationAdmin, PageAdmin, StakeholderContactAdmin
from .reference import AIFeatureAdmin, ApiTokenAdmin, TriageRuleAdmin
from .regulatory import RegimeAdmin, RegulatoryObligationAdmin

__all__ = [
    "AIFeatureAdmin",
    "ApiTokenAdmin",
    "EscalationPolicyAdmin",
    "IncidentAdmin",
    "NotificationAdmin",
    "PageAdmin",
    "RegimeAdmin",
    "RegulatoryObligationAdmin",
    "StakeholderContactAdmin",
    "TriageRuleAdmin",
]
