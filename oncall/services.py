"""Writes: layers' rotations, overrides and swaps, calendar links, imported feeds, handoff notices.

Who may do what: Incident Commanders and Schedule Managers (the change_schedule permission) edit
schedules and add any override. Anyone else may hand a shift of their own to someone, and that person
must accept it before it counts.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit import services as audit
from incidents.constants import OPEN_STATES, Channel, ContactState, PageState, StakeholderRole
from incidents.models import Incident, Page, StakeholderContact
from incidents.services.notifications import notification_enqueue

from .constants import OverrideState
from .models import CalendarToken, Layer, LayerMember, OnCallContact, Override, Schedule
from .rotation import final_shifts, handoffs
from .selectors import display_name, schedule_spec, schedule_specs, schedules_with_rows, users_by_id

logger = logging.getLogger(__name__)

EDIT_PERMISSION = "oncall.change_schedule"
# A handoff notice is sent when the beat finds a handoff that happened this recently.
HANDOFF_LOOKBACK = timedelta(minutes=30)


def may_edit_schedules(user) -> bool:
    return bool(user and user.is_active and user.has_perm(EDIT_PERMISSION))


def _base_url() -> str:
    return settings.FIRELINE_BASE_URL.rstrip("/")


# --- rotations ---------------------------------------------------------------------------------------


def parse_rotation(text: str) -> list:
    """'alice, bob, carol' -> the users in that order; ValidationError naming the unknown ones."""
    names = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    users = {u.get_username(): u for u in get_user_model().objects.filter(username__in=names, is_active=True)}
    unknown = [name for name in names if name not in users]
    if unknown:
        raise ValidationError({"rotation": f"No active user named {', '.join(unknown)}."})
    return [users[name] for name in names]


@transaction.atomic
def layer_set_rotation(*, layer: Layer, users: list, actor) -> None:
    if actor is not None and not may_edit_schedules(actor):
        raise PermissionDenied("Only Incident Commanders and Schedule Managers edit schedules.")
    before = list(layer.memberships.order_by("position").values_list("user_id", flat=True))
    after = [u.pk for u in users]
    if before == after:
        return
    layer.memberships.all().delete()
    LayerMember.objects.bulk_create(LayerMember(layer=layer, user=u, position=n) for n, u in enumerate(users))
    audit.log_changed(actor=actor, target=layer, before={"rotation": before}, after={"rotation": after})


# --- overrides and swaps -----------------------------------------------------------------------------


def _validate_override(*, user, starts_at, ends_at, reason) -> None:
    errors = {}
    if user is None:
        errors["user"] = "Say who is on call."
    if starts_at is None:
        errors["starts_at"] = "Give the start."
    if ends_at is None:
        errors["ends_at"] = "Give the end."
    elif starts_at is not None and ends_at <= starts_at:
        errors["ends_at"] = "An override ends after it starts."
    if not (reason or "").strip():
        errors["reason"] = "Say why (holiday, swap, cover)."
    if errors:
        raise ValidationError(errors)


def override_check(*, schedule: Schedule, user, starts_at, ends_at, reason: str, actor) -> tuple[str, object]:
    """(state, replaces) the override would get; ValidationError naming the field when it may not be added."""
    _validate_override(user=user, starts_at=starts_at, ends_at=ends_at, reason=reason)
    if schedule is None:
        raise ValidationError({"schedule": "Choose a schedule."})
    if may_edit_schedules(actor):
        return OverrideState.ACTIVE, None
    if user.pk == actor.pk:
        raise ValidationError({"user": "Hand your shift to someone else; only schedule editors put people on."})
    spec = schedule_spec(schedules_with_rows(Schedule.objects.filter(pk=schedule.pk)).get())
    others = [s for s in final_shifts(spec, starts_at, ends_at) if s.user_id != actor.pk]
    if others:
        who = users_by_id([others[0].user_id]).get(others[0].user_id)
        when = timezone.localtime(others[0].start)
        raise ValidationError(
            {
                "starts_at": f"You may add an override only for your own shifts: {display_name(who)} is on call "
                f"from {when:%Y-%m-%d %H:%M}."
            }
        )
    return OverrideState.PENDING, actor


@transaction.atomic
def override_create(
    *, schedule: Schedule, user, starts_at: datetime, ends_at: datetime, reason: str, actor
) -> Override:
    """An override. From a schedule editor it counts at once; from anyone else it must cover only their
    own shifts and waits for `user` to accept it (a swap needs the other person's yes)."""
    Schedule.objects.select_for_update().get(pk=schedule.pk)  # one override decision per schedule at a time
    state, replaces = override_check(
        schedule=schedule, user=user, starts_at=starts_at, ends_at=ends_at, reason=reason, actor=actor
    )
    override = Override.objects.create(
        schedule=schedule,
        user=user,
        replaces=replaces,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason.strip()[:200],
        state=state,
        created_by=actor,
    )
    audit.log_created(
        actor=actor,
        target=override,
        values={
            "schedule": schedule.pk,
            "user": user.pk,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "reason": override.reason,
            "state": state,
        },
    )
    if state == OverrideState.PENDING and user.email:
        link = _base_url() + reverse("admin:oncall_override_change", args=[override.pk])
        start, end = timezone.localtime(starts_at), timezone.localtime(ends_at)
        notification_enqueue(
            channel=Channel.EMAIL,
            recipient=user.email,
            subject=f"{display_name(actor)} asks you to take their {schedule.name} shift",
            body=f"{display_name(actor)} asks you to be on call for {schedule.name} from {start:%Y-%m-%d %H:%M} to "
            f"{end:%Y-%m-%d %H:%M} ({start:%Z}): {override.reason}.\n\nAccept or decline: {link}\n",
            dedup_key=f"oncall:swap:{override.pk}",
        )
    return override


def _decide(*, override_id: int, actor, target_state: str) -> Override:
    override = Override.objects.select_for_update().get(pk=override_id)
    if override.state != OverrideState.PENDING:
        raise ValidationError(f"This override is {override.get_state_display().lower()}, not waiting for an answer.")
    if actor.pk != override.user_id:
        raise PermissionDenied("Only the person asked to take the shift may accept or decline it.")
    before = override.state
    override.state = target_state
    override.decided_at = timezone.now()
    override.save(update_fields=["state", "decided_at"])
    audit.log_changed(actor=actor, target=override, before={"state": before}, after={"state": target_state})
    return override


@transaction.atomic
def override_accept(*, override_id: int, actor) -> Override:
    return _decide(override_id=override_id, actor=actor, target_state=OverrideState.ACTIVE)


@transaction.atomic
def override_decline(*, override_id: int, actor) -> Override:
    return _decide(override_id=override_id, actor=actor, target_state=OverrideState.DECLINED)


@transaction.atomic
def override_cancel(*, override_id: int, actor) -> Override:
    override = Override.objects.select_for_update().get(pk=override_id)
    if not (may_edit_schedules(actor) or actor.pk in (override.created_by_id, override.replaces_id)):
        raise PermissionDenied("Only whoever asked for this override, or a schedule editor, may cancel it.")
    if override.state in (OverrideState.CANCELLED, OverrideState.DECLINED):
        return override
    before = override.state
    override.state = OverrideState.CANCELLED
    override.decided_at = timezone.now()
    override.save(update_fields=["state", "decided_at"])
    audit.log_changed(actor=actor, target=override, before={"state": before}, after={"state": override.state})
    return override


# --- calendar links ----------------------------------------------------------------------------------


def calendar_token_get(*, user) -> CalendarToken:
    token, _ = CalendarToken.objects.get_or_create(user=user)
    return token


@transaction.atomic
def calendar_token_replace(*, user, actor) -> CalendarToken:
    """A new secret: every URL given out before stops working."""
    if actor.pk != user.pk and not actor.is_superuser:
        raise PermissionDenied("Only you may replace your calendar link.")
    CalendarToken.objects.filter(user=user).delete()
    token = CalendarToken.objects.create(user=user)
    audit.log_created(actor=actor, target=token, values={"user": user.pk})
    return token


# --- paging contacts ---------------------------------------------------------------------------------


def contact_for_user(user) -> StakeholderContact | None:
    """The contact that pages this user: their own engineering on-call contact if they have one, else one
    made from their account (tier 0, so role-based paging never picks it up on its own). None without email."""
    link = OnCallContact.objects.select_related("contact").filter(user=user).first()
    if link is not None and link.contact.state != ContactState.RETIRED:
        return link.contact
    contact = (
        StakeholderContact.objects.filter(user=user, role=StakeholderRole.ENGINEERING_ON_CALL)
        .exclude(state=ContactState.RETIRED)
        .order_by("escalation_tier", "pk")
        .first()
    )
    if contact is None:
        if not user.email:
            return None
        contact = StakeholderContact.objects.create(
            name=display_name(user),
            role=StakeholderRole.ENGINEERING_ON_CALL,
            team="On-call schedules",
            escalation_tier=0,
            user=user,
        )
        contact.add_address(Channel.EMAIL, user.email)
    OnCallContact.objects.update_or_create(user=user, defaults={"contact": contact})
    return contact


# --- handoff notices ---------------------------------------------------------------------------------


def _open_work_text() -> str:
    incidents = list(
        Incident.objects.filter(state__in=OPEN_STATES, is_drill=False).select_related("feature").order_by("pk")[:20]
    )
    pages = list(
        Page.objects.filter(
            state__in=[PageState.PENDING, PageState.SENT, PageState.FAILED],
            incident__state__in=OPEN_STATES,
            incident__is_drill=False,
        )
        .select_related("incident", "contact")
        .order_by("ack_due_at")[:20]
    )
    lines = ["Open incidents:"]
    for incident in incidents:
        # A restricted incident's details stay in Fireline; the reference is enough to find it.
        about = "a restricted incident" if incident.is_restricted else incident.title
        lines.append(f"- {incident.reference} [{incident.severity or 'untriaged'}] {about}")
    if not incidents:
        lines.append("- none")
    lines.append("Pages not acknowledged:")
    for page in pages:
        lines.append(
            f"- {page.incident.reference}: {page.contact.name} (tier {page.tier}), "
            f"due {page.ack_due_at:%Y-%m-%d %H:%M} UTC"
        )
    if not pages:
        lines.append("- none")
    return "\n".join(lines)


def handoff_notices_due(*, now: datetime | None = None) -> int:
    """Tell the incoming and the outgoing person at each handoff of the last half hour, once each.

    The outbox's dedup key (schedule, instant, person, direction) makes a second run send nothing.
    """
    now = now or timezone.now()
    start = now - HANDOFF_LOOKBACK
    due = []
    for spec in schedule_specs(start=start, end=now + timedelta(seconds=1)):
        for at, outgoing, incoming in handoffs(final_shifts(spec, start, now + timedelta(seconds=1))):
            if start < at <= now:
                due.append((spec, at, outgoing, incoming))
    if not due:
        return 0
    people = users_by_id(uid for _, _, out, inc in due for uid in (out, inc))
    work = _open_work_text()
    link = _base_url() + reverse("admin:index")
    sent = 0
    for spec, at, outgoing, incoming in due:
        zone_at = at.astimezone(ZoneInfo(spec.time_zone))
        when = f"{zone_at:%Y-%m-%d %H:%M %Z}"
        for user_id, direction in ((incoming, "in"), (outgoing, "out")):
            user = people.get(user_id)
            if user is None:
                continue
            other = display_name(people.get(outgoing if direction == "in" else incoming))
            if direction == "in":
                subject = f"You are on call for {spec.name} from {when}"
                opening = f"You are on call for {spec.name} from {when}, taking over from {other}."
            else:
                subject = f"Your {spec.name} shift ended at {when}"
                opening = f"Your shift on {spec.name} ended at {when}; {other} is on call now."
            with transaction.atomic():
                contact = contact_for_user(user)
                if contact is None:
                    logger.warning("No email for %s: handoff notice for %s not sent", user, spec.name)
                    continue
                reachable = contact.channels()
                if not reachable:
                    logger.warning("No channel for %s: handoff notice for %s not sent", user, spec.name)
                    continue
                channel = Channel.EMAIL if Channel.EMAIL in reachable else reachable[0]
                created = notification_enqueue(
                    channel=channel,
                    recipient=contact.address(channel),
                    subject=subject,
                    body=f"{opening}\n\n{work}\n\nCommand centre: {link}\n",
                    dedup_key=f"oncall:handoff:{spec.schedule_id}:{at:%Y%m%dT%H%M%SZ}:{user.pk}:{direction}",
                    contact=contact,
                )
            sent += created is not None
    return sent
