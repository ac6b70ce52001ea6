from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError

from incidents.selectors import incident_get, incident_list

from .errors import ErrorBody, ValidationErrorBody
from .pagination import BoundedLimitOffsetPagination
from .serializers import IncidentFilterSerializer, IncidentSerializer

PK_MAX = 2**63 - 1  # a bigint: beyond it no incident exists
AUTH_ERRORS = {
    401: OpenApiResponse(ErrorBody, description="No token, or an invalid or revoked one."),
    403: OpenApiResponse(ErrorBody, description="The token lacks the `incidents` scope."),
}


class IncidentListView(generics.ListAPIView):
    """Incidents this token may see, newest first. Filter by state, severity, category, feature."""

    required_scope = "incidents"
    serializer_class = IncidentSerializer
    pagination_class = BoundedLimitOffsetPagination

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

    @extend_schema(
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The incident's id (INC-n -> n).")],
        responses={
            200: IncidentSerializer,
            404: OpenApiResponse(ErrorBody, description="No such incident, or one this token may not see."),
            **AUTH_ERRORS,
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_object(self):
        pk = self.kwargs["pk"]
        if not (pk.isascii() and pk.isdigit() and len(pk) <= 19 and int(pk) <= PK_MAX):
            raise NotFound()
        try:
            return incident_get(user=self.request.user, pk=int(pk))
        except ObjectDoesNotExist as exc:
            raise NotFound() from exc
