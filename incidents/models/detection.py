"""Detection: monitoring alerts and user reports, stored raw first, then routed to incidents."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from incidents.constants import Category, Impact


class AlertIntegration(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    GRAFANA = "grafana", "Grafana Alerting"
    GENERIC = "generic", "Generic JSON"


class PayloadStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed to parse"


class AlertState(models.TextChoices):
    ROUTED = "routed", "Routed to an incident"
    INBOX = "inbox", "In the inbox"
    DISMISSED = "dismissed", "Dismissed"


class AlertPayload(models.Model):
    """Exactly what a monitor sent, kept before anything reads it: nothing accepted is ever lost."""

    integration = models.CharField(max_length=16, choices=AlertIntegration.choices)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    content_type = models.CharField(max_length=200, blank=True)
    body = models.TextField(help_text="The raw body as received (UTF-8, undecodable bytes replaced).")
    token = models.ForeignKey("incidents.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=PayloadStatus.choices, default=PayloadStatus.RECEIVED)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        # Payloads that failed are the ones a person looks for; the processed ones of a storm are not
        # indexed by status, so they do not pay for it on insert.
        indexes = [
            models.Index(fields=["received_at"], name="alertpayload_failed", condition=Q(status=PayloadStatus.FAILED))
        ]

    def __str__(self) -> str:
        return f"{self.get_integration_display()} payload #{self.pk} ({self.get_status_display().lower()})"


class AlertRoutingRule(models.Model):
    """Labels -> AI feature, category, impact. The first matching rule, by position, routes an alert."""

    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=100, help_text="Lower positions are tried first.")
    matchers = models.JSONField(
        default=dict, help_text='Labels that must all match, e.g. {"signal": "refusal_rate"}. "*" matches any value.'
    )
    feature = models.ForeignKey(
        "incidents.AIFeature",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="routing_rules",
        help_text="Leave empty to take the feature from the alert's feature label.",
    )
    feature_label = models.CharField(
        max_length=64, default="ai_feature", help_text="The label naming the AI feature's key."
    )
    category = models.CharField(max_length=32, choices=Category.choices)
    impact = models.CharField(max_length=16, choices=Impact.choices, default=Impact.LIMITED)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name

    def matches(self, labels: dict) -> bool:
        for name, wanted in self.matchers.items():
            value = labels.get(name)
            if value is None or (wanted != "*" and str(value) != str(wanted)):
                return False
        return True


class Alert(models.Model):
    """One alert from a payload (Alertmanager and Grafana send several at once)."""

    payload = models.ForeignKey(AlertPayload, on_delete=models.CASCADE, related_name="alerts")
    integration = models.CharField(max_length=16, choices=AlertIntegration.choices)
    status = models.CharField(max_length=16)  # firing | resolved, as the monitor said
    fingerprint = models.CharField(max_length=200)
    group_key = models.CharField(max_length=500, blank=True)
    name = models.CharField(max_length=300, blank=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    generator_url = models.URLField(max_length=1000, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=AlertState.choices)
    rule = models.ForeignKey(
        AlertRoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    is_duplicate = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        # Every alert of a storm pays for each index on insert, and most are repeats: routed, with no
        # rule. So the inbox and the rule (for SET_NULL when a rule is deleted) are indexed only where
        # they apply. The fingerprint has no index: dedup reads AlertDedupKey, and the admin's search
        # is a substring match no b-tree serves.
        indexes = [
            models.Index(fields=["received_at"], name="alert_inbox", condition=Q(state=AlertState.INBOX)),
            models.Index(fields=["rule"], name="alert_rule", condition=Q(rule__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.fingerprint} ({self.status})"


class AlertDedupKey(models.Model):
    """Which incident a fingerprint or an alert group belongs to now.

    The unique key is the lock: concurrent payloads for one group serialise on this row, so a storm
    opens one incident per group, not one per request.
    """

    key = models.CharField(max_length=600, unique=True)
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="alert_keys")
    alert_count = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key


class ReportState(models.TextChoices):
    INBOX = "inbox", "In the inbox"
    ATTACHED = "attached", "Attached to an incident"
    DISMISSED = "dismissed", "Dismissed"


class ReportSource(models.TextChoices):
    API = "api", "Product (API)"
    FORM = "form", "Public form"


class UserReport(models.Model):
    """A user's "this answer was wrong": what they saw and why it was wrong."""

    feature = models.ForeignKey("incidents.AIFeature", on_delete=models.PROTECT, related_name="reports")
    what_user_saw = models.TextField()
    what_was_wrong = models.TextField()
    category = models.CharField(max_length=32, choices=Category.choices, blank=True)
    request_id = models.CharField(
        max_length=200, blank=True, db_index=True, help_text="The AI request it is about; links to the audit trail."
    )
    contact = models.CharField(max_length=254, blank=True)
    contact_consent = models.BooleanField(default=False)
    source = models.CharField(max_length=8, choices=ReportSource.choices)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    state = models.CharField(max_length=16, choices=ReportState.choices, default=ReportState.INBOX, db_index=True)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(contact="") | Q(contact_consent=True), name="report_contact_needs_consent"
            )
        ]

    def __str__(self) -> str:
        # No reporter's words here: this string is what the append-only action log keeps.
        return f"User report #{self.pk}"
