"""Alert intake from Prometheus Alertmanager, Grafana Alerting and any monitor that can POST JSON."""

from django.conf import settings
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.models import AlertIntegration
from incidents.services.alert_parsing import AlertmanagerPayload, AlertParseError, GenericPayload, GrafanaPayload
from incidents.services.alerts import alert_intake

IntakeResult = inline_serializer(
    "AlertIntakeResult",
    {
        "payload_id": serializers.IntegerField(),
        "alerts": serializers.IntegerField(help_text="Alerts in the payload"),
        "incidents_opened": serializers.ListField(child=serializers.IntegerField()),
        "incidents_updated": serializers.ListField(child=serializers.IntegerField()),
        "recurrences": serializers.ListField(
            child=serializers.IntegerField(), help_text="Opened incidents that repeat a closed one"
        ),
        "deduplicated": serializers.IntegerField(help_text="Alerts added to an incident already open"),
        "inboxed": serializers.IntegerField(help_text="Alerts no routing rule could place"),
        "resolved": serializers.IntegerField(),
    },
)
ERRORS = {
    400: OpenApiResponse(description="The payload is stored, but could not be read; the body names the field."),
    401: OpenApiResponse(description="No token, or an invalid one."),
    403: OpenApiResponse(description="The token lacks the 'alerts' scope."),
    413: OpenApiResponse(description="The body is over the size limit (1 MiB unless configured)."),
    415: OpenApiResponse(description="Not application/json."),
}


class AlertIntakeView(APIView):
    required_scope = "alerts"
    integration = AlertIntegration.GENERIC
    parser_classes = []  # the raw body is stored before anything parses it

    def post(self, request):
        limit = settings.FIRELINE_ALERT_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return self._too_big(declared, limit)
        body = request.body
        if len(body) > limit:
            return self._too_big(len(body), limit)
        content_type = request.META.get("CONTENT_TYPE", "")
        try:
            _, result = alert_intake(
                integration=self.integration, body=body, content_type=content_type, token=request.auth
            )
        except AlertParseError as exc:
            code = (
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE if "content_type" in exc.errors else status.HTTP_400_BAD_REQUEST
            )
            return Response(
                {
                    "detail": "The payload was stored but could not be read.",
                    "errors": exc.errors,
                    "payload_id": exc.payload.pk,
                },
                status=code,
            )
        # Plain JSON: the answer has one shape, so the REST framework's renderer has nothing to choose.
        return JsonResponse(result, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _too_big(size: int, limit: int) -> Response:
        return Response(
            {"detail": f"The body is {size} bytes; the limit is {limit} bytes."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )


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
