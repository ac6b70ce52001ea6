"""POST /api/v1/audit/records: the AI product's audit trail, one JSON record or many as NDJSON."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from .ingest import (
    COST_PATTERN,
    MAX_COUNT,
    IngestLimitError,
    RedactionRuleError,
    audit_records_ingest,
    audit_records_ingest_ndjson,
)
from .models import Verdict

JSON = "application/json"
NDJSON = "application/x-ndjson"
NDJSON_ALIASES = {NDJSON, "application/ndjson"}


# --- the record shape, for the OpenAPI schema only (ingest validates with audit/trail/ingest/validation.py) -----------


class RetrievedDocumentSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, help_text="The document's id in the product's store.")
    source = serializers.CharField(required=False, help_text="Where it came from: index, URL, collection.")
    text = serializers.CharField(
        required=False, help_text="The text the model was given. Redacted when the feature redacts personal data."
    )


class ModerationDecisionSerializer(serializers.Serializer):
    stage = serializers.CharField(required=False, help_text="Where it ran, e.g. input or output.")
    rule = serializers.CharField(required=False, help_text="The rule or classifier that decided.")
    verdict = serializers.ChoiceField(choices=Verdict.choices)
    score = serializers.FloatField(required=False, allow_null=True)


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}]})
class StringOrIntegerField(serializers.Field):
    pass


@extend_schema_field(
    {
        "oneOf": [
            {"type": "number", "minimum": 0, "maximum": 999999.999999},
            {"type": "string", "pattern": COST_PATTERN},
        ]
    }
)
class CostField(serializers.Field):
    pass


@extend_schema_field({"oneOf": [{"type": "boolean"}, {"type": "string"}, {"type": "object"}]})
class ErrorFlagField(serializers.Field):
    pass


class AuditRecordSerializer(serializers.Serializer):
    """One AI request as the product saw it. In NDJSON, each line is one of these."""

    request_id = serializers.CharField(
        min_length=1, max_length=200, help_text="Unique per feature; the idempotency key."
    )
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with a zone, e.g. 2026-11-29T22:00:00Z.")
    feature = serializers.CharField(min_length=1, max_length=100, help_text="The AI feature's key, e.g. support-bot.")
    user_id = StringOrIntegerField(
        required=False,
        allow_null=True,
        help_text="The product's user id (string or integer). Hashed with the install's secret on arrival "
        "(HMAC-SHA256); the raw id is never stored.",
    )
    model_provider = serializers.CharField(required=False, allow_null=True, max_length=80)
    model_version = serializers.CharField(required=False, allow_null=True, max_length=120)
    prompt_id = serializers.CharField(required=False, allow_null=True, max_length=120)
    prompt_version = serializers.CharField(required=False, allow_null=True, max_length=120)
    prompt_hash = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=120,
        help_text="Stored as the prompt version when prompt_version is absent.",
    )
    parameters = serializers.DictField(
        required=False, allow_null=True, help_text="Sampling parameters: temperature, seed, ..."
    )
    input = serializers.CharField(required=False, allow_null=True, help_text="What the model was asked.")
    retrieved_context = RetrievedDocumentSerializer(many=True, required=False, allow_null=True)
    model_output = serializers.CharField(required=False, allow_null=True, help_text="The full output of the model.")
    user_output = serializers.CharField(required=False, allow_null=True, help_text="What the user was shown.")
    moderation = ModerationDecisionSerializer(many=True, required=False, allow_null=True)
    tool_calls = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        allow_null=True,
        help_text="Tool calls and actions taken (agents).",
    )
    latency_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_COUNT)
    tokens_in = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_COUNT)
    tokens_out = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_COUNT)
    cost = CostField(
        required=False, allow_null=True, help_text="In the product's currency: a number, or its digits as text."
    )
    error = ErrorFlagField(
        required=False, allow_null=True, help_text="true/false, or the error message: the record is marked as an error."
    )


class ConflictSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    request_id = serializers.CharField()


class RejectedLineSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.CharField(), help_text="{field: reason}")


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Records stored now.")
    duplicates = serializers.IntegerField(help_text="Records already stored with the same body: nothing done.")
    conflicts = ConflictSerializer(
        many=True, help_text="A record with this request id is stored with a different body; it was kept."
    )
    rejected = RejectedLineSerializer(many=True, help_text="Lines that could not be stored, and why.")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


EXAMPLE = {
    "request_id": "req-8f2c",
    "occurred_at": "2026-11-29T22:00:00Z",
    "feature": "support-bot",
    "user_id": "u-1234",
    "model_provider": "openai",
    "model_version": "gpt-4o-2024-08-06",
    "prompt_id": "support-answer",
    "prompt_version": "v14",
    "parameters": {"temperature": 0.2, "seed": 7},
    "input": "How do I reset my password?",
    "retrieved_context": [{"id": "kb-12", "source": "help-center", "text": "Open Settings, then Security."}],
    "model_output": "Open Settings, then Security, and choose Reset password.",
    "user_output": "Open Settings, then Security, and choose Reset password.",
    "moderation": [{"stage": "output", "rule": "toxicity", "verdict": "allow", "score": 0.01}],
    "tool_calls": [],
    "latency_ms": 840,
    "tokens_in": 312,
    "tokens_out": 41,
    "cost": 0.00042,
    "error": False,
}


class AuditRecordIngestView(APIView):
    """Send audit records: one JSON object (application/json), or NDJSON (application/x-ndjson), one record
    a line, up to FIRELINE_AUDIT_MAX_LINES lines (10,000 unless configured).

    Idempotent per (feature, request_id): resending a record is reported as a duplicate; a different body
    under a stored request id is reported as a conflict and never overwrites it. In NDJSON, a bad line is
    reported with its line number and reason, and the good lines are stored.
    """

    required_scope = "audit"
    parser_classes = []  # the view reads the raw body: NDJSON is parsed line by line

    @extend_schema(
        operation_id="audit_records_create",
        summary="Send AI audit records",
        request={JSON: AuditRecordSerializer, NDJSON: AuditRecordSerializer},
        responses={
            200: IngestResultSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="A single record that could not be stored, or a "
                "body that is not JSON; `errors` names each field.",
            ),
            401: OpenApiResponse(description="No token, or an invalid or revoked one."),
            403: OpenApiResponse(description="The token lacks the `audit` scope."),
            409: OpenApiResponse(
                IngestResultSerializer, description="A single record whose request id is stored with a different body."
            ),
            413: OpenApiResponse(ErrorSerializer, description="Over the body size limit or the line limit."),
            415: OpenApiResponse(ErrorSerializer, description="Neither application/json nor application/x-ndjson."),
            503: OpenApiResponse(
                ErrorSerializer, description="A redaction rule is broken; nothing was stored. Retry later."
            ),
        },
        examples=[OpenApiExample("One record", value=EXAMPLE, request_only=True, media_type=JSON)],
        tags=["audit"],
    )
    def post(self, request):
        limit = settings.FIRELINE_AUDIT_MAX_BYTES
        too_big = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return _error(too_big, f"The body is {declared:,} bytes; the limit is {limit:,} bytes.")
        media_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if media_type != JSON and media_type not in NDJSON_ALIASES:
            return _error(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                f"Send one record as {JSON}, or many as {NDJSON} (one record a line).",
                errors={"content_type": [f"Expected {JSON} or {NDJSON}."]},
            )
        try:
            body = request.body
        except RequestDataTooBig:
            return _error(too_big, f"The body is over the limit of {limit:,} bytes.")
        if len(body) > limit:
            return _error(too_big, f"The body is {len(body):,} bytes; the limit is {limit:,} bytes.")
        try:
            return self._single(body) if media_type == JSON else self._ndjson(body)
        except RedactionRuleError as exc:
            return _error(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))

    @staticmethod
    def _ndjson(body: bytes) -> Response:
        if not body or body.isspace():
            return _error(status.HTTP_400_BAD_REQUEST, "The body has no records.", errors={"body": ["Empty."]})
        try:
            result = audit_records_ingest_ndjson(body=body)
        except IngestLimitError as exc:
            return _error(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, str(exc), errors={"body": [str(exc)]})
        return Response(result.as_dict(), status=status.HTTP_200_OK)

    @staticmethod
    def _single(body: bytes) -> Response:
        result = audit_records_ingest(lines=[(1, body)])
        if result.rejected:
            errors = {name: [reason] for name, reason in result.rejected[0]["errors"].items()}
            return _error(status.HTTP_400_BAD_REQUEST, "Invalid input.", errors=errors)
        code = status.HTTP_409_CONFLICT if result.conflicts else status.HTTP_200_OK
        return Response(result.as_dict(), status=code)


def _error(code: int, detail: str, *, errors: dict | None = None) -> Response:
    body = {"detail": detail}
    if errors:
        body["errors"] = errors
    return Response(body, status=code)
