"""The containment ledger: record an action, revert it. Each is logged and on the timeline."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from incidents import containment_types
from incidents.constants import IncidentState, TimelineKind
from incidents.models import ContainmentAction, HoldKind, Incident, KillSwitchHold
from incidents.models.guards import OPEN_PAGE_STATES, unattended_containment
from incidents.selectors import incident_is_visible

from .errors import IncidentChanged
from .escalation import page_acknowledge, page_cancel
from .flags import cohort_rule_from_text, killswitch_for_incident, killswitch_hold, killswitch_release
from .incidents import (
    incident_close,
    incident_contain,
    incident_dismiss,
    incident_end_drill_transition,
    incident_triage,
)
from .workflow import actor_user, require_permission, require_visible, timeline_add


def _clean_parameters(action_type: str, parameters: dict | None) -> dict:
    kind = containment_types.get(action_type)
    if kind is None:
        raise ValidationError({"action_type": f"Unknown containment type {action_type!r}."})
    return kind.clean_parameters(parameters)


def _hold_kill_switch(action: ContainmentAction, *, actor) -> None:
    """A type that holds the switch (feature flag off, restrict cohort) holds the one the incident acts on
    (a drill's stand-in for a drill): one hold per action, so lifting it leaves other incidents' holds in
    force."""
    kind = containment_types.get(action.action_type)
    if kind is None or not kind.holds_switch:
        return
    switch = killswitch_for_incident(action.incident)
    reason = action.description or f"containment of {action.incident.reference}"
    if kind.holds_switch == containment_types.HOLD_OFF:
        killswitch_hold(
            switch_id=switch.pk,
            kind=HoldKind.OFF,
            reason=reason,
            actor=actor,
            incident=action.incident,
            containment=action,
        )
    else:
        killswitch_hold(
            switch_id=switch.pk,
            kind=HoldKind.COHORT,
            rule=cohort_rule_from_text(action.parameters[kind.cohort_parameter]),
            reason=reason,
            actor=actor,
            incident=action.incident,
            containment=action,
        )


def _release_kill_switch(action: ContainmentAction, *, actor) -> str:
    """Lift this action's hold; returns who still holds the switch (empty when nobody does)."""
    hold = KillSwitchHold.objects.filter(containment=action, released_at__isnull=True).first()
    if hold is None:
        return ""
    return killswitch_release(hold_id=hold.pk, reason=action.revert_reason, actor=actor).still_held_by


@transaction.atomic
def containment_record(
    *,
    incident_id: int,
    action_type: str,
    actor,
    parameters: dict | None = None,
    description: str = "",
    approved_by=None,
    is_reversible: bool = True,
    performed_at: datetime | None = None,
) -> ContainmentAction:
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if not incident_is_visible(user=actor, incident=incident):
        raise Incident.DoesNotExist("No incident with that id.")
    if not actor.has_perm("incidents.add_containmentaction"):
        raise PermissionDenied("You may not record containment actions.")
    if not incident.is_open:
        raise ValidationError(f"{incident.reference} is {incident.get_state_display().lower()}: reopen it first.")
    if containment_types.get(action_type) is None:
        raise ValidationError({"action_type": f"Unknown containment type {action_type!r}."})
    performed_at = performed_at or timezone.now()
    if performed_at > timezone.now() + timezone.timedelta(minutes=5):
        raise ValidationError({"performed_at": "Cannot be in the future."})
    action = ContainmentAction.objects.create(
        incident=incident,
        action_type=action_type,
        parameters=_clean_parameters(action_type, parameters),
        description=description.strip(),
        actor=actor,
        approved_by=approved_by,
        is_reversible=is_reversible,
        performed_at=performed_at,
    )
    audit.log_containment_recorded(actor=actor, action=action)
    details = action.parameters_text()
    approval = f", approved by {approved_by.get_username()}" if approved_by else ""
    timeline_add(
        incident,
        kind=TimelineKind.CONTAINMENT,
        actor=actor,
        occurred_at=performed_at,
        text=f"Containment: {action.get_action_type_display()}" + (f" ({details})" if details else "") + approval,
    )
    _hold_kill_switch(action, actor=actor)
    return action


@transaction.atomic
def containment_revert(*, action_id: int, reason: str, actor) -> ContainmentAction:
    action = ContainmentAction.objects.select_for_update(of=("self",)).select_related("incident").get(pk=action_id)
    if not incident_is_visible(user=actor, incident=action.incident):
        raise ContainmentAction.DoesNotExist("No containment action with that id.")
    if not actor.has_perm("incidents.change_containmentaction"):
        raise PermissionDenied("You may not revert containment actions.")
    if action.reverted_at is not None:
        raise ValidationError("This action was already reverted.")
    if not action.is_reversible:
        raise ValidationError("This action was recorded as irreversible.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the containment is lifted."})
    return _lift(action, reason=reason, actor=actor, switch_actor=actor)


