"""Action items: add, change, complete, or decline with a reason; remind the owner before and after the due date.

Each write checks the actor's permission and the incident's visibility, validates, saves, writes one
action-log row and one timeline entry, all in one transaction.

Reminders are rows (`ActionItemReminder`) planned when the item is added or its due date changes:
`FIRELINE_ACTION_ITEM_REMIND_DAYS_BEFORE` days before the due date and once the morning after it, at
`FIRELINE_ACTION_ITEM_REMIND_HOUR` in the site's time zone. The minute beat task sends the due ones
through the notification outbox, each once: the row is locked and marked, and the outbox's dedup key
refuses a second message for the same point.
"""

from __future__ import annotations

import datetime
import zoneinfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit import services as audit
from incidents.constants import ContactState, TimelineKind
from incidents.models import (
    ActionItem,
    ActionItemReminder,
    ActionItemSource,
    ActionItemState,
    Incident,
    StakeholderContact,
)

from .notifications import reminder_point_send
from .workflow import actor_user, timeline_add, transition_run
from .workflow import require_visible as _require_visible

EDITABLE_FIELDS = ["title", "details", "kind", "owner", "due_date"]
Outcome = ActionItemReminder.Outcome


def _check_due_date(due_date) -> None:
    if not isinstance(due_date, datetime.date):
        raise ValidationError({"due_date": "Give the due date as a date (YYYY-MM-DD)."})
    if due_date < timezone.localdate():
        raise ValidationError({"due_date": "The due date is in the past: pick today or later."})


# --- reminder planning -----------------------------------------------------------------------------


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _at(day: datetime.date) -> datetime.datetime:
    hour = settings.FIRELINE_ACTION_ITEM_REMIND_HOUR
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=_zone())


def reminder_points(due_date: datetime.date) -> list[tuple[str, str, datetime.datetime]]:
    """(key, label, due_at) for an item due on `due_date`: N days before, then the morning after."""
    points = []
    for days in sorted(set(settings.FIRELINE_ACTION_ITEM_REMIND_DAYS_BEFORE), reverse=True):
        label = "due tomorrow" if days == 1 else f"due in {days} days"
        points.append((f"before-{days}d:{due_date.isoformat()}", label, _at(due_date - datetime.timedelta(days=days))))
    points.append((f"overdue:{due_date.isoformat()}", "overdue", _at(due_date + datetime.timedelta(days=1))))
    return points


def _plan_reminders(item: ActionItem, now: datetime.datetime | None = None) -> None:
    """Write the reminder rows for the item's current due date; cancel pending ones for an older date."""
    now = now or timezone.now()
    suffix = f":{item.due_date.isoformat()}"
    stale = item.reminders.filter(outcome=Outcome.PENDING).exclude(key__endswith=suffix)
    stale.update(outcome=Outcome.CANCELLED, handled_at=now)
    for key, label, due_at in reminder_points(item.due_date):
        # A "3 days before" point already past when the item is added is not worth a message.
        if key.startswith("overdue") or due_at > now:
            ActionItemReminder.objects.get_or_create(item=item, key=key, defaults={"label": label, "due_at": due_at})


def _cancel_reminders(item: ActionItem) -> None:
    item.reminders.filter(outcome=Outcome.PENDING).update(outcome=Outcome.CANCELLED, handled_at=timezone.now())


# --- writes ----------------------------------------------------------------------------------------


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
    if owner is None:
        raise ValidationError({"owner": "Name the owner."})
    _check_due_date(due_date)
    item = ActionItem(
        incident=incident,
        postmortem=getattr(incident, "postmortem", None) if source == ActionItemSource.POSTMORTEM else None,
        source=source,
        title=(title or "").strip(),
        details=details or "",
        kind=kind,
        owner=owner,
        due_date=due_date,
        created_by=actor_user(actor),
    )
    item.full_clean(exclude=["state"])
    item.save()
    _plan_reminders(item)
    audit.log_created(
        actor=actor,
        target=item,
        values={"title": item.title, "kind": item.kind, "owner": owner.pk, "due_date": due_date.isoformat()},
        incident=incident,
    )
    timeline_add(
        incident, text=f"Action item added: {item.title} (owner {owner}, due {due_date:%Y-%m-%d}).", actor=actor
    )
    return item


def _lock(item_id: int, actor) -> ActionItem:
    item = ActionItem.objects.select_for_update(of=("self",)).select_related("incident").get(pk=item_id)
    _require_visible(item.incident, actor)
    return item


def _closed_by(actor):
    """What closing an item also does: who closed it, and no more reminders."""

    def close(item: ActionItem) -> None:
        item.closed_by = actor_user(actor)
        _cancel_reminders(item)

    return close


def _may_close(item: ActionItem, actor) -> bool:
    return actor is None or actor == item.owner or actor.has_perm("incidents.change_actionitem")


@transaction.atomic
def action_item_update(*, item_id: int, changes: dict, actor) -> ActionItem:
    """Change the title, details, type, owner or due date of an open item; a new due date re-plans reminders."""
    item = _lock(item_id, actor)
    if actor is not None and not actor.has_perm("incidents.change_actionitem"):
        raise PermissionDenied("You may not change action items.")
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Not editable: {', '.join(sorted(unknown))}.")
    if item.state != ActionItemState.OPEN:
        raise ValidationError(f"The action item is {item.get_state_display().lower()}: it no longer changes.")
    if "owner" in changes and changes["owner"] is None:
        raise ValidationError({"owner": "Name the owner."})
    if "due_date" in changes and changes["due_date"] != item.due_date:
        _check_due_date(changes["due_date"])
    before = audit.snapshot(item, EDITABLE_FIELDS)
    for name, value in changes.items():
        setattr(item, name, value.strip() if isinstance(value, str) else value)
    item.full_clean(exclude=["state"])
    item.save()
    after = audit.snapshot(item, EDITABLE_FIELDS)
    if after != before:
        audit.log_changed(actor=actor, target=item, before=before, after=after, incident=item.incident)
    if after.get("due_date") != before.get("due_date"):
        _plan_reminders(item)
        timeline_add(
            item.incident, text=f"Action item {item.title}: due date moved to {item.due_date:%Y-%m-%d}.", actor=actor
        )
    if after.get("owner") != before.get("owner"):
        timeline_add(item.incident, text=f"Action item {item.title}: owner is now {item.owner}.", actor=actor)
    return item


