"""Alert intake from Prometheus Alertmanager, Grafana Alerting and any monitor that can POST JSON.

An alert storm is the intake's normal working day, so the endpoints are plain Django views (`intake_view`)
that skip the REST framework's request wrapping, content negotiation and renderers; they answer in the
same JSON shapes and with the same token checks as the rest of the API. The REST framework classes below
describe the endpoints for the OpenAPI schema (and behave the same if routed): `intake_view` names its
class as the view's `cls`, which is how the schema generator finds it.
"""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.views import APIView

from incidents.models import AlertIntegration
from incidents.services.alert_parsing import AlertmanagerPayload, AlertParseError, GenericPayload, GrafanaPayload
from incidents.services.alerts import alert_intake

from .auth import BearerTokenAuthentication

SCOPE = "alerts"

IntakeResult = inline_serializer(
    "AlertIntakeResult",
    {
        "payload_id": serializers.IntegerField(),
        "alerts": serializers.IntegerField(help_text="Alerts of the payload that were read and routed"),
        "incidents_opened": serializers.ListField(child=serializers.IntegerField()),
        "incidents_updated": serializers.ListField(child=serializers.IntegerField()),
        "recurrences": serializers.ListField(
            child=serializers.IntegerField(), help_text="Opened incidents that repeat a closed one"
        ),
        "deduplicated": serializers.IntegerField(help_text="Alerts added to an incident already open"),
        "inboxed": serializers.IntegerField(help_text="Alerts no routing rule could place"),
        "resolved": serializers.IntegerField(),
        "refused": serializers.ListField(
            child=inline_serializer(
                "RefusedAlert",
                {
                    "index": serializers.IntegerField(help_text="The alert's place in the payload's list, from 0"),
                    "errors": serializers.JSONField(
                        help_text="Field errors, nested by field: {field: [reason]}; [reason] when the alert "
                        "is not an object at all"
                    ),
                },
            ),
            help_text="Alerts of the batch that could not be read; the others were processed",
        ),
    },
)
IntakeError = inline_serializer(
    "AlertIntakeError",
    {
        "detail": serializers.CharField(),
        "errors": serializers.DictField(help_text="Field errors, nested by field: {field: [reason]}"),
        "payload_id": serializers.IntegerField(help_text="The stored payload, kept with its error"),
    },
)
Detail = inline_serializer("Detail", {"detail": serializers.CharField()})
ERRORS = {
    400: OpenApiResponse(
        IntakeError,
        description="The payload is stored, but could not be read (or none of its alerts could); "
        "`errors` names the field, nested as the payload is: {alerts: {0: {startsAt: [reason]}}}.",
    ),
    401: OpenApiResponse(Detail, description="No token, or an invalid one."),
    403: OpenApiResponse(Detail, description="The token lacks the 'alerts' scope."),
    405: OpenApiResponse(Detail, description="Only POST is answered."),
    413: OpenApiResponse(Detail, description="The body is over the size limit (1 MiB unless configured)."),
    415: OpenApiResponse(IntakeError, description="Not application/json; the payload is stored with its error."),
}


def _unauthorised(detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status.HTTP_401_UNAUTHORIZED)
    response["WWW-Authenticate"] = BearerTokenAuthentication().authenticate_header(None)
    return response


def _authorised_token(request: HttpRequest):
    """(token, None) for a live token with the 'alerts' scope, else (None, the 401 or 403 answer)."""
    try:
        found = BearerTokenAuthentication().authenticate(request)
    except AuthenticationFailed as exc:
        return None, _unauthorised(str(exc.detail))
    if found is None:
        return None, _unauthorised("Send a token: 'Authorization: Bearer <token>'.")
    token = found[1]
    if SCOPE not in token.scopes:
        return None, JsonResponse(
            {"detail": f"This token lacks the '{SCOPE}' scope."}, status=status.HTTP_403_FORBIDDEN
        )
    return token, None


def _too_big(size: int, limit: int) -> JsonResponse:
    return JsonResponse(
        {"detail": f"The body is {size} bytes; the limit is {limit} bytes."},
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def _take(request: HttpRequest, integration: str, token) -> JsonResponse:
    """Store and process one payload; the answer says what it did, or what in the body is wrong."""
    limit = settings.FIRELINE_ALERT_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _too_big(declared, limit)
    body = request.body
    if len(body) > limit:
        return _too_big(len(body), limit)
    try:
        _, result = alert_intake(
            integration=integration, body=body, content_type=request.META.get("CONTENT_TYPE", ""), token=token
        )
    except AlertParseError as exc:
        code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE if "content_type" in exc.errors else status.HTTP_400_BAD_REQUEST
        answer = {"detail": "The payload was stored but could not be read.", "errors": exc.errors}
        return JsonResponse({**answer, "payload_id": exc.payload.pk}, status=code)
    return JsonResponse(result, status=status.HTTP_202_ACCEPTED)


def intake_view(described_by: type["AlertIntakeView"]):
    """The endpoint of one integration as a plain Django view, documented by its REST framework class."""

    @csrf_exempt  # token-authenticated, no cookies
    def view(request: HttpRequest) -> JsonResponse:
        if request.method != "POST":
            response = JsonResponse(
                {"detail": f'Method "{request.method}" not allowed.'}, status=status.HTTP_405_METHOD_NOT_ALLOWED
            )
            response["Allow"] = "POST"
            return response
        token, refusal = _authorised_token(request)
        if refusal is not None:
            return refusal
        return _take(request, described_by.integration, token)

    view.cls, view.initkwargs = described_by, {}
    view.__doc__ = described_by.__doc__
    return view


class AlertIntakeView(APIView):
    required_scope = SCOPE
    integration = AlertIntegration.GENERIC
    parser_classes = []  # the raw body is stored before anything parses it

    def post(self, request):
        return _take(request, self.integration, request.auth)


class AlertmanagerIntakeView(AlertIntakeView):
    """Prometheus Alertmanager's webhook (version 4), as Alertmanager sends it."""

    integration = AlertIntegration.ALERTMANAGER

    @extend_schema(
        request={"application/json": AlertmanagerPayload}, responses={202: IntakeResult, **ERRORS}, tags=["alerts"]
    )
    def post(self, request):
        return super().post(request)


class GrafanaIntakeView(AlertIntakeView):
    """Grafana Alerting's webhook contact point."""

    integration = AlertIntegration.GRAFANA

    @extend_schema(
        request={"application/json": GrafanaPayload}, responses={202: IntakeResult, **ERRORS}, tags=["alerts"]
    )
    def post(self, request):
        return super().post(request)


class GenericIntakeView(AlertIntakeView):
    """Any monitor: one alert object, or {"alerts": [...]}.

    Fields: name (required), status ("firing" or "resolved", default firing), labels (object of strings;
    routing rules match on them, e.g. ai_feature and signal), annotations, summary, fingerprint (default:
    a hash of the labels), group (alerts of one group go to one incident), started_at, url.
    """

    integration = AlertIntegration.GENERIC

    @extend_schema(
        request={"application/json": GenericPayload}, responses={202: IntakeResult, **ERRORS}, tags=["alerts"]
    )
    def post(self, request):
        return super().post(request)
