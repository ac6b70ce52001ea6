"""Writes for drills: one service per transition or edit.

Each locks the drill, checks `drills.run_drill`, validates, saves, writes one action-log row and,
once the drill has an incident, an entry on that incident's timeline; all in one transaction.
Messages are outbox rows (incidents.services.notifications), delivered after commit.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audit import services as audit
from incidents.constants import Channel, ContactState, DetectionSignal, StakeholderRole, TimelineKind
from incidents.models import (
    ActionItem,
    ActionItemKind,
    ActionItemSource,
    EscalationPolicy,
    StakeholderContact,
)
from incidents.services.action_items import action_item_create
from incidents.services.containment import incident_end_drill
from incidents.services.flags import killswitch_stand_in
from incidents.services.incidents import incident_open
from incidents.services.notifications import notification_enqueue
from incidents.services.workflow import (
    TransitionOption,
    actor_user,
    guard_blockers,
    timeline_add,
    transition_options,
    transition_run,
)

from .constants import REMINDERS, DrillState
from .models import Drill, DrillChecklistItem, DrillInject, DrillPolicy, DrillReminder, Scenario, StepCorrection
from .quarters import quarter_label
from .scoring import drill_score
from .timing import drill_step_results

TRANSITION_LABELS = {
    "schedule": "Schedule",
    "start": "Start drill",
    "end_exercise": "End exercise, start debrief",
    "complete": "Complete debrief and score",
    "cancel": "Cancel drill",
}
GAP_DUE_DAYS = 14


# --- helpers -----------------------------------------------------------------------------------


def _require_run(actor) -> None:
    if actor is not None and not actor.has_perm("drills.run_drill"):
        raise PermissionDenied("You may not run drills.")


def _lock(drill_id: int) -> Drill:
    return (
        Drill.objects.select_for_update(of=("self",)).select_related("scenario", "feature", "incident").get(pk=drill_id)
    )


def _link(drill: Drill) -> str:
    return settings.FIRELINE_BASE_URL.rstrip("/") + reverse("admin:drills_drill_change", args=[drill.pk])


def _local(when: datetime.datetime) -> str:
    return f"{when.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC"


def user_recipients(users) -> list[tuple[str, str, StakeholderContact | None, str]]:
    """(channel, address, contact, key) per user: their stakeholder contact if any, else their e-mail."""
    users = list(users)
    contacts = {}
    for contact in StakeholderContact.objects.filter(user__in=users).exclude(state=ContactState.RETIRED).order_by("pk"):
        if contact.channels():
            contacts.setdefault(contact.user_id, contact)
    out = []
    for user in users:
        contact = contacts.get(user.pk)
        if contact is not None:
            channel = contact.channels()[0]
            out.append((channel, contact.address(channel), contact, f"u{user.pk}"))
        elif user.email:
            out.append((Channel.EMAIL, user.email, None, f"u{user.pk}"))
    return out


def _notify(users, *, subject: str, body: str, dedup_prefix: str, incident=None) -> int:
    sent = 0
    for channel, address, contact, key in user_recipients(users):
        created = notification_enqueue(
            channel=channel,
            recipient=address,
            subject=subject,
            body=body,
            dedup_key=f"{dedup_prefix}:{key}",
            incident=incident,
            contact=contact,
        )
        sent += created is not None
    return sent


def _as_drill(name: str, *, details=None) -> dict:
    """How a drill transition is checked and told: the drill's permission, and a line on its incident's timeline."""

    def timeline_text(drill: Drill, source: str) -> str:
        return f"Drill {drill.reference}: {DrillState(source).label} → {drill.get_state_display()}"

    # Drills are gated by drills.run_drill, not by who may see the drill incident.
    return {
        "noun": "drill",
        "lock": False,
        "check_visible": False,
        "permission_message": "You may not run drills.",
        "log_details": details,
        "timeline_text": timeline_text,
    }


def drill_transition_blockers(drill: Drill, name: str) -> list[str]:
    return guard_blockers(drill, name, noun="drill")


def drill_transition_options(drill: Drill, user) -> list[TransitionOption]:
    """The transitions this user may fire from the drill's state, each with what blocks it."""
    return transition_options(drill, user, TRANSITION_LABELS, noun="drill")


