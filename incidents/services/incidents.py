"""Opening, editing and moving incidents through the playbook.

Every state change goes through the workflow kernel (`workflow.transition_run`): lock the row, check
the state the user saw, check permission and guards, transition, save, then action log and timeline,
all in one transaction. Nothing leaves the database here; side effects are queued with on_commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

from audit import services as audit
from audit.actors import actor_user
from incidents.constants import Category, DismissReason, IncidentState, TimelineKind
from incidents.models import AIFeature, Incident
from incidents.models.evals import evals_blockers
from incidents.models.incident import guards

from .errors import IncidentChanged
from .escalation import incident_notify_state, incident_page, severity_rank
from .triage import triage_apply
from .workflow import TransitionOption, guard_blockers, timeline_add, transition_run
from .workflow import require_visible as _require_visible
from .workflow import transition_options as workflow_options

# Labels the incident page shows on its buttons, in the order of the playbook.
TRANSITION_LABELS = {
    "triage": "Triage",
    "contain": "Mark contained",
    "investigate": "Start investigation",
    "investigate_without_containment": "Investigate without containment",
    "mark_fixed": "Mark fixed",
    "verify": "Mark verified",
    "start_postmortem": "Start post-mortem",
    "close": "Close",
    "reopen": "Reopen",
    "dismiss": "Dismiss",
}

# Guards satisfied by what the user types with the button (a reason), not by the incident's data.
INPUT_GUARDS = {
    guards.has_containment_skip_reason,
    guards.has_dismiss_reason,
    guards.names_duplicate_if_duplicate,
    guards.has_reopen_reason,
    # settled by the choices made with the Close button (lift or hand over, acknowledge or cancel)
    guards.has_no_unattended_containment,
    guards.has_no_open_pages,
}

EDITABLE_FIELDS = [
    "title",
    "summary",
    "category",
    "detection_signal",
    "feature",
    "occurred_at",
    "detected_at",
    "users_affected",
    "is_public",
    "involves_privacy",
    "public_link",
    "went_public_at",
    "severity_override",
    "severity_override_reason",
    "commander",
    "is_restricted",
    "root_cause_layer",
    "root_cause",
    "fix_layer",
    "fix_description",
    "fix_reference",
    "fix_layer_justification",
    "fix_approved_by",
    "verification_summary",
    "postmortem_summary",
    "communications_summary",
]
AUDITED_FIELDS = EDITABLE_FIELDS + ["severity", "impact", "triage_rule", "members"]


def _apply_public_attention(incident: Incident) -> None:
    """A link to where it went public makes the incident public (the triage matrix's public impact).

    External attention without a link is allowed (a reporter's phone call has none). With a link and
    no time, the detection time is the best estimate of when it went public.
    """
    incident.public_link = (incident.public_link or "").strip()
    if not incident.public_link:
        return
    incident.is_public = True
    if incident.went_public_at is None:
        incident.went_public_at = incident.detected_at
    if incident.went_public_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"went_public_at": "It cannot have gone public in the future."})


@transaction.atomic
def incident_open(
    *,
    title: str,
    detection_signal: str,
    feature: AIFeature,
    actor,
    summary: str = "",
    category: str = "",
    occurred_at: datetime | None = None,
    detected_at: datetime | None = None,
    users_affected: int = 0,
    is_public: bool = False,
    involves_privacy: bool = False,
    commander=None,
    members=(),
    is_restricted: bool | None = None,
    severity_override: str = "",
    severity_override_reason: str = "",
    public_link: str = "",
    went_public_at: datetime | None = None,
    is_drill: bool = False,
) -> Incident:
    # A drill facilitator opens drill incidents (drills.services.drill_start) but no real ones.
    may_open = actor is None or actor.has_perm("incidents.add_incident")
    if not may_open and not (is_drill and actor.has_perm("drills.run_drill")):
        raise PermissionDenied("You may not open incidents.")
    incident = Incident(
        title=title,
        summary=summary,
        category=category,
        detection_signal=detection_signal,
        feature=feature,
        occurred_at=occurred_at,
        detected_at=detected_at or timezone.now(),
        users_affected=users_affected,
        is_public=is_public,
        involves_privacy=involves_privacy,
        commander=commander,
        severity_override=severity_override,
        severity_override_reason=severity_override_reason,
        public_link=public_link,
        went_public_at=went_public_at,
        is_drill=is_drill,
        created_by=actor_user(actor),
        # Data leaks start restricted: the fewer who see leaked data, the smaller the leak.
        is_restricted=bool(is_restricted) or category == Category.DATA_LEAK,
    )
    _apply_public_attention(incident)
    triage_apply(incident)
    incident.full_clean(exclude=["state"])
    incident.save()
    if members:
        incident.members.set(members)
    audit.log_created(actor=actor, target=incident, values=audit.snapshot(incident, AUDITED_FIELDS), incident=incident)
    timeline_add(
        incident,
        kind=TimelineKind.OPENED,
        actor=actor,
        occurred_at=incident.detected_at,
        text=f"Incident opened ({incident.get_detection_signal_display()})"
        + (f"; triage matrix gives {incident.severity}" if incident.severity else ""),
    )
    if incident.severity:
        incident_page(incident=incident, reason="incident opened")
    return incident


@transaction.atomic
def incident_update(*, incident_id: int, changes: dict[str, Any], actor) -> Incident:
    """Apply edits made in the admin or the API; recompute triage; log exactly what changed."""
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    _require_visible(incident, actor)
    if actor is not None and not actor.has_perm("incidents.change_incident"):
        raise PermissionDenied("You may not edit incidents.")
    unknown = set(changes) - set(EDITABLE_FIELDS) - {"members"}
    if unknown:
        raise ValidationError({name: "This field cannot be edited." for name in sorted(unknown)})
    before = audit.snapshot(incident, AUDITED_FIELDS)
    members = changes.pop("members", None)
    for name, value in changes.items():
        setattr(incident, name, value)
    if changes.get("category") == Category.DATA_LEAK:
        incident.is_restricted = True
    _apply_public_attention(incident)
    if incident.is_open:
        triage_apply(incident)
    incident.full_clean(exclude=["state"])
    try:
        incident.save()
    except ConcurrentTransition as exc:
        raise IncidentChanged() from exc
    if members is not None:
        incident.members.set(members)
    after = audit.snapshot(incident, AUDITED_FIELDS)
    entry = audit.log_changed(actor=actor, target=incident, before=before, after=after, incident=incident)
    if entry is not None and before.get("severity") != after.get("severity"):
        timeline_add(
            incident,
            kind=TimelineKind.CHANGE,
            actor=actor,
            text=f"Severity {before.get('severity') or 'unset'} → {after.get('severity') or 'unset'}",
        )
    if incident.is_open and severity_rank(after.get("severity")) < severity_rank(before.get("severity")):
        incident_page(incident=incident, reason=f"severity raised to {incident.severity}")
    return incident


# Guards told in several lines: which eval case fails the fix, and why.
EXPLAIN = {guards.evals_prove_the_fix: evals_blockers}


def transition_blockers(incident: Incident, name: str, *, include_input_guards: bool = True) -> list[str]:
    """Why a transition cannot fire now, in words; empty when it can."""
    skip = () if include_input_guards else INPUT_GUARDS
    return guard_blockers(incident, name, noun="incident", skip=skip, explain=EXPLAIN)


def transition_options(incident: Incident, user) -> list[TransitionOption]:
    """The transitions this user may fire from the current state, each with what blocks it."""
    return workflow_options(incident, user, TRANSITION_LABELS, INPUT_GUARDS, noun="incident", explain=EXPLAIN)


def _as_incident(name: str, *, note: str = "") -> dict:
    """How an incident transition is checked and told: guards, permission refusal, log note, timeline line."""
    label = TRANSITION_LABELS.get(name, name.replace("_", " ")).lower()

    def timeline_text(incident: Incident, source: str) -> str:
        return f"{IncidentState(source).label} → {incident.get_state_display()}" + (f": {note}" if note else "")

    return {
        "noun": "incident",
        "explain": EXPLAIN,
        "permission_message": f"You may not {label} incidents.",
        "log_details": {"note": note} if note else None,
        "timeline_kind": TimelineKind.TRANSITION,
        "timeline_text": timeline_text,
        "then": lambda incident: incident_notify_state(incident=incident),
    }


@transaction.atomic
def incident_triage(*, incident_id: int, actor, expected_state: str | None = None) -> Incident:
    incident = transition_run(
        Incident(pk=incident_id), "triage", actor=actor, expected_state=expected_state, **_as_incident("triage")
    )
    incident_page(incident=incident, reason="incident triaged")
    return incident


@transaction.atomic
def incident_contain(*, incident_id: int, actor, expected_state: str | None = None) -> Incident:
    return transition_run(
        Incident(pk=incident_id), "contain", actor=actor, expected_state=expected_state, **_as_incident("contain")
    )


@transaction.atomic
def incident_investigate(*, incident_id: int, actor, expected_state: str | None = None) -> Incident:
    return transition_run(
        Incident(pk=incident_id),
        "investigate",
        actor=actor,
        expected_state=expected_state,
        **_as_incident("investigate"),
    )


@transaction.atomic
def incident_investigate_without_containment(
    *, incident_id: int, reason: str, actor, expected_state: str | None = None
) -> Incident:
    def prepare(incident):
        incident.containment_skip_reason = (reason or "").strip()

    return transition_run(
        Incident(pk=incident_id),
        "investigate_without_containment",
        actor=actor,
        expected_state=expected_state,
        prepare=prepare,
        **_as_incident("investigate_without_containment", note=(reason or "").strip()),
    )


@transaction.atomic
def incident_mark_fixed(*, incident_id: int, actor, expected_state: str | None = None) -> Incident:
    return transition_run(
        Incident(pk=incident_id), "mark_fixed", actor=actor, expected_state=expected_state, **_as_incident("mark_fixed")
    )


@transaction.atomic
def incident_verify(*, incident_id: int, actor, expected_state: str | None = None) -> Incident:
    return transition_run(
        Incident(pk=incident_id), "verify", actor=actor, expected_state=expected_state, **_as_incident("verify")
    )


@transaction.atomic
def incident_start_postmortem(*, incident_id: int, actor, expected_state: str | None = None) -> Incident:
    return transition_run(
        Incident(pk=incident_id),
        "start_postmortem",
        actor=actor,
        expected_state=expected_state,
        **_as_incident("start_postmortem"),
    )


@transaction.atomic
def incident_close(*, incident_id: int, actor, expected_state: str | None = None) -> Incident:
    return transition_run(
        Incident(pk=incident_id), "close", actor=actor, expected_state=expected_state, **_as_incident("close")
    )


@transaction.atomic
def incident_end_drill_transition(*, incident_id: int, actor, note: str = "") -> Incident:
    """The drill incident's own close (drills.services calls it through incident_end_drill)."""
    return transition_run(Incident(pk=incident_id), "end_drill", actor=actor, **_as_incident("end_drill", note=note))


@transaction.atomic
def incident_dismiss(
    *,
    incident_id: int,
    reason: str,
    actor,
    note: str = "",
    duplicate_of: Incident | None = None,
    expected_state: str | None = None,
) -> Incident:
    if reason and reason not in DismissReason.values:
        raise ValidationError({"reason": f"Unknown dismiss reason {reason!r}."})
    if duplicate_of is not None and duplicate_of.pk == incident_id:
        raise ValidationError({"duplicate_of": "An incident cannot duplicate itself."})

    def prepare(incident):
        incident.dismiss_reason = reason or ""
        incident.duplicate_of = duplicate_of

    label = DismissReason(reason).label if reason in DismissReason.values else ""
    if duplicate_of is not None:
        label += f" ({duplicate_of.reference})"
    return transition_run(
        Incident(pk=incident_id),
        "dismiss",
        actor=actor,
        expected_state=expected_state,
        prepare=prepare,
        **_as_incident("dismiss", note="; ".join(p for p in (label, note.strip()) if p)),
    )


@transaction.atomic
def incident_reopen(*, incident_id: int, reason: str, actor, expected_state: str | None = None) -> Incident:
    def prepare(incident):
        incident.reopen_reason = (reason or "").strip()

    return transition_run(
        Incident(pk=incident_id),
        "reopen",
        actor=actor,
        expected_state=expected_state,
        prepare=prepare,
        **_as_incident("reopen", note=(reason or "").strip()),
    )


TRANSITION_SERVICES = {
    "triage": incident_triage,
    "contain": incident_contain,
    "investigate": incident_investigate,
    "investigate_without_containment": incident_investigate_without_containment,
    "mark_fixed": incident_mark_fixed,
    "verify": incident_verify,
    "start_postmortem": incident_start_postmortem,
    "close": incident_close,
    "dismiss": incident_dismiss,
    "reopen": incident_reopen,
}
