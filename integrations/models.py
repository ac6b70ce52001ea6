"""Idempotent API writes: a retried POST with the same Idempotency-Key gets the first answer again."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class IdempotentRequest(models.Model):
    """The answer Fireline gave to one write, kept under the key its client sent.

    Stored in the same transaction as the write it answers: a write that fails leaves no record, so a
    retry runs again. Keys are per token, so two systems cannot collide or read each other's answers.
    """

    token = models.ForeignKey("incidents.ApiToken", on_delete=models.CASCADE, related_name="idempotent_requests")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField(encoder=DjangoJSONEncoder)
    response_headers = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_once_per_token")]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"


class LifecycleEvent(models.TextChoices):
    DECLARED = "incident.declared", "Incident declared"
    SEVERITY_CHANGED = "incident.severity_changed", "Severity changed"
    STATE_CHANGED = "incident.state_changed", "State changed"
    CONTAINMENT_RECORDED = "incident.containment_recorded", "Containment recorded"
    CONTAINMENT_LIFTED = "incident.containment_lifted", "Containment lifted"
    CLOSED = "incident.closed", "Incident closed"


def validate_events(value) -> None:
    from django.core.exceptions import ValidationError

    if not isinstance(value, list) or not value:
        raise ValidationError("Choose at least one event.")
    unknown = sorted(set(value) - set(LifecycleEvent.values))
    if unknown:
        raise ValidationError(f"Unknown event {', '.join(unknown)}; known: {', '.join(LifecycleEvent.values)}.")


class EventSubscription(models.Model):
    """Another system that wants to hear of incident lifecycle events: a signed JSON POST per event.

    Deliveries go through the notification outbox (retries, backoff, 'not reached' on the incident page).
    The signing key is derived from FIRELINE_WEBHOOK_SECRET and the subscription's id: nothing secret is
    stored. Restricted incidents reach only subscriptions that say they may receive them, and drills never.
    """

    name = models.CharField(max_length=120, help_text="Who receives it, e.g. 'status page sync' or 'ticketing'.")
    url = models.URLField(max_length=500, help_text="Receives a JSON body signed with HMAC-SHA256 (see the README).")
    events = models.JSONField(default=list, validators=[validate_events], help_text="Which lifecycle events.")
    include_restricted = models.BooleanField(
        default=False, help_text="Also send events of restricted incidents (their titles and details go outside)."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