# --- planning ----------------------------------------------------------------------------------


def _next_scenario(policy: DrillPolicy) -> Scenario | None:
    if policy.scenario_id and policy.scenario.is_active:
        return policy.scenario
    scenarios = Scenario.objects.filter(is_active=True)
    if policy.feature_id:
        scenarios = scenarios.filter(Q(feature_id=policy.feature_id) | Q(feature__isnull=True))
    scenarios = list(scenarios.order_by("category", "name", "pk"))
    if not scenarios:
        return None
    return scenarios[Drill.objects.filter(policy=policy).count() % len(scenarios)]


def drill_propose(*, policy: DrillPolicy, now: datetime.datetime | None = None) -> Drill | None:
    """The policy's drill for the current quarter, proposed (planned) if it has none yet.

    Returns the new drill, or None when the quarter already has one. Running twice, or twice at the
    same time, proposes one drill: the (policy, quarter) unique constraint decides the race.
    """
    now = now or timezone.now()
    quarter = quarter_label(now, policy.time_zone)
    if Drill.objects.filter(policy=policy, quarter=quarter).exists():
        return None
    scenario = _next_scenario(policy)
    if scenario is None:
        return None
    try:
        with transaction.atomic():
            drill = Drill.objects.create(
                policy=policy,
                scenario=scenario,
                feature=policy.feature,
                team=policy.team,
                quarter=quarter,
                facilitator=policy.facilitator,
            )
            drill.participants.set(policy.participants.all())
            audit.log_created(
                actor=None,
                target=drill,
                values={"policy": policy.pk, "quarter": quarter, "scenario": scenario.name},
            )
            _notify(
                [policy.facilitator],
                subject=f"[DRILL] {quarter}: a drill for {policy.subject} is proposed",
                body=(
                    f"Fireline proposed this quarter's fire drill for {policy.subject}: {scenario.name}.\n"
                    f"Pick a date and the participants, then schedule it: {_link(drill)}\n"
                ),
                dedup_prefix=f"drill-proposed:{drill.pk}",
            )
    except IntegrityError:
        return None  # another run proposed it a moment ago
    return drill


def drills_propose_due(*, now: datetime.datetime | None = None) -> int:
    """Beat: every active policy has its drill this quarter."""
    created = 0
    for policy in DrillPolicy.objects.filter(is_active=True).select_related("feature", "scenario", "facilitator"):
        created += drill_propose(policy=policy, now=now) is not None
    return created


@transaction.atomic
def drill_plan(
    *,
    scenario: Scenario,
    actor,
    feature=None,
    team: str = "",
    facilitator=None,
    participants=(),
    scheduled_for: datetime.datetime | None = None,
) -> Drill:
    """A drill planned by hand (outside the quarterly policy)."""
    if actor is not None and not actor.has_perm("drills.add_drill"):
        raise PermissionDenied("You may not plan drills.")
    when = scheduled_for or timezone.now()
    drill = Drill(
        scenario=scenario,
        feature=feature,
        team=(team or "").strip(),
        quarter=quarter_label(when, settings.TIME_ZONE),
        scheduled_for=scheduled_for,
        facilitator=facilitator or actor_user(actor),
    )
    drill.full_clean(exclude=["state"])
    drill.save()
    drill.participants.set(participants)
    audit.log_created(
        actor=actor, target=drill, values={"scenario": scenario.name, "quarter": drill.quarter, "team": drill.team}
    )
    return drill


# --- transitions -------------------------------------------------------------------------------


