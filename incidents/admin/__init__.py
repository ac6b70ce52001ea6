from . import alerts, flags_evals, reports  # noqa: F401 - registers their admins
from .action_items import ActionItemAdmin, DistributionListAdmin
from .communications import CommunicationAdmin, CommunicationTemplateAdmin
from .incident import IncidentAdmin
from .notifications import EscalationPolicyAdmin, NotificationAdmin, PageAdmin, StakeholderContactAdmin
from .organisation import OrganisationProfileAdmin
from .postmortems import LearningAdmin, PostMortemAdmin, PostMortemTemplateAdmin
from .reference import AIFeatureAdmin, ApiTokenAdmin, TriageRuleAdmin
from .regulatory import RegimeAdmin, RegulatoryObligationAdmin

__all__ = [
    "AIFeatureAdmin",
    "ActionItemAdmin",
    "DistributionListAdmin",
    "CommunicationAdmin",
    "CommunicationTemplateAdmin",
    "ApiTokenAdmin",
    "EscalationPolicyAdmin",
    "IncidentAdmin",
    "NotificationAdmin",
    "OrganisationProfileAdmin",
    "LearningAdmin",
    "PageAdmin",
    "PostMortemAdmin",
    "PostMortemTemplateAdmin",
    "RegimeAdmin",
    "RegulatoryObligationAdmin",
    "StakeholderContactAdmin",
    "TriageRuleAdmin",
]
