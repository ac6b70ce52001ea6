from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError

from incidents.selectors import incident_list

from . import incident_writes as writes
from .errors import ErrorBody, ValidationErrorBody
from .pagination import BoundedLimitOffsetPagination
from .parsers import JSONParser
from .serializers import IncidentFilterSerializer, IncidentSerializer

PK_MAX = 2**63 - 1  # a bigint: beyond it no incident exists
AUTH_ERRORS = {
    401: OpenApiResponse(ErrorBody, description="No token, or an invalid or revoked one."),
    403: OpenApiResponse(ErrorBody, description="The token lacks the `incidents` scope."),
}
ID_PARAMETER = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The incident's id (INC-n -> n).")
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID): a retry with the same key gets the first answer, not a second write.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The ETag from your last GET: the write is refused with 412 if the incident changed since.",
)
WRITE_ERRORS = {
    400: OpenApiResponse(ValidationErrorBody, description="Bad input; `errors` names each field and what is wrong."),
    401: OpenApiResponse(ErrorBody, description="No token, or an invalid or revoked one."),
    403: OpenApiResponse(
        ErrorBody,
        description="The token lacks the `incidents` scope, acts for no user, or its user lacks the permission "
        "(the body names it).",
    ),
    404: OpenApiResponse(ErrorBody, description="No such incident, or one this token's user may not see."),
    413: OpenApiResponse(ErrorBody, description="The body is too large."),
    415: OpenApiResponse(ErrorBody, description="Send JSON (Content-Type: application/json)."),
    422: OpenApiResponse(ErrorBody, description="The Idempotency-Key was used for a different request."),
}


class GuardBody(ErrorBody):
    blockers = writes.serializers.ListField(child=writes.serializers.CharField())


