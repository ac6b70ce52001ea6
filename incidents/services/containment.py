"""The containment ledger: record an action, revert it. Each is logged and on the timeline."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from incidents.constants import CONTAINMENT_PARAMETERS, ContainmentType, TimelineKind
from incidents.models import ContainmentAction, Incident, TimelineEntry
from incidents.selectors import incident_is_visible


def _clean_parameters(action_type: str, parameters: dict | None) -> dict:
    expected = CONTAINMENT_PARAMETERS[ContainmentType(action_type)]
    parameters = {k: str(v).strip() for k, v in (parameters or {}).items() if str(v).strip()}
    errors = {}
    unknown = sorted(set(parameters) - set(expected))
    if unknown:
        errors["parameters"] = f"{ContainmentType(action_type).label} takes no {', '.join(unknown)}."
    for name in expected:
        if not parameters.get(name):
            errors[name] = f"Required for {ContainmentType(action_type).label.lower()}."
    if errors:
        raise ValidationError(errors)
    return {name: parameters[name] for name in expected}


def _apply_to_kill_switch(action: ContainmentAction, *, actor, lifting: bool) -> None:
    """'Feature flag off' and 'restrict cohort' act on the kill switch the product reads; lifting them undoes it."""
    from .flags import cohort_rule_from_text, killswitch_for, killswitch_set, killswitch_set_cohort_rules

    feature = action.incident.feature
    why = action.revert_reason if lifting else (action.description or f"containment of {action.incident.reference}")
    if action.action_type == ContainmentType.FEATURE_FLAG_OFF:
        killswitch_set(feature=feature, is_on=lifting, reason=why, actor=actor, incident=action.incident)
    elif action.action_type == ContainmentType.RESTRICT_COHORT:
        rule = cohort_rule_from_text(action.parameters["cohort"])
        rules = [r for r in killswitch_for(feature).cohort_rules if r != rule]
        if not lifting:
            rules.insert(0, rule)
        killswitch_set_cohort_rules(feature=feature, rules=rules, reason=why, actor=actor, incident=action.incident)


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
    if action_type not in ContainmentType.values:
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
    _apply_to_kill_switch(action, actor=actor, lifting=False)
    details = action.parameters_text()
    approval = f", approved by {approved_by.get_username()}" if approved_by else ""
    TimelineEntry.objects.create(
        incident=incident,
        kind=TimelineKind.CONTAINMENT,
        actor=actor,
        occurred_at=performed_at,
        text=f"Containment: {action.get_action_type_display()}" + (f" ({details})" if details else "") + approval,
    )
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
    action.reverted_at = timezone.now()
    action.reverted_by = actor
    action.revert_reason = reason.strip()
    action.save(update_fields=["reverted_at", "reverted_by", "revert_reason"])
    audit.log_containment_reverted(actor=actor, action=action)
    _apply_to_kill_switch(action, actor=actor, lifting=True)
    TimelineEntry.objects.create(
        incident=action.incident,
        kind=TimelineKind.CONTAINMENT,
        actor=actor,
        occurred_at=action.reverted_at,
        text=f"Containment lifted: {action.get_action_type_display()}: {action.revert_reason}",
    )
    return action