def _lift(action: ContainmentAction, *, reason: str, actor, switch_actor) -> ContainmentAction:
    """The ledger entry, the log, the timeline and the switch hold; the caller has checked who may."""
    action.reverted_at = timezone.now()
    action.reverted_by = actor_user(actor)
    action.revert_reason = reason.strip()
    action.save(update_fields=["reverted_at", "reverted_by", "revert_reason"])
    audit.log_containment_reverted(actor=actor, action=action)
    timeline_add(
        action.incident,
        kind=TimelineKind.CONTAINMENT,
        actor=action.reverted_by,
        occurred_at=action.reverted_at,
        text=f"Containment lifted: {action.get_action_type_display()}: {action.revert_reason}",
    )
    action.still_held_by = _release_kill_switch(action, actor=switch_actor)
    return action


@transaction.atomic
def containment_hand_over(*, action_id: int, owner, reason: str, actor) -> ContainmentAction:
    """Keep a containment in force past its incident's close, with a named owner who answers for it."""
    action = ContainmentAction.objects.select_for_update(of=("self",)).select_related("incident").get(pk=action_id)
    if not incident_is_visible(user=actor, incident=action.incident):
        raise ContainmentAction.DoesNotExist("No containment action with that id.")
    if not actor.has_perm("incidents.change_containmentaction"):
        raise PermissionDenied("You may not hand over containment actions.")
    if action.reverted_at is not None:
        raise ValidationError("This action was already lifted.")
    if owner is None:
        raise ValidationError({"owner": "Name who answers for it from now on."})
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why it stays in force after the incident closes."})
    before = {"handed_over_to": action.handed_over_to_id, "handover_reason": action.handover_reason}
    action.handed_over_to = owner
    action.handover_reason = reason.strip()
    action.handed_over_at = timezone.now()
    action.save(update_fields=["handed_over_to", "handover_reason", "handed_over_at"])
    audit.log_changed(
        actor=actor,
        target=action,
        before=before,
        after={"handed_over_to": owner.pk, "handover_reason": action.handover_reason},
        incident=action.incident,
    )
    timeline_add(
        action.incident,
        kind=TimelineKind.CONTAINMENT,
        actor=actor,
        occurred_at=action.handed_over_at,
        text=f"Containment handed over: {action.get_action_type_display()} stays in force, "
        f"owned by {owner.get_full_name() or owner.get_username()}: {action.handover_reason}",
    )
    return action


def one_click_containment(incident: Incident) -> list[str]:
    """What one click records: the triage matrix default's types that the registry records by one click on
    the incident's severity (none needs a person to give a parameter), less those already in force."""
    if incident.triage_rule is None or not incident.is_open:
        return []
    candidates = [
        value
        for value in incident.triage_rule.default_containment
        if (kind := containment_types.get(value)) and kind.is_one_click_for(incident.severity)
    ]
    if not candidates:
        return []
    active = set(incident.containment_actions.filter(reverted_at__isnull=True).values_list("action_type", flat=True))
    return [value for value in candidates if value not in active]


def _severities_text(severities: list[str]) -> str:
    return " and ".join([", ".join(severities[:-1]), severities[-1]] if len(severities) > 1 else severities)


@transaction.atomic
def incident_contain_now(*, incident_id: int, actor, expected_state: str | None = None) -> Incident:
    """One click: triage if needed, record the matrix's default containment, and mark the incident contained.

    One transaction: when a guard stops any step, nothing is recorded and the error names the guard. The
    incident comes back with `contained_with`, the actions this click recorded (none when the incident
    already had its containment).
    """
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if not incident_is_visible(user=actor, incident=incident):
        raise Incident.DoesNotExist("No incident with that id.")
    if expected_state is not None and incident.state != expected_state:
        raise IncidentChanged()
    types = one_click_containment(incident)
    if not types and not incident.containment_actions.filter(reverted_at__isnull=True).exists():
        raise ValidationError(
            f"One-click containment is for triaged {_severities_text(containment_types.one_click_severities())} "
            "incidents with a matrix default."
        )
    if incident.state == IncidentState.DETECTED:
        incident = incident_triage(incident_id=incident.pk, actor=actor)
    recorded = []
    for action_type in types:
        kind = containment_types.get(action_type)
        parameters = kind.one_click_parameters(incident) if kind.one_click_parameters else {}
        recorded.append(
            containment_record(
                incident_id=incident.pk,
                action_type=action_type,
                parameters=parameters,
                description="One click from the incident page (triage matrix default).",
                actor=actor,
            )
        )
    if incident.state == IncidentState.TRIAGED:
        incident = incident_contain(incident_id=incident.pk, actor=actor)
    incident.contained_with = recorded
    return incident


