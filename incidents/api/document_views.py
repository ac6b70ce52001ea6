"""The API views for communications and post-mortems (see document_writes for what each does)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics

from . import document_writes as docs
from .errors import ErrorBody
from .parsers import JSONParser
from .views import AUTH_ERRORS, ID_PARAMETER, IDEMPOTENCY_KEY, WRITE_ERRORS

DOC_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The document's id.")
NOT_FOUND = {404: OpenApiResponse(ErrorBody, description="No such document, or one on an incident you may not see.")}
CONFLICT = {409: OpenApiResponse(ErrorBody, description="Not possible in the document's state (the body says why).")}


def _action_parameter(actions) -> OpenApiParameter:
    return OpenApiParameter(
        "action", str, OpenApiParameter.PATH, enum=list(actions), description="What to do with the document."
    )


class IncidentCommunicationsView(generics.GenericAPIView):
    required_scope = "incidents"
    serializer_class = docs.CommunicationCreateSerializer
    parser_classes = [JSONParser]

    @extend_schema(
        description="Draft a communication from the audience's template (the draft still needs editing and approval).",
        parameters=[ID_PARAMETER, IDEMPOTENCY_KEY],
        request=docs.CommunicationCreateSerializer,
        responses={201: docs.CommunicationSerializer, **WRITE_ERRORS},
    )
    def post(self, request, pk):
        return docs.communication_draft(request, pk)


class CommunicationView(generics.GenericAPIView):
    required_scope = "incidents"
    serializer_class = docs.CommunicationSerializer
    parser_classes = [JSONParser]

    @extend_schema(parameters=[DOC_ID], responses={200: docs.CommunicationSerializer, **NOT_FOUND, **AUTH_ERRORS})
    def get(self, request, pk):
        return docs.communication_get(request, pk)

    @extend_schema(
        description="Edit a draft's subject, body or recipients.",
        parameters=[DOC_ID],
        request=docs.CommunicationPatchSerializer,
        responses={200: docs.CommunicationSerializer, **WRITE_ERRORS},
    )
    def patch(self, request, pk):
        return docs.communication_edit(request, pk)


class CommunicationActionView(generics.GenericAPIView):
    required_scope = "incidents"
    serializer_class = docs.ActionInputSerializer
    parser_classes = [JSONParser]

    @extend_schema(
        description="submit, approve (Legal or Communications for what leaves the company), send, send_back (with "
        "`note`) or cancel (with `reason`).",
        parameters=[DOC_ID, _action_parameter(docs.COMMUNICATION_ACTIONS), IDEMPOTENCY_KEY],
        request=docs.ActionInputSerializer,
        responses={200: docs.CommunicationSerializer, **WRITE_ERRORS},
    )
    def post(self, request, pk, action):
        return docs.communication_act(request, pk, action)


class IncidentPostMortemView(generics.GenericAPIView):
    required_scope = "incidents"
    serializer_class = docs.PostMortemSerializer

    @extend_schema(
        description="Start the incident's post-mortem from the default template (one per incident).",
        parameters=[ID_PARAMETER, IDEMPOTENCY_KEY],
        request=None,
        responses={201: docs.PostMortemSerializer, **WRITE_ERRORS},
    )
    def post(self, request, pk):
        return docs.postmortem_start(request, pk)


class PostMortemView(generics.GenericAPIView):
    required_scope = "incidents"
    serializer_class = docs.PostMortemSerializer
    parser_classes = [JSONParser]

    @extend_schema(parameters=[DOC_ID], responses={200: docs.PostMortemSerializer, **NOT_FOUND, **AUTH_ERRORS})
    def get(self, request, pk):
        return docs.postmortem_get(request, pk)

    @extend_schema(
        description="Edit a draft's sections.",
        parameters=[DOC_ID],
        request=docs.PostMortemPatchSerializer,
        responses={200: docs.PostMortemSerializer, **WRITE_ERRORS},
    )
    def patch(self, request, pk):
        return docs.postmortem_edit(request, pk)


class PostMortemActionView(generics.GenericAPIView):
    required_scope = "incidents"
    serializer_class = docs.ActionInputSerializer
    parser_classes = [JSONParser]

    @extend_schema(
        description="submit (refused while a section is empty or holds the template's guidance), approve (each "
        "reviewer the triage matrix names, as themselves), request_changes (with `note`) or publish.",
        parameters=[DOC_ID, _action_parameter(docs.POSTMORTEM_ACTIONS), IDEMPOTENCY_KEY],
        request=docs.ActionInputSerializer,
        responses={200: docs.PostMortemSerializer, **WRITE_ERRORS},
    )
    def post(self, request, pk, action):
        return docs.postmortem_act(request, pk, action)
