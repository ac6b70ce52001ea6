from django.db import models

# The containment types are declared once, in incidents.containment_types; this name is kept for imports.
from incidents.containment_types import ContainmentType  # noqa: F401


class Category(models.TextChoices):
    HARMFUL_OUTPUT = "harmful_output", "Harmful output"
    DATA_LEAK = "data_leak", "Data leak"
    FACTUAL_MISINFORMATION = "factual_misinformation", "Factual misinformation"
    UNAUTHORIZED_ACTION = "unauthorized_action", "Unauthorized action (agent)"
    SCALE_DEGRADATION = "scale_degradation", "Scale degradation"
    CAPABILITY_LOSS = "capability_loss", "Capability loss"


CATEGORY_HELP = {
    Category.HARMFUL_OUTPUT: (
        "The model produced toxic, dangerous, biased or otherwise harmful content that reached users."
    ),
    Category.DATA_LEAK: "The model revealed personal data, secrets, another user's content or its system prompt.",
    Category.FACTUAL_MISINFORMATION: (
        "The model stated made-up or wrong facts with confidence (hallucination) that users relied on."
    ),
    Category.UNAUTHORIZED_ACTION: (
        "An agent took an action it was not allowed or asked to take: a tool call, a purchase, a deletion."
    ),
    Category.SCALE_DEGRADATION: (
        "Quality dropped for many users at once: a model or prompt change, drift, a retrieval outage."
    ),
    Category.CAPABILITY_LOSS: (
        "The feature refuses, errors or times out: over-refusal, provider outage, quota or latency."
    ),
}


class DetectionSignal(models.TextChoices):
    MONITORING_ALERT = "monitoring_alert", "Monitoring alert"
    USER_REPORT = "user_report", "User report"
    EXTERNAL_ATTENTION = "external_attention", "External attention (press, social media, regulator)"
    INTERNAL_DISCOVERY = "internal_discovery", "Internal discovery"


class Impact(models.TextChoices):
    """The impact axis of the triage matrix, from least to most severe."""

    LIMITED = "limited", "Limited: few users, not public"
    WIDESPREAD = "widespread", "Widespread: many users affected"
    PUBLIC = "public", "Public: outside attention"
    REGULATORY = "regulatory", "Regulatory: personal data or a legal duty involved"


class Severity(models.TextChoices):
    SEV1 = "SEV1", "SEV1 — critical"
    SEV2 = "SEV2", "SEV2 — major"
    SEV3 = "SEV3", "SEV3 — moderate"
    SEV4 = "SEV4", "SEV4 — minor"


LOW_SEVERITIES = {Severity.SEV3, Severity.SEV4}


class IncidentState(models.TextChoices):
    DETECTED = "detected", "Detected"
    TRIAGED = "triaged", "Triaged"
    CONTAINED = "contained", "Contained"
    INVESTIGATING = "investigating", "Investigating"
    FIXED = "fixed", "Fixed"
    VERIFIED = "verified", "Verified"
    POSTMORTEM = "postmortem", "Post-mortem"
    CLOSED = "closed", "Closed"
    DISMISSED = "dismissed", "Dismissed"


OPEN_STATES = [
    IncidentState.DETECTED,
    IncidentState.TRIAGED,
    IncidentState.CONTAINED,
    IncidentState.INVESTIGATING,
    IncidentState.FIXED,
    IncidentState.VERIFIED,
    IncidentState.POSTMORTEM,
]


class DismissReason(models.TextChoices):
    FALSE_ALARM = "false_alarm", "False alarm"
    DUPLICATE = "duplicate", "Duplicate of another incident"


class RootCauseLayer(models.TextChoices):
    PROMPT = "prompt", "Prompt"
    MODEL = "model", "Model"
    RETRIEVAL = "retrieval", "Retrieval"
    MODERATION = "moderation", "Moderation"
    ARCHITECTURE = "architecture", "Architecture"
    TOOL = "tool", "Tool / agent"
    DATA = "data", "Data"


class StakeholderRole(models.TextChoices):
    LEADERSHIP = "leadership", "Leadership"
    LEGAL = "legal", "Legal"
    PR = "pr", "PR / communications"
    ENGINEERING_ON_CALL = "engineering_on_call", "Engineering on-call"
    PRIVACY_OFFICER = "privacy_officer", "Privacy officer"
    CUSTOMER_SUPPORT = "customer_support", "Customer support"
    EXTERNAL_FORENSICS = "external_forensics", "External forensics"
    EXTERNAL_COMMUNICATIONS = "external_communications", "External communications"
    REGULATOR_LIAISON = "regulator_liaison", "Regulator liaison"


class Audience(models.TextChoices):
    """Who a communication is written for. Not `incidents.deadlines.ReportRecipient` (who a regime's
    report goes to) nor `incidents.exports.audience.AudienceClass` (how far an export item may reach).
    """

    INTERNAL = "internal", "Internal"
    AFFECTED_USERS = "affected_users", "Affected users"
    PUBLIC = "public", "Public (status page)"
    REGULATOR = "regulator", "Regulators"


class TimelineKind(models.TextChoices):
    OPENED = "opened", "Opened"
    TRANSITION = "transition", "State change"
    CONTAINMENT = "containment", "Containment"
    NOTE = "note", "Note"
    CHANGE = "change", "Change"
    ALERT = "alert", "Alert"
    PAGE = "page", "Page"
    ESCALATION = "escalation", "Escalation"
    ACKNOWLEDGEMENT = "ack", "Acknowledged"
    DELIVERY_FAILED = "delivery_failed", "Not delivered"


class ApiScope(models.TextChoices):
    ALERTS = "alerts", "alerts"
    REPORTS = "reports", "reports"
    AUDIT = "audit", "audit"
    EVALS = "evals", "evals"
    FLAGS = "flags", "flags"
    INCIDENTS = "incidents", "incidents"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat webhook (Slack-compatible)"
    WEBHOOK = "webhook", "JSON webhook (HMAC-signed)"
    FLAG = "flag", "Kill-switch webhook (HMAC-signed, per feature)"
    EVENT = "event", "Lifecycle event webhook (HMAC-signed, per subscription)"


class ContactState(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    VERIFIED = "verified", "Verified"
    STALE = "stale", "Stale"
    RETIRED = "retired", "Retired"


class PageState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    ESCALATED = "escalated", "Escalated"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class NotificationState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    FAILED = "failed", "Failed"


class PublicStatus(models.TextChoices):
    """What the status page says about an incident: Statuspage's four words, never Fireline's own states."""

    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


# The one mapping from an incident's state to its public word, used by the status page, its Atom feed
# and the public update drafts alike. Only a closed incident is Resolved: until then a fix is deployed
# and watched (verified, post-mortem), so the public is told Monitoring. "Post-mortem" or "Verified"
# mean nothing to the public, and "Dismissed" would read as a brush-off; a dismissed incident is never
# on the status page, and a draft written for one says Resolved.
PUBLIC_STATUS = {
    IncidentState.DETECTED: PublicStatus.INVESTIGATING,
    IncidentState.TRIAGED: PublicStatus.INVESTIGATING,
    IncidentState.CONTAINED: PublicStatus.IDENTIFIED,
    IncidentState.INVESTIGATING: PublicStatus.IDENTIFIED,
    IncidentState.FIXED: PublicStatus.MONITORING,
    IncidentState.VERIFIED: PublicStatus.MONITORING,
    IncidentState.POSTMORTEM: PublicStatus.MONITORING,
    IncidentState.CLOSED: PublicStatus.RESOLVED,
    IncidentState.DISMISSED: PublicStatus.RESOLVED,
}
