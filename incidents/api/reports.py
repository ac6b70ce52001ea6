"""POST /api/v1/reports: the product's "report this answer" button sends what the user saw here."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.constants import Category
from incidents.models import ReportSource
from incidents.services.reports import CONTACT_MAX, REPORT_TEXT_MAX, REQUEST_ID_MAX, report_submit

from .errors import ErrorBody, ValidationErrorBody
from .parsers import JSONParser


def _too_long(limit: int) -> str:
    return f"At most {limit:,} characters."


class ReportRequestSerializer(serializers.Serializer):
    feature = serializers.CharField(min_length=1, max_length=100, help_text="The AI feature's key, e.g. support-bot.")
    what_user_saw = serializers.CharField(
        min_length=1,
        max_length=REPORT_TEXT_MAX,
        help_text="The answer as the user saw it.",
        error_messages={"max_length": _too_long(REPORT_TEXT_MAX)},
    )
    what_was_wrong = serializers.CharField(
        min_length=1,
        max_length=REPORT_TEXT_MAX,
        help_text="Why the user says it was wrong, in their words.",
        error_messages={"max_length": _too_long(REPORT_TEXT_MAX)},
    )
    category = serializers.ChoiceField(
        choices=Category.choices, required=False, allow_blank=True, help_text="What kind of problem, if known."
    )
    request_id = serializers.CharField(
        max_length=REQUEST_ID_MAX,
        required=False,
        allow_blank=True,
        help_text="The AI request the answer came from; links the report to the audit trail.",
        error_messages={"max_length": _too_long(REQUEST_ID_MAX)},
    )
    contact = serializers.CharField(
        max_length=CONTACT_MAX,
        required=False,
        allow_blank=True,
        help_text="How to reach the user. Personal data: send it only with contact_consent true.",
        error_messages={"max_length": _too_long(CONTACT_MAX)},
    )
    contact_consent = serializers.BooleanField(
        required=False, default=False, help_text="The user agreed that Fireline keeps the contact."
    )


class ReportCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField(help_text="`inbox`: waiting for a responder.")


class ReportCreateView(APIView):
    """Store a user report in the triage inbox. Needs a token with the `reports` scope."""

    required_scope = "reports"
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="reports_create",
        summary="Send a user report of a bad AI answer",
        request=ReportRequestSerializer,
        responses={
            201: ReportCreatedSerializer,
            400: OpenApiResponse(ValidationErrorBody, description="Bad input; `errors` names each bad field."),
            401: OpenApiResponse(ErrorBody, description="No token, or an invalid or revoked one."),
            403: OpenApiResponse(ErrorBody, description="The token lacks the `reports` scope."),
            415: OpenApiResponse(ErrorBody, description="Not application/json."),
        },
        examples=[
            OpenApiExample(
                "A made-up refund policy",
                request_only=True,
                value={
                    "feature": "support-bot",
                    "what_user_saw": "You can return any item within 365 days for a full refund.",
                    "what_was_wrong": "The policy is 30 days.",
                    "category": "factual_misinformation",
                    "request_id": "req_01J9Z6",
                },
            )
        ],
    )
    def post(self, request):
        serializer = ReportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # The service checks the rest (unknown feature, consent) and raises ValidationError by field,
        # which the API's exception handler turns into the same 400 body.
        report = report_submit(
            feature_key=data["feature"],
            what_user_saw=data["what_user_saw"],
            what_was_wrong=data["what_was_wrong"],
            category=data.get("category", ""),
            request_id=data.get("request_id", ""),
            contact=data.get("contact", ""),
            contact_consent=data.get("contact_consent", False),
            source=ReportSource.API,
        )
        return Response({"id": report.pk, "state": report.state}, status=status.HTTP_201_CREATED)
