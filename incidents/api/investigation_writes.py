"""Findings, evidence, action items and regulatory decisions and submissions over the API, through the
services the incident page's forms call (same permissions, visibility and action log)."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from incidents.constants import RootCauseLayer
from incidents.deadlines import ClockStart
from incidents.models import ActionItem, Regime, RegulatoryObligation
from incidents.models.actions import ActionItemKind
from incidents.models.findings import CommonFinding
from incidents.services import action_items as items
from incidents.services import regulatory
from incidents.services.findings import finding_record

from .incident_writes import PK_MAX, _staff_users, acting_user, incident_row, run_write, visible_incident

# --- input and output -------------------------------------------------------------------------------------


class FindingInputSerializer(serializers.Serializer):
    layer = serializers.ChoiceField(choices=RootCauseLayer.choices)
    common_finding = serializers.ChoiceField(choices=CommonFinding.choices, default=CommonFinding.OTHER)
    text = serializers.CharField(max_length=20_000)
    is_root_cause = serializers.BooleanField(default=False)


class FindingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    layer = serializers.CharField()
    common_finding = serializers.CharField()
    text = serializers.CharField()
    is_root_cause = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class EvidenceInputSerializer(serializers.Serializer):
    records = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=PK_MAX), min_length=1, max_length=200
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class EvidenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    record = serializers.IntegerField(source="record_id")
    content_hash = serializers.CharField(help_text="SHA-256 of the record as attached (frozen).")
    attached_at = serializers.DateTimeField()


class ActionItemInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    kind = serializers.ChoiceField(choices=ActionItemKind.choices)
    owner = serializers.SlugRelatedField(slug_field="username", queryset=_staff_users())
    due_date = serializers.DateField()
    details = serializers.CharField(max_length=20_000, required=False, allow_blank=True, default="")


class ActionItemSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = ActionItem
        fields = ["id", "incident", "title", "kind", "owner", "due_date", "state", "details"]
        read_only_fields = fields


class ActionItemActInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class TriggerSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    evidence = serializers.CharField(max_length=2000)


class DecisionInputSerializer(serializers.Serializer):
    regimes = serializers.ListField(
        child=serializers.SlugField(max_length=40), min_length=1, max_length=20, help_text="Regime codes."
    )
    reason = serializers.CharField(max_length=5000)
    triggers = serializers.DictField(
        child=TriggerSerializer(),
        required=False,
        default=dict,
        help_text=f"Per clock start ({', '.join(ClockStart.values)}): when, and what shows it. Each regime's "
        "clock starts from its own; awareness and discovery default to the detection time.",
    )

    def validate_triggers(self, value):
        unknown = sorted(set(value) - set(ClockStart.values))
        if unknown:
            raise serializers.ValidationError(f"Unknown clock start {', '.join(unknown)}.")
        return value


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    obligations = serializers.SerializerMethodField()

    def get_obligations(self, decision) -> list[int]:
        return list(RegulatoryObligation.objects.filter(decision=decision).values_list("pk", flat=True))


class SubmissionInputSerializer(serializers.Serializer):
    submitted_to = serializers.CharField(max_length=300)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    submitted_at = serializers.DateTimeField(required=False)
    is_incomplete = serializers.BooleanField(default=False, help_text="Sent incomplete: the follow-up is opened.")
    is_ongoing = serializers.BooleanField(default=False, help_text="NIS2: the incident is still ongoing.")


class ObligationSerializer(serializers.ModelSerializer):
    class Meta:
        model = RegulatoryObligation
        fields = ["id", "incident", "state", "deadline", "submitted_at", "submitted_to", "submission_reference"]
        read_only_fields = fields


def _created(data) -> Response:
    return Response(data, status=status.HTTP_201_CREATED)


# --- the writes -------------------------------------------------------------------------------------------


def finding_add(request, pk: str) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)
    data = FindingInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    return run_write(
        request,
        lambda: _created(
            FindingSerializer(finding_record(incident_id=incident.pk, actor=user, **data.validated_data)).data
        ),
    )


def evidence_add(request, pk: str) -> Response:
    from audit.trail.investigation import evidence_attach

    user = acting_user(request)
    incident = visible_incident(request, pk)
    data = EvidenceInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def run():
        attached = evidence_attach(
            incident_id=incident.pk,
            record_ids=data.validated_data["records"],
            note=data.validated_data["note"],
            actor=user,
        )
        return _created(EvidenceSerializer(attached, many=True).data)

    return run_write(request, run)


def action_item_add(request, pk: str) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)
    data = ActionItemInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def run():
        item = items.action_item_create(incident_id=incident.pk, actor=user, **data.validated_data)
        return _created(ActionItemSerializer(item).data)

    return run_write(request, run)


def action_item_act(request, pk: str, item_id: str, action: str) -> Response:
    user = acting_user(request)
    item = incident_row(request, ActionItem, pk, item_id)
    if action not in ("complete", "wont_do"):
        raise NotFound(f"No action {action!r}: complete or wont_do.")
    data = ActionItemActInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def run():
        if action == "complete":
            done = items.action_item_complete(item_id=item.pk, actor=user)
        else:
            done = items.action_item_wont_do(item_id=item.pk, reason=data.validated_data["reason"], actor=user)
        return Response(ActionItemSerializer(done).data)

    return run_write(request, run)


def decision_add(request, pk: str) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)
    data = DecisionInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    codes = data.validated_data["regimes"]
    regimes = list(Regime.objects.filter(code__in=codes, is_active=True))
    unknown = sorted(set(codes) - {r.code for r in regimes})
    if unknown:
        raise serializers.ValidationError({"regimes": [f"No active regime {', '.join(unknown)}."]})
    triggers = {kind: (t["at"], t["evidence"]) for kind, t in data.validated_data["triggers"].items()}

    def run():
        decision = regulatory.reportability_decide(
            incident_id=incident.pk,
            regimes=regimes,
            reason=data.validated_data["reason"],
            triggers=triggers or None,
            actor=user,
        )
        return _created(DecisionSerializer(decision).data)

    return run_write(request, run)


def obligation_submit(request, pk: str, obligation_id: str) -> Response:
    user = acting_user(request)
    obligation = incident_row(request, RegulatoryObligation, pk, obligation_id)
    data = SubmissionInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def run():
        done = regulatory.obligation_submit(obligation_id=obligation.pk, actor=user, **data.validated_data)
        return Response(ObligationSerializer(done).data)

    return run_write(request, run)