@transaction.atomic
def drill_schedule(*, drill_id: int, scheduled_for: datetime.datetime | None, participants, actor) -> Drill:
    """Set the time and the participants; reminders go out a week, a day and an hour before."""
    _require_run(actor)
    drill = _lock(drill_id)
    if scheduled_for is None:
        raise ValidationError({"scheduled_for": "Give the date and time of the drill."})
    if scheduled_for <= timezone.now():
        raise ValidationError({"scheduled_for": "A drill is scheduled in the future."})
    participants = list(participants)
    if not participants:
        raise ValidationError({"participants": "Choose at least one participant."})
    was_scheduled_for = drill.scheduled_for

    def prepare(drill: Drill) -> None:
        drill.scheduled_for = scheduled_for
        drill.quarter = drill.quarter or quarter_label(scheduled_for, settings.TIME_ZONE)
        drill.participants.set(participants)

    details = {
        "scheduled_for": scheduled_for.isoformat(),
        "was_scheduled_for": was_scheduled_for.isoformat() if was_scheduled_for else None,
        "participants": [u.pk for u in participants],
    }
    transition_run(drill, "schedule", actor=actor, prepare=prepare, **_as_drill("schedule", details=details))
    drill.reminders.filter(sent_at__isnull=True).delete()
    now = timezone.now()
    for key, minutes, _ in REMINDERS:
        due = scheduled_for - datetime.timedelta(minutes=minutes)
        if due > now:
            DrillReminder.objects.update_or_create(drill=drill, key=key, defaults={"due_at": due, "sent_at": None})
    return drill


def _open_drill_incident(drill: Drill, actor) -> None:
    """Open the drill incident from the scenario, with its checklist and injects; it pages only the participants."""
    scenario = drill.scenario
    participants = list(drill.participants.all())
    members = {u.pk: u for u in participants}
    if drill.facilitator_id:
        # The facilitator watches the drill incident (and so may see it when it is restricted).
        members.setdefault(drill.facilitator_id, drill.facilitator)
    incident = incident_open(
        title=f"[DRILL] {scenario.name}",
        summary=(scenario.briefing or "") + "\n\n**The hypothetical bad output:**\n\n" + scenario.bad_output,
        category=scenario.category,
        detection_signal=DetectionSignal.USER_REPORT,
        feature=drill.drill_feature,
        users_affected=scenario.users_affected,
        is_public=scenario.is_public,
        severity_override=scenario.severity_override,
        severity_override_reason="Set by the drill scenario." if scenario.severity_override else "",
        members=list(members.values()),
        actor=actor,
        is_drill=True,
    )
    drill.incident = incident
    killswitch_stand_in(incident)  # participants see (and may wire) the stand-in key before they contain
    for position, action in enumerate(scenario.expected_actions.all()):
        DrillChecklistItem.objects.create(drill=drill, text=action.text, position=position)
    for inject in scenario.injects.all():
        DrillInject.objects.create(
            drill=drill,
            inject=inject,
            minute=inject.minute,
            text=inject.text,
            due_at=drill.started_at + datetime.timedelta(minutes=inject.minute),
        )


@transaction.atomic
def drill_start(*, drill_id: int, actor) -> Drill:
    """Open the drill incident from the scenario: the real workflow, paging only the participants."""
    _require_run(actor)
    drill = _lock(drill_id)
    transition_run(
        drill,
        "start",
        actor=actor,
        apply=lambda drill: _open_drill_incident(drill, actor),
        **_as_drill("start", details=lambda drill, source: {"incident": drill.incident_id}),
    )
    drill_release_injects(drill_id=drill.pk)  # minute-0 injects go out with the start
    return drill


@transaction.atomic
def drill_end_exercise(*, drill_id: int, actor) -> Drill:
    """Stop the clock and open the debrief; stale contacts in the escalation path become gaps."""
    _require_run(actor)
    drill = _lock(drill_id)
    transition_run(drill, "end_exercise", actor=actor, **_as_drill("end_exercise"))
    drill.injects.filter(released_at__isnull=True).delete()  # injects after the end are never released
    drill_record_contact_gaps(drill=drill, actor=actor)
    return drill


@transaction.atomic
def drill_complete(*, drill_id: int, actor, debrief_notes: str | None = None) -> Drill:
    """Score the drill with the documented rule and close the debrief."""
    _require_run(actor)
    drill = _lock(drill_id)
    results = []

    def score(drill: Drill) -> None:
        if debrief_notes is not None:
            drill.debrief_notes = debrief_notes
        results.extend(drill_step_results(drill))
        checklist = list(drill.checklist.all())
        drill.score = drill_score([r.status for r in results], sum(i.is_done for i in checklist), len(checklist))

    transition_run(
        drill,
        "complete",
        actor=actor,
        apply=score,
        **_as_drill(
            "complete",
            details=lambda drill, source: {"score": drill.score, "steps": {r.step: r.status for r in results}},
        ),
    )
    if drill.incident_id:
        incident_end_drill(incident_id=drill.incident_id, reason=f"Drill {drill.reference} completed", actor=actor)
    return drill


