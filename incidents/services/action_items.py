"""Action items: add, complete, or decline with a reason.

Each write checks the actor's permission and the incident's visibility, validates, saves, writes one
action-log row and one timeline entry, all in one transaction.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from audit import services as audit
from incidents.models import ActionItem, ActionItemSource, ActionItemState, Incident
from incidents.selectors import incident_is_visible

from .workflow import finish_transition, run_transition, timeline_change


def _user(actor):
    return actor if getattr(actor, "pk", None) else None


def _require_visible(incident: Incident, actor) -> None:
    if actor is not None and not incident_is_visible(user=actor, incident=incident):
        raise Incident.DoesNotExist("No incident with that id.")


@transaction.atomic
def action_item_create(
    *,
    incident_id: int,
    title: str,
    kind: str,
    owner,
    due_date: datetime.date,
    actor,
    source: str = ActionItemSource.POSTMORTEM,
    details: str = "",
) -> ActionItem:
    if actor is not None and not actor.has_perm("incidents.add_actionitem"):
        raise PermissionDenied("You may not add action items.")
    incident = Incident.objects.get(pk=incident_id)
    _require_visible(incident, actor)
    item = ActionItem(
        incident=incident,
        postmortem=getattr(incident, "postmortem", None) if source == ActionItemSource.POSTMORTEM else None,
        source=source,
        title=(title or "").strip(),
        details=details or "",
        kind=kind,
        owner=owner,
        due_date=due_date,
        created_by=_user(actor),
    )
    item.full_clean(exclude=["state"])
    item.save()
    audit.log_created(
        actor=actor,
        target=item,
        values={"title": item.title, "kind": item.kind, "owner": owner.pk, "due_date": due_date.isoformat()},
        incident=incident,
    )
    timeline_change(incident, f"Action item added: {item.title} (owner {owner}, due {due_date:%Y-%m-%d}).", actor)
    return item


def _lock(item_id: int, actor) -> ActionItem:
    item = ActionItem.objects.select_for_update(of=("self",)).select_related("incident").get(pk=item_id)
    _require_visible(item.incident, actor)
    return item


def _may_close(item: ActionItem, actor) -> bool:
    return actor is None or actor == item.owner or actor.has_perm("incidents.change_actionitem")


@transaction.atomic
def action_item_complete(*, item_id: int, actor) -> ActionItem:
    item = _lock(item_id, actor)
    if not _may_close(item, actor):
        raise PermissionDenied("Only the owner or someone who may change action items can close it.")
    source = run_transition(item, "complete", "action item")
    item.closed_by = _user(actor)
    return finish_transition(item, source, "complete", actor, f"Action item done: {item.title}.")


@transaction.atomic
def action_item_wont_do(*, item_id: int, reason: str, actor) -> ActionItem:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"wont_do_reason": "Say why this will not be done."})
    item = _lock(item_id, actor)
    if not _may_close(item, actor):
        raise PermissionDenied("Only the owner or someone who may change action items can close it.")
    source = run_transition(item, "wont_do", "action item")
    item.wont_do_reason = reason
    item.closed_by = _user(actor)
    return finish_transition(
        item, source, "wont_do", actor, f"Action item will not be done: {item.title} — {reason}", {"reason": reason}
    )


__all__ = ["ActionItemState", "action_item_complete", "action_item_create", "action_item_wont_do"]
