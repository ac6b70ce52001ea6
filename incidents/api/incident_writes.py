"""Writing incidents over the API: declare, edit, and every transition, through the admin's own services.

A write acts for a person: the token must have been created with `--user`, and that user's permissions,
visibility and name in the action log apply, exactly as if they had pressed the admin's button.
Optimistic concurrency: GET answers an ETag; a write that sends `If-Match` with an older one gets 412.
A POST with an `Idempotency-Key` runs once; a retry gets the first answer again.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.response import Response

from incidents import containment_types
from incidents.constants import (
    Category,
    DetectionSignal,
    DismissReason,
    Impact,
    RootCauseLayer,
    Severity,
)
from incidents.models import AIFeature, Incident
from incidents.selectors import incident_get
from incidents.services import (
    TRANSITION_SERVICES,
    containment_record,
    containment_revert,
    incident_open,
    incident_update,
    timeline_add_note,
    transition_options,
)
from incidents.services.containment import incident_close_settled, incident_dismiss_settled
from incidents.services.errors import IncidentChanged
from incidents.services.escalation import page_acknowledge
from integrations.services import IdempotencyConflict, idempotent

PK_MAX = 2**63 - 1


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The incident changed since that ETag: GET it again, then retry with the new If-Match."
    default_code = "precondition_failed"


class GuardStops(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "transition_blocked"


def incident_etag(incident: Incident) -> str:
    """Changes whenever the incident row is saved (state, fields, severity)."""
    return f'"{incident.pk}-{int(incident.updated_at.timestamp() * 1_000_000)}"'


def check_if_match(request, incident: Incident) -> None:
    sent = request.headers.get("If-Match")
    if not sent or sent.strip() == "*":
        return
    if incident_etag(incident) not in [tag.strip() for tag in sent.split(",")]:
        raise PreconditionFailed()


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


WRITE_MAX_BYTES = 1024 * 1024  # a declare or a post-mortem section is kilobytes; a megabyte is a mistake or an attack


def acting_user(request):
    """The person a write acts for; a token that acts for no one may only read. A body over the write
    limit is refused (413) before anything reads it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > WRITE_MAX_BYTES:
        raise BodyTooLarge(f"The body is {length} bytes; a write takes at most {WRITE_MAX_BYTES} bytes.")
    user = getattr(request.auth, "user", None)
    if user is None:
        raise PermissionDenied(
            "This token acts for no one, so it may only read: create one with `create_api_token --user <name>`."
        )
    return user


def path_id(value: str) -> int:
    """An id from the URL: digits within a bigint, or a 404 (never a 500 or a database error)."""
    value = str(value)
    if not (value.isascii() and value.isdigit() and len(value) <= 19 and int(value) <= PK_MAX):
        raise NotFound()
    return int(value)


def visible_incident(request, pk: str) -> Incident:
    try:
        return incident_get(user=request.user, pk=path_id(pk))
    except ObjectDoesNotExist as exc:
        raise NotFound() from exc


def incident_row(request, model, incident_pk: str, pk: str | None = None):
    """A row of the incident (by id, or its only one when `pk` is None), if the user may see the incident."""
    incident = visible_incident(request, incident_pk)
    try:
        if pk is None:
            return model.objects.select_related("incident").get(incident=incident)
        return model.objects.select_related("incident").get(pk=path_id(pk), incident=incident)
    except ObjectDoesNotExist as exc:
        raise NotFound() from exc


def run_write(request, run) -> Response:
    """Run a write (once per Idempotency-Key), turning the services' errors into the API's statuses."""
    body = json.dumps(request.data, sort_keys=True, default=str).encode() if request.data else b""

    def guarded() -> Response:
        try:
            return run()
        except (Incident.DoesNotExist, ObjectDoesNotExist) as exc:
            raise NotFound() from exc
        except IncidentChanged as exc:
            raise PreconditionFailed() from exc
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc) or "You may not do that.") from exc
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
            ) from exc

    try:
        return idempotent(
            token=request.auth,
            key=request.headers.get("Idempotency-Key"),
            method=request.method,
            path=request.path,
            body=body,
            run=guarded,
        )
    except IdempotencyConflict as exc:
        return Response({"detail": str(exc)}, status=exc.status_code)


