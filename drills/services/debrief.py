"""The debrief: corrected step times, the checklist, gaps recorded as action items, and the escalation
path's stale contacts turned into gaps.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from incidents.constants import ContactState, StakeholderRole
from incidents.models import (
    ActionItem,
    ActionItemKind,
    ActionItemSource,
    EscalationPolicy,
    StakeholderContact,
)
from incidents.services.action_items import action_item_create
from incidents.services.workflow import (
    actor_user,
    timeline_add,
)

from ..constants import DrillState
from ..models import Drill, DrillChecklistItem, StepCorrection
from .common import GAP_DUE_DAYS, _local, _lock, _require_run


@transaction.atomic
def drill_correct_step(
    *, drill_id: int, step: str, occurred_at: datetime.datetime | None, reason: str, actor
) -> StepCorrection:
    """Replace a step time read from the incident, with a reason; action-logged."""
    _require_run(actor)
    drill = _lock(drill_id)
    if drill.state not in (DrillState.RUNNING, DrillState.DEBRIEF):
        raise ValidationError("Step times can be corrected while the drill runs or in its debrief.")
    if step not in {s for s, _ in StepCorrection._meta.get_field("step").choices}:
        raise ValidationError({"step": f"Unknown step {step!r}."})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the time is corrected."})
    if occurred_at is not None:
        end = drill.debrief_at or timezone.now()
        if occurred_at < drill.started_at or occurred_at > end:
            raise ValidationError(
                {"occurred_at": f"Give a time between the start ({_local(drill.started_at)}) and {_local(end)}."}
            )
    existing = drill.corrections.filter(step=step).first()
    before = {"occurred_at": existing.occurred_at, "reason": existing.reason} if existing else {}
    correction, _ = StepCorrection.objects.update_or_create(
        drill=drill,
        step=step,
        defaults={"occurred_at": occurred_at, "reason": reason, "corrected_by": actor_user(actor)},
    )
    audit.log_changed(
        actor=actor,
        target=drill,
        before={f"{step}_time": before.get("occurred_at"), f"{step}_reason": before.get("reason", "")},
        after={f"{step}_time": occurred_at, f"{step}_reason": reason},
        incident=drill.incident,
    )
    when = _local(occurred_at) if occurred_at else "not done"
    timeline_add(
        drill.incident, text=f"Drill {drill.reference}: {step} time corrected to {when}: {reason}", actor=actor
    )
    return correction


@transaction.atomic
def drill_tick(*, drill_id: int, item_id: int, is_done: bool, actor) -> DrillChecklistItem:
    _require_run(actor)
    drill = _lock(drill_id)
    if drill.state not in (DrillState.RUNNING, DrillState.DEBRIEF):
        raise ValidationError("The checklist is ticked while the drill runs or in its debrief.")
    item = drill.checklist.select_for_update().get(pk=item_id)
    if item.is_done == is_done:
        return item
    item.is_done = is_done
    item.ticked_by = actor_user(actor) if is_done else None
    item.ticked_at = timezone.now() if is_done else None
    item.save()
    audit.log_changed(
        actor=actor,
        target=drill,
        before={f"checklist:{item.text}": not is_done},
        after={f"checklist:{item.text}": is_done},
        incident=drill.incident,
    )
    return item


@transaction.atomic
def drill_add_gap(
    *, drill_id: int, title: str, kind: str, owner, due_date: datetime.date | None, actor, details: str = ""
) -> ActionItem:
    """A gap in tooling or process becomes an action item on the drill incident (listed with post-mortem items)."""
    _require_run(actor)
    drill = _lock(drill_id)
    if drill.incident is None or drill.state not in (DrillState.RUNNING, DrillState.DEBRIEF):
        raise ValidationError("Gaps are recorded while the drill runs or in its debrief.")
    errors = {}
    if not (title or "").strip():
        errors["title"] = "Describe the gap."
    if owner is None:
        errors["owner"] = "Choose who owns the fix."
    if due_date is None:
        errors["due_date"] = "Give a due date."
    if errors:
        raise ValidationError(errors)
    return action_item_create(
        incident_id=drill.incident_id,
        title=title,
        kind=kind or ActionItemKind.PROCESS,
        owner=owner,
        due_date=due_date,
        actor=actor,
        source=ActionItemSource.DRILL,
        details=details,
    )


def escalation_path_stale_contacts(drill: Drill) -> list[StakeholderContact]:
    """Stale contacts the drill incident's escalation path would page (every tier up to the policy's last)."""
    incident = drill.incident
    severity = incident.severity if incident else ""
    policy = EscalationPolicy.objects.filter(severity=severity).first() if severity else None
    if policy is None:
        return []
    roles = list(policy.roles)
    if incident.involves_privacy or incident.category == "data_leak":
        roles.append(StakeholderRole.PRIVACY_OFFICER)
    return list(
        StakeholderContact.objects.filter(
            role__in=roles, escalation_tier__lte=policy.max_tier, state=ContactState.STALE
        ).order_by("role", "escalation_tier", "name")
    )


def _contact_gap_title(contact: StakeholderContact) -> str:
    return f"Re-verify stale contact {contact.name} ({contact.get_role_display()}, tier {contact.escalation_tier})"


def drill_record_contact_gaps(*, drill: Drill, actor) -> list[ActionItem]:
    """Each stale contact in the escalation path is a gap: an action item for the facilitator, once."""
    owner = drill.facilitator or actor_user(actor)
    if owner is None or drill.incident is None:
        return []
    gaps = ActionItem.objects.filter(incident=drill.incident, source=ActionItemSource.DRILL)
    existing = set(gaps.values_list("title", flat=True))
    items = []
    for contact in escalation_path_stale_contacts(drill):
        title = _contact_gap_title(contact)
        if title in existing:
            continue
        items.append(
            action_item_create(
                incident_id=drill.incident_id,
                title=title,
                kind=ActionItemKind.PROCESS,
                owner=owner,
                due_date=timezone.localdate() + datetime.timedelta(days=GAP_DUE_DAYS),
                actor=None,
                source=ActionItemSource.DRILL,
                details="Found by the drill: a stale contact in the escalation path may not answer on the night.",
            )
        )
    return items
