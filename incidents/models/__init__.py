from .actions import ActionItem, ActionItemKind, ActionItemReminder, ActionItemSource, ActionItemState
from .communications import Communication, CommunicationState, CommunicationTemplate
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
from .evals import EvalCase, EvalRun, VerificationPolicy, wilson_upper_bound
from .features import AIFeature
from .findings import CommonFinding, Finding
from .flags import HoldKind, KillSwitch, KillSwitchHold
from .incident import Incident, IncidentQuerySet
from .notifications import ContactChannel, EscalationPolicy, Notification, Page, StakeholderContact
from .organisation import OrganisationProfile
from .postmortems import (
    DistributionList,
    Learning,
    LearningScope,
    PostMortem,
    PostMortemApproval,
    PostMortemRevision,
    PostMortemState,
    PostMortemTemplate,
    ReviewerRole,
)
from .regulatory import (
    DeadlineRule,
    DecisionState,
    ObligationState,
    Regime,
    RegulatoryObligation,
    RegulatoryReminder,
    ReportabilityDecision,
)
from .timeline import TimelineEntry
from .tokens import ApiToken, hash_token
from .triage import TriageRule

__all__ = [
    "ActionItem",
    "ActionItemKind",
    "ActionItemReminder",
    "ActionItemSource",
    "ActionItemState",
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
    "VerificationPolicy",
    "AIFeature",
    "ApiToken",
    "CommonFinding",
    "Communication",
    "CommunicationState",
    "CommunicationTemplate",
    "ContactChannel",
    "ContainmentAction",
    "DeadlineRule",
    "DecisionState",
    "EvalCase",
    "EvalRun",
    "EscalationPolicy",
    "Finding",
    "Incident",
    "HoldKind",
    "KillSwitch",
    "KillSwitchHold",
    "IncidentQuerySet",
    "Notification",
    "ObligationState",
    "Page",
    "Learning",
    "LearningScope",
    "PostMortem",
    "PostMortemApproval",
    "PostMortemRevision",
    "OrganisationProfile",
    "DistributionList",
    "ReviewerRole",
    "PostMortemState",
    "PostMortemTemplate",
    "Regime",
    "RegulatoryObligation",
    "RegulatoryReminder",
    "ReportabilityDecision",
    "StakeholderContact",
    "TimelineEntry",
    "TriageRule",
    "hash_token",
    "wilson_upper_bound",
]