# --- input ----------------------------------------------------------------------------------------------


def _staff_users():
    return get_user_model().objects.filter(is_active=True, is_staff=True)


class DeclareSerializer(serializers.Serializer):
    """What the admin's Declare incident screen asks; the triage matrix sets the severity."""

    title = serializers.CharField(max_length=300)
    feature = serializers.SlugRelatedField(
        slug_field="key", queryset=AIFeature.objects.all(), help_text="AI feature key"
    )
    category = serializers.ChoiceField(choices=Category.choices)
    impact = serializers.ChoiceField(choices=Impact.choices, default=Impact.LIMITED)
    users_affected = serializers.IntegerField(min_value=0, max_value=2_000_000_000, default=0)
    detection_signal = serializers.ChoiceField(
        choices=DetectionSignal.choices, default=DetectionSignal.INTERNAL_DISCOVERY
    )
    summary = serializers.CharField(max_length=20_000, required=False, allow_blank=True, default="")
    public_link = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    commander = serializers.SlugRelatedField(
        slug_field="username",
        queryset=_staff_users(),
        required=False,
        allow_null=True,
        help_text="Username; default: the token's user.",
    )
    severity_override = serializers.ChoiceField(choices=Severity.choices, required=False, allow_blank=True, default="")
    severity_override_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def service_kwargs(self, user) -> dict:
        data = self.validated_data
        return {
            "title": data["title"],
            "feature": data["feature"],
            "category": data["category"],
            "detection_signal": data["detection_signal"],
            "users_affected": data["users_affected"],
            "is_public": data["impact"] == Impact.PUBLIC,
            "involves_privacy": data["impact"] == Impact.REGULATORY,
            "summary": data["summary"],
            "public_link": data["public_link"],
            "commander": data.get("commander", user),
            "severity_override": data["severity_override"],
            "severity_override_reason": data["severity_override_reason"].strip(),
        }


class IncidentPatchSerializer(serializers.Serializer):
    """The fields a commander edits on the incident page; each one sent is changed and logged."""

    title = serializers.CharField(max_length=300)
    summary = serializers.CharField(max_length=20_000, allow_blank=True)
    category = serializers.ChoiceField(choices=Category.choices)
    users_affected = serializers.IntegerField(min_value=0, max_value=2_000_000_000)
    is_public = serializers.BooleanField()
    involves_privacy = serializers.BooleanField()
    public_link = serializers.URLField(max_length=500, allow_blank=True)
    severity_override = serializers.ChoiceField(choices=Severity.choices, allow_blank=True)
    severity_override_reason = serializers.CharField(max_length=2000, allow_blank=True)
    commander = serializers.SlugRelatedField(slug_field="username", queryset=_staff_users(), allow_null=True)
    members = serializers.SlugRelatedField(slug_field="username", queryset=_staff_users(), many=True)
    root_cause_layer = serializers.ChoiceField(choices=RootCauseLayer.choices, allow_blank=True)
    root_cause = serializers.CharField(max_length=20_000, allow_blank=True)
    fix_layer = serializers.ChoiceField(choices=RootCauseLayer.choices, allow_blank=True)
    fix_description = serializers.CharField(max_length=20_000, allow_blank=True)
    fix_reference = serializers.CharField(max_length=500, allow_blank=True)
    fix_layer_justification = serializers.CharField(max_length=5000, allow_blank=True)
    verification_summary = serializers.CharField(max_length=20_000, allow_blank=True)
    postmortem_summary = serializers.CharField(max_length=20_000, allow_blank=True)
    communications_summary = serializers.CharField(max_length=20_000, allow_blank=True)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["This field cannot be edited."] for name in unknown})
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": ["Send at least one field to change."]})
        return attrs


class SettleContainmentSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[("lift", "lift"), ("hand_over", "hand over")])
    reason = serializers.CharField(max_length=2000)
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=_staff_users(), required=False, allow_null=True
    )