def _prefixed(label: str, exc: ValidationError) -> ValidationError:
    return ValidationError([f"{label}: {message}" for message in exc.messages])


def _settle(incident: Incident, *, actor, containment: dict | None, pages: dict | None, why: str) -> None:
    """Apply the commander's choice for each containment still in force and each unanswered page.

    `containment` maps each active containment action to {"decision": "lift", "reason": ...} or
    {"decision": "hand_over", "owner": user, "reason": ...}; `pages` maps each unanswered page to
    "acknowledge" or "cancel". What is left undecided is left alone: the transition's guards name it.
    """
    for action in unattended_containment(incident):
        decision = (containment or {}).get(action.pk) or {}
        label = action.get_action_type_display()
        try:
            if decision.get("decision") == "lift":
                containment_revert(action_id=action.pk, reason=decision.get("reason", ""), actor=actor)
            elif decision.get("decision") == "hand_over":
                containment_hand_over(
                    action_id=action.pk, owner=decision.get("owner"), reason=decision.get("reason", ""), actor=actor
                )
        except ValidationError as exc:
            raise _prefixed(label, exc) from exc
    for page in incident.pages.filter(state__in=OPEN_PAGE_STATES).select_related("contact"):
        decision = (pages or {}).get(page.pk)
        if decision == "acknowledge":
            page_acknowledge(page_id=page.pk, actor=actor, via="admin")
        elif decision == "cancel":
            page_cancel(page_id=page.pk, reason=why, actor=actor)


def _lock_for_settling(incident_id: int, *, actor, expected_state: str | None, permission: str, verb: str) -> Incident:
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    require_visible(incident, actor)
    if expected_state is not None and incident.state != expected_state:
        raise IncidentChanged()
    require_permission(actor, permission, f"You may not {verb} incidents.")
    return incident


@transaction.atomic
def incident_close_settled(
    *,
    incident_id: int,
    actor,
    expected_state: str | None = None,
    containment: dict[int, dict] | None = None,
    pages: dict[int, str] | None = None,
) -> Incident:
    """Close the incident, settling first what would otherwise stay silently active (see `_settle`).

    One transaction: when the close is refused, nothing is lifted, handed over or cancelled.
    """
    incident = _lock_for_settling(
        incident_id, actor=actor, expected_state=expected_state, permission="incidents.close_incident", verb="close"
    )
    _settle(incident, actor=actor, containment=containment, pages=pages, why=f"{incident.reference} is closing")
    return incident_close(incident_id=incident.pk, actor=actor)


@transaction.atomic
def incident_dismiss_settled(
    *,
    incident_id: int,
    reason: str,
    actor,
    note: str = "",
    duplicate_of: Incident | None = None,
    expected_state: str | None = None,
    containment: dict[int, dict] | None = None,
    pages: dict[int, str] | None = None,
) -> Incident:
    """Dismiss (false alarm, duplicate), settling first what would stay silently active, as closing does."""
    incident = _lock_for_settling(
        incident_id,
        actor=actor,
        expected_state=expected_state,
        permission="incidents.dismiss_incident",
        verb="dismiss",
    )
    _settle(incident, actor=actor, containment=containment, pages=pages, why=f"{incident.reference} is dismissed")
    return incident_dismiss(incident_id=incident.pk, reason=reason, actor=actor, note=note, duplicate_of=duplicate_of)


@transaction.atomic
def incident_end_drill(*, incident_id: int, reason: str, actor) -> Incident | None:
    """A drill's incident closes with its drill: its containment and its stand-in holds are lifted, its
    pages cancelled, wherever the exercise stopped. Returns None when it was already closed."""
    # The authority is the drill's (drills.run_drill, checked by the transition): a facilitator need not
    # hold the kill-switch or paging permissions to end an exercise, and the drill touches only its own.
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if not incident.is_drill:
        raise ValidationError("Only a drill's own incident closes with its drill.")
    if not incident.is_open:
        return None
    if actor is not None and not actor.has_perm("drills.run_drill"):
        raise PermissionDenied("You may not run drills.")
    for action in incident.containment_actions.select_for_update().filter(reverted_at__isnull=True):
        _lift(action, reason=reason, actor=actor, switch_actor=None)
    for hold in KillSwitchHold.objects.filter(incident=incident, released_at__isnull=True):
        killswitch_release(hold_id=hold.pk, reason=reason, actor=None)
    for page in incident.pages.filter(state__in=OPEN_PAGE_STATES):
        page_cancel(page_id=page.pk, reason=reason, actor=None)
    return incident_end_drill_transition(incident_id=incident.pk, actor=actor, note=reason)