@transaction.atomic
def drill_cancel(*, drill_id: int, reason: str, actor) -> Drill:
    _require_run(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the drill is cancelled."})
    drill = _lock(drill_id)
    transition_run(
        drill,
        "cancel",
        actor=actor,
        apply=lambda drill: setattr(drill, "cancel_reason", reason),
        **_as_drill("cancel", details={"reason": reason}),
    )
    drill.reminders.filter(sent_at__isnull=True).delete()
    drill.injects.filter(released_at__isnull=True).delete()
    if drill.incident_id:
        incident_end_drill(
            incident_id=drill.incident_id, reason=f"Drill {drill.reference} cancelled: {reason}", actor=actor
        )
    return drill


TRANSITION_SERVICES = {
    "start": drill_start,
    "end_exercise": drill_end_exercise,
    "complete": drill_complete,
}


# --- during the drill --------------------------------------------------------------------------


@transaction.atomic
def drill_release_injects(*, drill_id: int, now: datetime.datetime | None = None) -> int:
    """Release every inject whose minute has come: a timeline note and a message to the participants.

    Each inject row is claimed under a lock and marked released in the same transaction, so a beat that
    runs twice releases nothing twice.
    """
    now = now or timezone.now()
    drill = _lock(drill_id)
    if drill.state != DrillState.RUNNING or drill.incident is None:
        return 0
    due = list(drill.injects.select_for_update().filter(released_at__isnull=True, due_at__lte=now).order_by("due_at"))
    participants = list(drill.participants.all())
    for inject in due:
        inject.released_at = now
        inject.save(update_fields=["released_at"])
        timeline_add(
            drill.incident,
            kind=TimelineKind.NOTE,
            occurred_at=now,
            text=f"Inject: {inject.text}",
        )
        _notify(
            participants,
            subject=f"[DRILL] {drill.incident.reference} +{inject.minute} min: new development",
            body=f"[DRILL] {inject.text}\n\nDrill incident: "
            + settings.FIRELINE_BASE_URL.rstrip("/")
            + reverse("admin:incidents_incident_change", args=[drill.incident_id])
            + "\n",
            dedup_prefix=f"drill-inject:{inject.pk}",
            incident=drill.incident,
        )
    return len(due)


def drills_release_injects_due(*, now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    ids = (
        DrillInject.objects.filter(released_at__isnull=True, due_at__lte=now, drill__state=DrillState.RUNNING)
        .values_list("drill_id", flat=True)
        .distinct()
    )
    return sum(drill_release_injects(drill_id=drill_id, now=now) for drill_id in list(ids))


@transaction.atomic
def drill_send_reminder(*, reminder_id: int, now: datetime.datetime | None = None) -> bool:
    now = now or timezone.now()
    reminder = DrillReminder.objects.select_for_update().get(pk=reminder_id)
    if reminder.sent_at is not None:
        return False
    drill = Drill.objects.select_related("scenario").get(pk=reminder.drill_id)
    reminder.sent_at = now
    reminder.save(update_fields=["sent_at"])
    if drill.state != DrillState.SCHEDULED or drill.scheduled_for is None or drill.scheduled_for <= now:
        return False
    label = dict((k, text) for k, _, text in REMINDERS)[reminder.key]
    _notify(
        drill.participants.all(),
        subject=f"[DRILL] Fire drill {label}: {_local(drill.scheduled_for)}",
        body=(
            f"You take part in the fire drill {drill.reference} for {drill.subject or 'your team'} on "
            f"{_local(drill.scheduled_for)}. It runs on the real incident workflow; you will be paged.\n"
            f"{_link(drill)}\n"
        ),
        # A rescheduled drill reminds again: the due time is part of the key.
        dedup_prefix=f"drill-reminder:{reminder.pk}:{int(reminder.due_at.timestamp())}",
    )
    return True


def drills_send_reminders_due(*, now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    ids = list(DrillReminder.objects.filter(sent_at__isnull=True, due_at__lte=now).values_list("pk", flat=True))
    return sum(drill_send_reminder(reminder_id=pk, now=now) for pk in ids)


# --- debrief -----------------------------------------------------------------------------------


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