class IncidentListView(generics.ListAPIView):
    """Incidents this token may see, newest first. Filter by state, severity, category, feature."""

    required_scope = "incidents"
    serializer_class = IncidentSerializer
    pagination_class = BoundedLimitOffsetPagination
    parser_classes = [JSONParser]

    @extend_schema(
        request=writes.DeclareSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: IncidentSerializer, **WRITE_ERRORS},
        description="Declare an incident, as the admin's Declare screen does: the triage matrix sets the "
        "severity (override it with a reason), paging starts, and the action log names the token's user.",
    )
    def post(self, request, *args, **kwargs):
        return writes.declare(request, IncidentSerializer)

    def get_queryset(self):
        # The REST framework reads "?state=" as no filter at all; a filter sent empty is refused by name.
        blank = [name for name in IncidentFilterSerializer().fields if self.request.query_params.get(name, None) == ""]
        if blank:
            raise ValidationError({name: ["Must not be empty; leave the filter out to see all."] for name in blank})
        filters = IncidentFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return incident_list(user=self.request.user, filters=filters.validated_data).prefetch_related("members")

    @extend_schema(
        parameters=[IncidentFilterSerializer],
        responses={
            200: IncidentSerializer(many=True),
            400: OpenApiResponse(
                ValidationErrorBody, description="A filter, `limit` or `offset` is not valid; the body names it."
            ),
            **AUTH_ERRORS,
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class IncidentDetailView(generics.RetrieveAPIView):
    required_scope = "incidents"
    serializer_class = IncidentSerializer
    parser_classes = [JSONParser]

    @extend_schema(
        parameters=[ID_PARAMETER],
        responses={
            200: IncidentSerializer,
            404: OpenApiResponse(ErrorBody, description="No such incident, or one this token may not see."),
            **AUTH_ERRORS,
        },
    )
    def get(self, request, *args, **kwargs):
        incident = self.get_object()
        response = writes.Response(self.get_serializer(incident).data)
        response["ETag"] = writes.incident_etag(incident)
        return response

    @extend_schema(
        parameters=[ID_PARAMETER, IF_MATCH],
        request=writes.IncidentPatchSerializer,
        responses={
            200: IncidentSerializer,
            412: OpenApiResponse(ErrorBody, description="The incident changed since your If-Match ETag."),
            **WRITE_ERRORS,
        },
        description="Edit the fields a commander edits on the incident page; the triage matrix is applied again.",
    )
    def patch(self, request, *args, **kwargs):
        return writes.update(request, self.kwargs["pk"], IncidentSerializer)

    def get_object(self):
        return writes.visible_incident(self.request, self.kwargs["pk"])


class IncidentTransitionListView(generics.GenericAPIView):
    """The steps this token's user may take from the incident's state now, each with what blocks it."""

    required_scope = "incidents"
    serializer_class = writes.TransitionOptionSerializer

    @extend_schema(
        parameters=[ID_PARAMETER],
        responses={
            200: writes.TransitionOptionSerializer(many=True),
            404: OpenApiResponse(ErrorBody, description="No such incident, or one this token may not see."),
            **AUTH_ERRORS,
        },
    )
    def get(self, request, pk):
        return writes.options(request, pk)


class IncidentTransitionView(generics.GenericAPIView):
    """Run one transition, through the same service as the admin's button."""

    required_scope = "incidents"
    serializer_class = writes.TransitionInputSerializer
    parser_classes = [JSONParser]

    @extend_schema(
        parameters=[
            ID_PARAMETER,
            OpenApiParameter("name", str, OpenApiParameter.PATH, description="As listed by GET .../transitions."),
            IF_MATCH,
            IDEMPOTENCY_KEY,
        ],
        request=writes.TransitionInputSerializer,
        responses={
            200: IncidentSerializer,
            409: OpenApiResponse(GuardBody, description="A guard stops it now; `blockers` say why, in words."),
            412: OpenApiResponse(ErrorBody, description="The incident changed since your If-Match ETag."),
            **WRITE_ERRORS,
        },
    )
    def post(self, request, pk, name):
        return writes.transition(request, pk, name, IncidentSerializer)


def sub_resource_view(
    *, doc: str, request_serializer, response_serializer, created: bool, extra_parameters, handler, many=False
):
    """A POST on an incident's sub-resource: one view class per endpoint, documented in the schema."""

    class View(generics.GenericAPIView):
        required_scope = "incidents"
        serializer_class = request_serializer or response_serializer
        parser_classes = [JSONParser]

        @extend_schema(
            description=doc,
            parameters=[ID_PARAMETER, *extra_parameters, IDEMPOTENCY_KEY],
            request=request_serializer,
            responses={(201 if created else 200): response_serializer(many=many), **WRITE_ERRORS},
        )
        def post(self, request, **kwargs):
            return handler(request, **kwargs)

    View.__doc__ = doc
    return View


def _path_id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH, description=what)


IncidentNoteView = sub_resource_view(
    doc="Add a note to the incident's timeline, in the token's user's name.",
    request_serializer=writes.NoteInputSerializer,
    response_serializer=writes.NoteSerializer,
    created=True,
    extra_parameters=[],
    handler=lambda request, pk: writes.note_add(request, pk),
)
IncidentContainmentView = sub_resource_view(
    doc="Record a containment action (a kill switch off is held for this incident until lifted).",
    request_serializer=writes.ContainmentInputSerializer,
    response_serializer=writes.ContainmentSerializer,
    created=True,
    extra_parameters=[IF_MATCH],
    handler=lambda request, pk: writes.containment_add(request, pk),
)
IncidentContainmentLiftView = sub_resource_view(
    doc="Lift a containment action, with the reason; the answer says who still holds the kill switch, if anyone.",
    request_serializer=writes.LiftInputSerializer,
    response_serializer=writes.ContainmentSerializer,
    created=False,
    extra_parameters=[_path_id("action_id", "The containment action's id.")],
    handler=lambda request, pk, action_id: writes.containment_lift(request, pk, action_id),
)
IncidentPageAckView = sub_resource_view(
    doc="Acknowledge a page (stops its escalation), as the token's user.",
    request_serializer=None,
    response_serializer=writes.PageSerializer,
    created=False,
    extra_parameters=[_path_id("page_id", "The page's id.")],
    handler=lambda request, pk, page_id: writes.page_ack(request, pk, page_id),
)
