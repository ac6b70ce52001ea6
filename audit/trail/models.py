"""The AI audit trail: what the AI product decided, request by request, kept for investigations."""

from django.conf import settings
from django.db import models


class Verdict(models.TextChoices):
    ALLOW = "allow", "Allowed"
    FLAG = "flag", "Flagged"
    BLOCK = "block", "Blocked"
    REWRITE = "rewrite", "Rewritten"


class AuditRecord(models.Model):
    """One AI request as the product saw it. Unique per (feature, request_id); never overwritten.

    The user reference is a keyed hash made on arrival: raw user ids never reach the database.
    """

    feature = models.ForeignKey("incidents.AIFeature", on_delete=models.PROTECT, related_name="audit_records")
    request_id = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    user_ref = models.CharField(max_length=64, blank=True, db_index=True, help_text="HMAC-SHA256 of the user id.")
    model_provider = models.CharField(max_length=80, blank=True)
    model_version = models.CharField(max_length=120, blank=True)
    prompt_id = models.CharField(max_length=120, blank=True)
    prompt_version = models.CharField(max_length=120, blank=True)
    parameters = models.JSONField(default=dict, blank=True, help_text="Sampling parameters: temperature, seed, ...")
    input = models.TextField(blank=True)
    retrieved_context = models.JSONField(default=list, blank=True, help_text="[{id, source, text}]")
    model_output = models.TextField(blank=True, help_text="The full output of the model.")
    user_output = models.TextField(blank=True, help_text="What the user was shown.")
    moderation = models.JSONField(default=list, blank=True, help_text="[{stage, rule, verdict, score}]")
    tool_calls = models.JSONField(default=list, blank=True, help_text="Tool calls and actions taken (agents).")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    has_error = models.BooleanField(default=False)
    body_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the record as sent: same id, same hash = duplicate."
    )
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the stored content: evidence is frozen on it.")
    redactions = models.JSONField(default=dict, blank=True, help_text="How many matches each redaction rule replaced.")
    content_deleted_at = models.DateTimeField(null=True, blank=True)
    content_deleted_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["feature", "request_id"], name="audit_record_unique_request"),
        ]
        indexes = [
            models.Index(fields=["feature", "occurred_at"]),
            models.Index(fields=["model_version"]),
            models.Index(fields=["prompt_version"]),
            models.Index(fields=["request_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} ({self.occurred_at:%Y-%m-%d %H:%M:%S})"

    @property
    def redaction_count(self) -> int:
        return sum(self.redactions.values()) if self.redactions else 0


class RedactionRule(models.Model):
    """A pattern of personal data replaced before an audit record is stored."""

    name = models.CharField(max_length=80, unique=True)
    pattern = models.CharField(max_length=500, help_text="A Python regular expression.")
    replacement = models.CharField(max_length=80, default="[redacted]")
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name


class Evidence(models.Model):
    """An audit record attached to an incident, frozen by the hash of its content at that moment."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="evidence")
    record = models.ForeignKey(AuditRecord, on_delete=models.PROTECT, related_name="evidence")
    content_hash = models.CharField(max_length=64)
    note = models.TextField(blank=True)
    attached_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    attached_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["attached_at", "id"]
        constraints = [models.UniqueConstraint(fields=["incident", "record"], name="evidence_once_per_incident")]
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return f"{self.record.request_id} on INC-{self.incident_id}"


class DeletionOrder(models.Model):
    """A responder's order to remove the content of audit records (leaked personal data, say)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"

    records = models.ManyToManyField(AuditRecord, related_name="deletion_orders")
    reason = models.TextField()
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ordered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ordered_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("order_deletion", "Can order audit record content deleted")]

    def __str__(self) -> str:
        return f"Deletion order #{self.pk} ({self.get_state_display().lower()})"
