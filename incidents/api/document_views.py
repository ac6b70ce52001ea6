"""The API views for communications, post-mortems, findings, evidence, action items and regulatory decisions
(see document_writes and investigation_writes for what each does)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics

from . import document_writes as docs
from . import investigation_writes as inv
from .errors import ErrorBody
from .parsers import JSONParser
from .views import AUTH_ERRORS, ID_PARAMETER, IDEMPOTENCY_KEY, WRITE_ERRORS, sub_resource_view

COMM_ID = OpenApiParameter("comm_id", int, OpenApiParameter.PATH, description="The communication's id.")
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

    @extend_schema(
        parameters=[ID_PARAMETER, COMM_ID], responses={200: docs.CommunicationSerializer, **NOT_FOUND, **AUTH_ERRORS}
    )
    def get(self, request, pk, comm_id):
        return docs.communication_get(request, pk, comm_id)

    @extend_schema(
        description="Edit a draft's subject, body or recipients.",
        parameters=[ID_PARAMETER, COMM_ID],
        request=docs.CommunicationPatchSerializer,
        responses={200: docs.CommunicationSerializer, **WRITE_ERRORS},
    )
    def patch(self, request, pk, comm_id):
        return docs.communication_edit(request, pk, comm_id)


class CommunicationActionView(generics.GenericAPIView):
    required_scope = "incidents"
    serializer_class = docs.ActionInputSerializer
    parser_classes = [JSONParser]

    @extend_schema(
        description="submit, approve (Legal or Communications for what leaves the company), send, send_back (with "
        "`note`) or cancel (with `reason`).",
        parameters=[ID_PARAMETER, COMM_ID, _action_parameter(docs.COMMUNICATION_ACTIONS), IDEMPOTENCY_KEY],
        request=docs.ActionInputSerializer,
        responses={200: docs.CommunicationSerializer, **WRITE_ERRORS},
    )
    def post(self, request, pk, comm_id, action):
        return docs.communication_act(request, pk, comm_id, action)


class PostMortemView(generics.GenericAPIView):
    required_scope = "incidents"
    serializer_class = docs.PostMortemSerializer
    parser_classes = [JSONParser]

    @extend_schema(
        description="Start the incident's post-mortem from the default template (one per incident).",
        parameters=[ID_PARAMETER, IDEMPOTENCY_KEY],
        request=None,
        responses={201: docs.PostMortemSerializer, **WRITE_ERRORS},
    )
    def post(self, request, pk):
        return docs.postmortem_start(request, pk)

    @extend_schema(parameters=[ID_PARAMETER], responses={200: docs.PostMortemSerializer, **NOT_FOUND, **AUTH_ERRORS})
    def get(self, request, pk):
        return docs.postmortem_get(request, pk)

    @extend_schema(
        description="Edit a draft's sections.",
        parameters=[ID_PARAMETER],
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
        parameters=[ID_PARAMETER, _action_parameter(docs.POSTMORTEM_ACTIONS), IDEMPOTENCY_KEY],
        request=docs.ActionInputSerializer,
        responses={200: docs.PostMortemSerializer, **WRITE_ERRORS},
    )
    def post(self, request, pk, action):
        return docs.postmortem_act(request, pk, action)


# --- findings, evidence, action items, regulatory -----------------------------------------------------------


ITEM_ID = OpenApiParameter("item_id", int, OpenApiParameter.PATH, description="The action item's id.")
OBLIGATION_ID = OpenApiParameter("obligation_id", int, OpenApiParameter.PATH, description="The obligation's id.")

IncidentFindingsView = sub_resource_view(
    doc="Record a finding; marked as the root cause, it becomes the incident's root cause and layer.",
    request_serializer=inv.FindingInputSerializer,
    response_serializer=inv.FindingSerializer,
    created=True,
    extra_parameters=[],
    handler=lambda request, pk: inv.finding_add(request, pk),
)
IncidentEvidenceView = sub_resource_view(
    doc="Attach AI audit records as evidence, freezing each one's content hash as it is now.",
    request_serializer=inv.EvidenceInputSerializer,
    response_serializer=inv.EvidenceSerializer,
    created=True,
    many=True,
    extra_parameters=[],
    handler=lambda request, pk: inv.evidence_add(request, pk),
)
IncidentActionItemsView = sub_resource_view(
    doc="Add an action item with its owner and due date (reminders are planned from the due date).",
    request_serializer=inv.ActionItemInputSerializer,
    response_serializer=inv.ActionItemSerializer,
    created=True,
    extra_parameters=[],
    handler=lambda request, pk: inv.action_item_add(request, pk),
)
ActionItemActionView = sub_resource_view(
    doc="complete, or wont_do with a `reason`.",
    request_serializer=inv.ActionItemActInputSerializer,
    response_serializer=inv.ActionItemSerializer,
    created=False,
    extra_parameters=[ITEM_ID, _action_parameter(("complete", "wont_do"))],
    handler=lambda request, pk, item_id, action: inv.action_item_act(request, pk, item_id, action),
)
IncidentDecisionsView = sub_resource_view(
    doc="Record a reportability decision: the regimes that apply (by code), why, and each clock start's instant "
    "and evidence; the obligations open with their computed deadlines.",
    request_serializer=inv.DecisionInputSerializer,
    response_serializer=inv.DecisionSerializer,
    created=True,
    extra_parameters=[],
    handler=lambda request, pk: inv.decision_add(request, pk),
)
ObligationSubmitView = sub_resource_view(
    doc="Record a regulatory report as submitted: to whom, its reference, when; incomplete or ongoing open the "
    "regime's follow-up report.",
    request_serializer=inv.SubmissionInputSerializer,
    response_serializer=inv.ObligationSerializer,
    created=False,
    extra_parameters=[OBLIGATION_ID],
    handler=lambda request, pk, obligation_id: inv.obligation_submit(request, pk, obligation_id),
)
