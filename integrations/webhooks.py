"""The lifecycle events' payload, described in the OpenAPI schema (an OpenAPI 3.1 webhook)."""

from drf_spectacular.utils import OpenApiWebhook, extend_schema
from rest_framework import serializers

from .models import LifecycleEvent


class EventIncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(help_text="INC-n")
    title = serializers.CharField()
    state = serializers.CharField()
    severity = serializers.CharField(allow_blank=True)
    category = serializers.CharField(allow_blank=True)
    feature = serializers.CharField(allow_null=True, help_text="AI feature key")
    is_restricted = serializers.BooleanField()
    url = serializers.URLField(help_text="The incident's page in Fireline.")


class LifecycleEventSerializer(serializers.Serializer):
    subscription = serializers.IntegerField(help_text="The subscription it was sent to (its key signs it).")
    event = serializers.ChoiceField(choices=LifecycleEvent.choices)
    id = serializers.CharField(help_text="Unique per event; the Idempotency-Key header carries the delivery's key.")
    occurred_at = serializers.DateTimeField()
    actor = serializers.CharField(help_text="Who did it, as the action log names them.")
    incident = EventIncidentSerializer()
    change = serializers.DictField(
        help_text="state events: {from, to}; severity: {from, to}; containment: {containment_id, ...}."
    )


incident_lifecycle_event = OpenApiWebhook(
    name="IncidentLifecycleEvent",
    decorator=extend_schema(
        summary="An incident lifecycle event, POSTed to each event subscription that listens for it",
        description="Headers: X-Fireline-Event (the event), X-Fireline-Timestamp, X-Fireline-Signature "
        "(sha256=HMAC-SHA256(subscription key, timestamp + '.' + body)), Idempotency-Key. Answer 2xx; anything "
        "else is retried with backoff through Fireline's outbox.",
        request=LifecycleEventSerializer,
        responses={200: None},
    ),
)