@transaction.atomic
def action_item_complete(*, item_id: int, actor) -> ActionItem:
    item = _lock(item_id, actor)
    if not _may_close(item, actor):
        raise PermissionDenied("Only the owner or someone who may change action items can close it.")
    return transition_run(
        item,
        "complete",
        actor=actor,
        lock=False,
        apply=_closed_by(actor),
        timeline_text=f"Action item done: {item.title}.",
    )


@transaction.atomic
def action_item_wont_do(*, item_id: int, reason: str, actor) -> ActionItem:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"wont_do_reason": "Say why this will not be done."})
    item = _lock(item_id, actor)
    if not _may_close(item, actor):
        raise PermissionDenied("Only the owner or someone who may change action items can close it.")
    item.wont_do_reason = reason
    return transition_run(
        item,
        "wont_do",
        actor=actor,
        lock=False,
        apply=_closed_by(actor),
        log_details={"reason": reason},
        timeline_text=f"Action item will not be done: {item.title} — {reason}",
    )


# --- the clock: reminders found by the beat task every minute ----------------------------------------


def owner_recipients(user) -> list[tuple[str, str, StakeholderContact | None, str]]:
    """(channel, address, contact, key): the person's live stakeholder contacts, else their account's email."""
    out = []
    for contact in (
        StakeholderContact.objects.filter(user_id=user.pk).exclude(state=ContactState.RETIRED).order_by("pk")
    ):
        channels = contact.channels()
        if channels:
            out.append((channels[0], contact.address(channels[0]), contact, f"c{contact.pk}"))
    if not out and user.email:
        out.append(("email", user.email, None, f"u{user.pk}"))
    return out


def _reminder_message(item: ActionItem, reminder: ActionItemReminder) -> tuple[str, str]:
    incident = item.incident
    link = settings.FIRELINE_BASE_URL.rstrip("/") + reverse("admin:incidents_actionitem_change", args=[item.pk])
    drill = "[DRILL] " if incident.is_drill else ""
    is_overdue = reminder.key.startswith("overdue")
    when = f"was due {item.due_date:%Y-%m-%d}" if is_overdue else f"is due {item.due_date:%Y-%m-%d}"
    if incident.is_restricted:
        # A restricted incident's details do not leave Fireline: the reference and the date only.
        subject = f"{drill}{'OVERDUE: ' if is_overdue else ''}Action item on {incident.reference} {when}"
        body = (
            f"An action item you own on {incident.reference} (restricted) {when} and is still open.\n\n"
            f"Open it in Fireline to mark it done or say why it will not be done: {link}\n"
        )
        return subject, body
    subject = f"{drill}{'OVERDUE: ' if is_overdue else ''}{item.title} ({incident.reference}) {when}"
    body = (
        f"Your action item {when} and is still open ({reminder.label}).\n\n"
        f"{item.title}\nType: {item.get_kind_display()} · from the {item.get_source_display().lower()} of "
        f"{incident.reference}\n\nMark it done, or say why it will not be done: {link}\n"
    )
    return subject, body


@transaction.atomic
def action_item_remind(*, item_id: int, now: datetime.datetime | None = None) -> int:
    """Send the latest due reminder point of one open item; earlier points due at once are skipped."""
    now = now or timezone.now()
    item = ActionItem.objects.select_for_update(of=("self",)).select_related("incident", "owner").get(pk=item_id)
    due = list(
        item.reminders.select_for_update().filter(outcome=Outcome.PENDING, due_at__lte=now).order_by("due_at", "pk")
    )
    if not due:
        return 0
    if item.state != ActionItemState.OPEN:
        for reminder in due:
            reminder.outcome, reminder.handled_at = Outcome.CANCELLED, now
            reminder.save(update_fields=["outcome", "handled_at"])
        return 0
    recipients = owner_recipients(item.owner)
    reminder, sent = reminder_point_send(
        due=due,
        now=now,
        message=lambda point: _reminder_message(item, point),
        recipients=recipients,
        dedup_prefix=f"ai:{item.pk}",
        incident=item.incident,
    )
    if not recipients:
        timeline_add(
            item.incident,
            kind=TimelineKind.DELIVERY_FAILED,
            occurred_at=now,
            text=f"Action item reminder ({reminder.label}) reached no one: {item.owner} has no email or "
            "stakeholder contact.",
        )
    return sent


def action_item_reminders_due(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Every open item with a reminder point due and not handled yet: remind once."""
    now = now or timezone.now()
    ids = (
        ActionItemReminder.objects.filter(outcome=Outcome.PENDING, due_at__lte=now, item__state=ActionItemState.OPEN)
        .order_by("item_id")
        .values_list("item_id", flat=True)
        .distinct()[:limit]
    )
    return sum(action_item_remind(item_id=pk, now=now) for pk in list(ids))


__all__ = [
    "ActionItemState",
    "action_item_complete",
    "action_item_create",
    "action_item_remind",
    "action_item_reminders_due",
    "action_item_update",
    "action_item_wont_do",
    "reminder_points",
]
