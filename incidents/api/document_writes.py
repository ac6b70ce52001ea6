"""Communications and post-mortems over the API, through the services the admin's buttons call.

Each action is one service call with the same permission checks (Legal or Communications approve what
leaves the company; the reviewers the triage matrix names approve a post-mortem), visibility (a
restricted incident's documents are 404 to those who may not see it) and action-log entries.
"""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from incidents.constants import Audience
from incidents.models import Communication, PostMortem
from incidents.services import communications as comms
from incidents.services import postmortems as pms

from .incident_writes import acting_user, incident_row, run_write, visible_incident


class CommunicationSerializer(serializers.ModelSerializer):
    incident = serializers.IntegerField(source="incident_id", read_only=True)
    approved_by = serializers.CharField(source="approved_by.username", allow_null=True, read_only=True)
    sent_by = serializers.CharField(source="sent_by.username", allow_null=True, read_only=True)

    class Meta:
        model = Communication
        fields = [
            "id",
            "incident",
            "audience",
            "state",
            "subject",
            "body",
            "recipients",
            "submitted_at",
            "approved_at",
            "approved_by",
            "sent_at",
            "sent_by",
        ]
        read_only_fields = fields


class CommunicationCreateSerializer(serializers.Serializer):
    audience = serializers.ChoiceField(choices=Audience.choices)
    recipients = serializers.CharField(
        max_length=20_000, required=False, allow_blank=True, default="", help_text="Email addresses, one per line."
    )


class CommunicationPatchSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=300)
    body = serializers.CharField(max_length=100_000)
    recipients = serializers.CharField(max_length=20_000, allow_blank=True)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["This field cannot be edited."] for name in unknown})
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": ["Send at least one field to change."]})
        return attrs


class ActionInputSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class PostMortemSerializer(serializers.ModelSerializer):
    incident = serializers.IntegerField(source="incident_id", read_only=True)

    class Meta:
        model = PostMortem
        fields = [
            "id",
            "incident",
            "state",
            "what_happened",
            "impact",
            "root_cause",
            "why_not_caught",
            "what_is_changing",
            "is_public",
            "review_note",
            "submitted_at",
            "approved_at",
            "published_at",
        ]
        read_only_fields = fields


class PostMortemPatchSerializer(serializers.Serializer):
    what_happened = serializers.CharField(max_length=100_000, allow_blank=True)
    impact = serializers.CharField(max_length=100_000, allow_blank=True)
    root_cause = serializers.CharField(max_length=100_000, allow_blank=True)
    why_not_caught = serializers.CharField(max_length=100_000, allow_blank=True)
    what_is_changing = serializers.CharField(max_length=100_000, allow_blank=True)
    is_public = serializers.BooleanField()

    validate = CommunicationPatchSerializer.validate


COMMUNICATION_ACTIONS = {
    "submit": lambda c, user, body: comms.communication_submit(communication_id=c, actor=user),
    "approve": lambda c, user, body: comms.communication_approve(communication_id=c, actor=user),
    "send": lambda c, user, body: comms.communication_send(communication_id=c, actor=user),
    "send_back": lambda c, user, body: comms.communication_send_back(communication_id=c, note=body["note"], actor=user),
    "cancel": lambda c, user, body: comms.communication_cancel(communication_id=c, reason=body["reason"], actor=user),
}
POSTMORTEM_ACTIONS = {
    "submit": lambda p, user, body: pms.postmortem_submit(postmortem_id=p, actor=user),
    "approve": lambda p, user, body: pms.postmortem_approve(postmortem_id=p, actor=user),
    "request_changes": lambda p, user, body: pms.postmortem_request_changes(
        postmortem_id=p, note=body["note"], actor=user
    ),
    "publish": lambda p, user, body: pms.postmortem_publish(postmortem_id=p, actor=user),
}


def _fresh(model, pk: int, serializer) -> dict:
    return serializer(
        model.objects.select_related("approved_by", *(["sent_by"] if model is Communication else [])).get(pk=pk)
    ).data


# --- communications -------------------------------------------------------------------------------------


def communication_draft(request, pk: str) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)
    data = CommunicationCreateSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def run():
        made = comms.communication_create(
            incident_id=incident.pk,
            audience=data.validated_data["audience"],
            recipients=data.validated_data["recipients"],
            actor=user,
        )
        return Response(_fresh(Communication, made.pk, CommunicationSerializer), status=status.HTTP_201_CREATED)

    return run_write(request, run)


def communication_get(request, pk: str, comm_id: str) -> Response:
    return Response(CommunicationSerializer(incident_row(request, Communication, pk, comm_id)).data)


def communication_edit(request, pk: str, comm_id: str) -> Response:
    user = acting_user(request)
    communication = incident_row(request, Communication, pk, comm_id)
    data = CommunicationPatchSerializer(data=request.data, partial=True)
    data.is_valid(raise_exception=True)

    def run():
        comms.communication_update(communication_id=communication.pk, changes=dict(data.validated_data), actor=user)
        return Response(_fresh(Communication, communication.pk, CommunicationSerializer))

    return run_write(request, run)


def communication_act(request, pk: str, comm_id: str, action: str) -> Response:
    user = acting_user(request)
    communication = incident_row(request, Communication, pk, comm_id)
    if action not in COMMUNICATION_ACTIONS:
        raise NotFound(f"No action {action!r}: one of {', '.join(COMMUNICATION_ACTIONS)}.")
    data = ActionInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def run():
        COMMUNICATION_ACTIONS[action](communication.pk, user, data.validated_data)
        return Response(_fresh(Communication, communication.pk, CommunicationSerializer))

    return run_write(request, run)


# --- post-mortems ---------------------------------------------------------------------------------------


def postmortem_start(request, pk: str) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)

    def run():
        made = pms.postmortem_create(incident_id=incident.pk, actor=user)
        return Response(_fresh(PostMortem, made.pk, PostMortemSerializer), status=status.HTTP_201_CREATED)

    return run_write(request, run)


def postmortem_get(request, pk: str) -> Response:
    return Response(PostMortemSerializer(incident_row(request, PostMortem, pk)).data)


def postmortem_edit(request, pk: str) -> Response:
    user = acting_user(request)
    postmortem = incident_row(request, PostMortem, pk)
    data = PostMortemPatchSerializer(data=request.data, partial=True)
    data.is_valid(raise_exception=True)

    def run():
        pms.postmortem_update(postmortem_id=postmortem.pk, changes=dict(data.validated_data), actor=user)
        return Response(_fresh(PostMortem, postmortem.pk, PostMortemSerializer))

    return run_write(request, run)


def postmortem_act(request, pk: str, action: str) -> Response:
    user = acting_user(request)
    postmortem = incident_row(request, PostMortem, pk)
    if action not in POSTMORTEM_ACTIONS:
        raise NotFound(f"No action {action!r}: one of {', '.join(POSTMORTEM_ACTIONS)}.")
    data = ActionInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def run():
        POSTMORTEM_ACTIONS[action](postmortem.pk, user, data.validated_data)
        return Response(_fresh(PostMortem, postmortem.pk, PostMortemSerializer))

    return run_write(request, run)