class TransitionInputSerializer(serializers.Serializer):
    """What a transition may need: a reason; for dismiss, why and of what it is a duplicate; for close and
    dismiss, what happens to each active containment and each open page (ids as keys)."""

    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    dismiss_reason = serializers.ChoiceField(choices=DismissReason.choices, required=False, allow_blank=True)
    duplicate_of = serializers.IntegerField(min_value=1, max_value=PK_MAX, required=False)
    containment = serializers.DictField(child=SettleContainmentSerializer(), required=False, default=dict)
    pages = serializers.DictField(
        child=serializers.ChoiceField(choices=[("acknowledge", "acknowledge"), ("cancel", "cancel")]),
        required=False,
        default=dict,
    )


class TransitionOptionSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    allowed = serializers.BooleanField(source="is_allowed")
    blockers = serializers.ListField(child=serializers.CharField(), help_text="Why it cannot run now, in words.")
    needs_reason = serializers.BooleanField()


# --- the writes -----------------------------------------------------------------------------------------


def declare(request, serializer_class) -> Response:
    user = acting_user(request)
    data = DeclareSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def run():
        if not user.has_perm("incidents.add_incident"):
            raise DjangoPermissionDenied("You may not declare incidents (incidents.add_incident).")
        incident = incident_open(actor=user, **data.service_kwargs(user))
        incident = Incident.objects.get(pk=incident.pk)
        response = Response(serializer_class(incident).data, status=status.HTTP_201_CREATED)
        response["Location"] = f"/api/v1/incidents/{incident.pk}"
        response["ETag"] = incident_etag(incident)
        return response

    return run_write(request, run)


def update(request, pk: str, serializer_class) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)
    check_if_match(request, incident)
    data = IncidentPatchSerializer(data=request.data, partial=True)
    data.is_valid(raise_exception=True)
    changes = dict(data.validated_data)
    for field in ("root_cause_layer", "fix_layer", "severity_override"):
        if field in changes and changes[field] is None:
            changes[field] = ""

    def run():
        updated = incident_update(incident_id=incident.pk, changes=changes, actor=user)
        updated = Incident.objects.get(pk=updated.pk)
        response = Response(serializer_class(updated).data)
        response["ETag"] = incident_etag(updated)
        return response

    return run_write(request, run)


def options(request, pk: str) -> Response:
    incident = visible_incident(request, pk)
    response = Response(TransitionOptionSerializer(transition_options(incident, request.user), many=True).data)
    response["ETag"] = incident_etag(incident)
    return response


def transition(request, pk: str, name: str, serializer_class) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)
    if name not in TRANSITION_SERVICES:
        raise NotFound(f"No transition {name!r}: one of {', '.join(TRANSITION_SERVICES)}.")
    check_if_match(request, incident)
    data = TransitionInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    option = next((o for o in transition_options(incident, user) if o.name == name), None)
    if option is None:
        raise GuardStops(
            {
                "detail": f"{name} is not possible while {incident.reference} is "
                f"{incident.get_state_display().lower()}, or you may not take it.",
                "blockers": [],
            }
        )
    if option.blockers:
        raise GuardStops({"detail": f"{option.label}: blocked.", "blockers": option.blockers})
    body = data.validated_data
    kwargs = {"incident_id": incident.pk, "actor": user, "expected_state": incident.state}
    service = TRANSITION_SERVICES[name]
    if option.needs_reason or name in ("investigate_without_containment", "reopen"):
        if not body["reason"].strip():
            raise serializers.ValidationError({"reason": ["Say why: this step needs a reason."]})
        kwargs["reason"] = body["reason"]
    if name in ("close", "dismiss"):
        kwargs["containment"] = {
            _int_key(key, "containment"): {**value, "owner": value.get("owner")}
            for key, value in body["containment"].items()
        }
        kwargs["pages"] = {_int_key(key, "pages"): value for key, value in body["pages"].items()}
        service = incident_close_settled
    if name == "dismiss":
        service = incident_dismiss_settled
        kwargs["reason"] = body.get("dismiss_reason") or ""
        kwargs["note"] = body["reason"]
        if body.get("duplicate_of"):
            try:
                kwargs["duplicate_of"] = incident_get(user=user, pk=body["duplicate_of"])
            except ObjectDoesNotExist as exc:
                raise serializers.ValidationError(
                    {"duplicate_of": [f"No incident INC-{body['duplicate_of']}."]}
                ) from exc

    def run():
        service(**kwargs)
        moved = Incident.objects.get(pk=incident.pk)
        response = Response(serializer_class(moved).data)
        response["ETag"] = incident_etag(moved)
        return response

    return run_write(request, run)


