"""Eval results from the team's harness, and the bench as JSON Lines."""

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.services.evals import evalcases_jsonl, evalruns_record

from .errors import ErrorBody, ValidationErrorBody
from .parsers import JSONParser

BIGINT_MAX = 2**63 - 1  # ids and seeds are stored as PostgreSQL bigint / JSON numbers


class EvalRunSerializer(serializers.Serializer):
    case = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, help_text="The eval case id (EV-n -> n)")
    trials = serializers.IntegerField(min_value=1, max_value=1_000_000)
    failures = serializers.IntegerField(min_value=0, max_value=1_000_000)
    seeds = serializers.ListField(
        child=serializers.IntegerField(min_value=-BIGINT_MAX - 1, max_value=BIGINT_MAX),
        required=False,
        default=list,
        max_length=100_000,
    )
    model_version = serializers.CharField(required=False, allow_blank=True, max_length=120, default="")
    prompt_version = serializers.CharField(required=False, allow_blank=True, max_length=120, default="")
    ran_at = serializers.DateTimeField(required=False)

    def validate(self, data):
        if data["failures"] > data["trials"]:
            raise serializers.ValidationError({"failures": "Cannot exceed trials."})
        return data


class EvalRunBatchSerializer(serializers.Serializer):
    harness = serializers.CharField(min_length=1, max_length=120, help_text="Name of the harness that ran the cases")
    runs = serializers.ListField(child=EvalRunSerializer(), allow_empty=False, min_length=1, max_length=10_000)


class EvalRunsView(APIView):
    required_scope = "evals"
    parser_classes = [JSONParser]

    @extend_schema(
        request=EvalRunBatchSerializer,
        responses={
            201: inline_serializer(
                "EvalRunsStored", {"stored": serializers.ListField(child=serializers.IntegerField())}
            ),
            400: OpenApiResponse(ValidationErrorBody, description="Bad input; `errors` names each bad field."),
            401: OpenApiResponse(ErrorBody, description="No token, or an invalid or revoked one."),
            403: OpenApiResponse(ErrorBody, description="The token lacks the `evals` scope."),
            415: OpenApiResponse(ErrorBody, description="Not application/json."),
        },
        tags=["evals"],
    )
    def post(self, request):
        batch = EvalRunBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        runs = evalruns_record(runs=batch.validated_data["runs"], harness=batch.validated_data["harness"])
        return Response({"stored": [r.pk for r in runs]}, status=status.HTTP_201_CREATED)


class EvalCasesView(APIView):
    """The whole bench (retired cases included, marked) as JSON Lines."""

    required_scope = "evals"

    @extend_schema(
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                description="One JSON object per line: id, feature, input, expected_behaviour, failure_category, "
                "failure_finding, source_incident, retired, created_at"
            ),
            401: OpenApiResponse(ErrorBody, description="No token, or an invalid or revoked one."),
            403: OpenApiResponse(ErrorBody, description="The token lacks the `evals` scope."),
        },
        tags=["evals"],
    )
    def get(self, request):
        return HttpResponse(evalcases_jsonl(user=request.user), content_type="application/x-ndjson")