def _int_key(key: str, field: str) -> int:
    if not (str(key).isascii() and str(key).isdigit() and len(str(key)) <= 19):
        raise serializers.ValidationError({field: [f"{key!r} is not an id."]})
    return int(key)


__all__ = [
    "ContainmentInputSerializer",
    "ContainmentSerializer",
    "LiftInputSerializer",
    "NoteInputSerializer",
    "NoteSerializer",
    "PageSerializer",
    "containment_add",
    "containment_lift",
    "note_add",
    "page_ack",
    "TransitionInputSerializer",
    "TransitionOptionSerializer",
    "DeclareSerializer",
    "IncidentPatchSerializer",
    "declare",
    "incident_etag",
    "options",
    "transition",
    "update",
]


# --- sub-resources: the timeline, containment, pages ---------------------------------------------------


class NoteInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=5000)
    occurred_at = serializers.DateTimeField(required=False, help_text="When it happened; default now.")


class NoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    text = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor.username", allow_null=True, read_only=True)


class ContainmentInputSerializer(serializers.Serializer):
    action_type = serializers.ChoiceField(choices=containment_types.choices)
    parameters = serializers.DictField(
        child=serializers.CharField(max_length=300, allow_blank=True),
        required=False,
        default=dict,
        help_text=containment_types.api_parameters_help(),
    )
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    approved_by = serializers.SlugRelatedField(
        slug_field="username", queryset=_staff_users(), required=False, allow_null=True
    )
    is_reversible = serializers.BooleanField(required=False, default=True)


class ContainmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action_type = serializers.CharField()
    parameters = serializers.DictField()
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    is_reversible = serializers.BooleanField()
    performed_at = serializers.DateTimeField()
    reverted_at = serializers.DateTimeField(allow_null=True)
    revert_reason = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, read_only=True)


class LiftInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why it is lifted.")


class PageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    tier = serializers.IntegerField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_via = serializers.CharField()


def _created(data, status_code=status.HTTP_201_CREATED) -> Response:
    return Response(data, status=status_code)


def note_add(request, pk: str) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)
    data = NoteInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def run():
        entry = timeline_add_note(
            incident_id=incident.pk,
            text=data.validated_data["text"],
            occurred_at=data.validated_data.get("occurred_at"),
            actor=user,
        )
        return _created(NoteSerializer(entry).data)

    return run_write(request, run)


def containment_add(request, pk: str) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)
    check_if_match(request, incident)
    data = ContainmentInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    body = data.validated_data

    def run():
        action = containment_record(
            incident_id=incident.pk,
            action_type=body["action_type"],
            parameters=body["parameters"],
            description=body["description"],
            approved_by=body.get("approved_by"),
            is_reversible=body["is_reversible"],
            actor=user,
        )
        return _created(ContainmentSerializer(action).data)

    return run_write(request, run)


def containment_lift(request, pk: str, action_id: str) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)
    action = incident.containment_actions.filter(pk=path_id(action_id)).first()
    if action is None:
        raise NotFound("No such containment action on this incident.")
    data = LiftInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def run():
        lifted = containment_revert(action_id=action.pk, reason=data.validated_data["reason"], actor=user)
        body = ContainmentSerializer(lifted).data
        if getattr(lifted, "still_held_by", ""):
            body = {**body, "kill_switch_still_held_by": lifted.still_held_by}
        return Response(body)

    return run_write(request, run)


def page_ack(request, pk: str, page_id: str) -> Response:
    user = acting_user(request)
    incident = visible_incident(request, pk)
    page = incident.pages.filter(pk=path_id(page_id)).first()
    if page is None:
        raise NotFound("No such page on this incident.")

    def run():
        return Response(PageSerializer(page_acknowledge(page_id=page.pk, actor=user, via="api")).data)

    return run_write(request, run)
