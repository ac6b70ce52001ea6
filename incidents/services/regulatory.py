"""Reportability decisions, regulatory obligations and their reminders.

A decision (which regimes apply, who decided, when, why, when the clock started) opens one
obligation per applicable rule, with its deadline computed by `incidents.deadlines` and its reminder
points written as rows. A beat task sends the reminder points that are due, each once, through the
outbox. Obligations end submitted (when, to whom, the reference, the exact file with its SHA-256)
or waived (Legal only, with a reason). Drills start no clocks.

Privacy incidents get a *proposed* GDPR decision from the sweep: its obligations are open at once,
because Art. 33's 72 hours run from awareness, not from the day Legal looks. Legal confirms the
proposal, or rejects it with a reason, which waives what it opened.
"""

from __future__ import annotations

import hashlib
import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audit import services as audit
from incidents import deadlines
from incidents.constants import OPEN_STATES, Category, ContactState, StakeholderRole, TimelineKind
from incidents.models import (
    DeadlineRule,
    DecisionState,
    Incident,
    ObligationState,
    Regime,
    RegulatoryObligation,
    RegulatoryReminder,
    ReportabilityDecision,
    StakeholderContact,
    TimelineEntry,
)

from .notifications import reminder_point_send
from .workflow import require_permission as _require
from .workflow import require_visible as _require_visible

DRILL_MESSAGE = "This is a drill incident: drills start no regulatory clocks, so no reportability decision is recorded."
OBLIGATION_FIELDS = ["state", "deadline", "clock_started_at", "submitted_at", "submitted_to", "submission_reference"]


def _timeline(incident: Incident, text: str, actor=None, kind: str = TimelineKind.CHANGE) -> TimelineEntry:
    return TimelineEntry.objects.create(
        incident=incident,
        kind=kind,
        text=text,
        actor=actor if getattr(actor, "pk", None) else None,
        occurred_at=timezone.now(),
    )


def utc_text(moment: datetime | None) -> str:
    return f"{moment.astimezone(zoneinfo.ZoneInfo('UTC')):%Y-%m-%d %H:%M} UTC" if moment else "not started"


def rules_for(*, regimes: Iterable[Regime], variants: Iterable[DeadlineRule] = ()) -> list[DeadlineRule]:
    """The rules a decision opens: each regime's standard rules, unless a chosen variant replaces them."""
    variants = list(variants)
    regime_ids = {r.pk for r in regimes} | {v.regime_id for v in variants}
    for variant in variants:
        if not variant.is_variant:
            raise ValidationError({"variants": f"{variant.name} is not a variant."})
    replaced = {v.regime_id for v in variants if v.replaces_default}
    chosen = []
    for rule in DeadlineRule.objects.filter(regime_id__in=regime_ids).select_related("regime", "after"):
        if rule.is_variant:
            if rule in variants:
                chosen.append(rule)
        elif rule.regime_id not in replaced:
            chosen.append(rule)
    return sorted(chosen, key=lambda r: (r.regime.name, r.order, r.pk))


def _write_reminders(obligation: RegulatoryObligation) -> None:
    rule = obligation.rule
    for point in deadlines.reminder_points(
        start=obligation.clock_started_at,
        deadline=obligation.deadline,
        percentages=rule.reminder_percentages or [],
        hours_before=rule.reminder_hours_before or [],
    ):
        RegulatoryReminder.objects.get_or_create(
            obligation=obligation, key=point.key, defaults={"due_at": point.due_at, "label": point.label}
        )


def _start_clock(obligation: RegulatoryObligation, start: datetime) -> None:
    obligation.clock_started_at = start
    obligation.deadline = obligation.rule.deadline_from(start)
    obligation.save(update_fields=["clock_started_at", "deadline"])
    _write_reminders(obligation)


def _open_obligations(*, decision: ReportabilityDecision, rules: list[DeadlineRule], actor) -> list:
    incident = decision.incident
    existing = set(incident.regulatory_obligations.values_list("rule_id", flat=True))
    created = []
    for rule in rules:
        if rule.pk in existing:
            continue  # already running under an earlier decision: its clock is not restarted
        obligation = RegulatoryObligation.objects.create(
            incident=incident,
            decision=decision,
            rule=rule,
            is_target=rule.is_target,
            rule_summary=rule.summary,
            recipient=rule.regime.recipient,
        )
        start = decision.clock_started_at
        if rule.after_id:
            before = incident.regulatory_obligations.filter(rule_id=rule.after_id).first()
            start = before.submitted_at if before is not None and before.state == ObligationState.SUBMITTED else None
        if start is not None:
            _start_clock(obligation, start)
        audit.log_created(
            actor=actor,
            target=obligation,
            incident=incident,
            values=audit.snapshot(obligation, OBLIGATION_FIELDS) | {"rule": rule.pk, "decision": decision.pk},
        )
        kind = "target" if rule.is_target else "deadline"
        when = utc_text(obligation.deadline) if obligation.deadline else f"starts when '{rule.after.name}' is submitted"
        _timeline(incident, f"Regulatory obligation opened: {rule.regime.citation}: {rule.name}; {kind} {when}", actor)
        created.append(obligation)
    return created


def _validate_clock_start(incident: Incident, clock_started_at: datetime | None) -> datetime:
    start = clock_started_at or incident.detected_at
    if timezone.is_naive(start):
        raise ValidationError({"clock_started_at": "Give the time with its time zone."})
    if start > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"clock_started_at": "The clock cannot start in the future."})
    return start


@transaction.atomic
def reportability_decide(
    *,
    incident_id: int,
    regimes: Iterable[Regime],
    reason: str,
    actor,
    variants: Iterable[DeadlineRule] = (),
    clock_started_at: datetime | None = None,
) -> ReportabilityDecision:
    """Record that regimes apply to the incident, and open their obligations with computed deadlines."""
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    _require_visible(incident, actor)
    _require(actor, "incidents.add_reportabilitydecision", "You may not record reportability decisions.")
    if incident.is_drill:
        raise ValidationError(DRILL_MESSAGE)
    regimes, variants = list(regimes), list(variants)
    if not regimes and not variants:
        raise ValidationError({"regimes": "Choose at least one regime."})
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why these regimes apply."})
    start = _validate_clock_start(incident, clock_started_at)
    rules = rules_for(regimes=regimes, variants=variants)
    decision = ReportabilityDecision.objects.create(
        incident=incident,
        reason=reason.strip(),
        clock_started_at=start,
        decided_by=actor if getattr(actor, "pk", None) else None,
    )
    decision.regimes.set({r.pk for r in regimes} | {v.regime_id for v in variants})
    decision.variants.set(variants)
    audit.log_created(
        actor=actor,
        target=decision,
        incident=incident,
        values={
            "regimes": sorted(decision.regimes.values_list("code", flat=True)),
            "variants": sorted(v.pk for v in variants),
            "reason": decision.reason,
            "clock_started_at": start,
        },
    )
    names = ", ".join(sorted(decision.regimes.values_list("citation", flat=True)))
    _timeline(incident, f"Reportability decided: {names} (clock started {utc_text(start)}). {decision.reason}", actor)
    _open_obligations(decision=decision, rules=rules, actor=actor)
    return decision


def is_privacy_incident(incident: Incident) -> bool:
    return incident.involves_privacy or incident.category == Category.DATA_LEAK


@transaction.atomic
def reportability_propose_for_privacy(*, incident_id: int) -> ReportabilityDecision | None:
    """Propose GDPR Art. 33 and 34 for a privacy incident, once. None when there is nothing to propose."""
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if incident.is_drill or not incident.is_open or not is_privacy_incident(incident):
        return None
    regimes = list(Regime.objects.filter(code__in=deadlines.PRIVACY_REGIME_CODES, is_active=True))
    # Any earlier decision about these regimes (proposed, confirmed or rejected) is Legal's word already.
    if not regimes or incident.reportability.filter(regimes__in=regimes).exists():
        return None
    decision = ReportabilityDecision.objects.create(
        incident=incident,
        state=DecisionState.PROPOSED,
        reason="Proposed by Fireline: personal data is involved (privacy flag or data leak). GDPR Art. 33's "
        "72 hours run from awareness; Legal confirms, or rejects with the reason.",
        clock_started_at=incident.detected_at,
    )
    decision.regimes.set(regimes)
    audit.log_created(
        actor=None,
        target=decision,
        incident=incident,
        values={
            "regimes": sorted(r.code for r in regimes),
            "state": decision.state,
            "clock_started_at": incident.detected_at,
        },
    )
    _timeline(incident, "Regulatory: GDPR Art. 33 and 34 proposed (privacy incident); Legal to confirm or reject")
    _open_obligations(decision=decision, rules=rules_for(regimes=regimes), actor=None)
    return decision


def _lock_decision(decision_id: int, actor) -> ReportabilityDecision:
    decision = (
        ReportabilityDecision.objects.select_for_update(of=("self",)).select_related("incident").get(pk=decision_id)
    )
    _require_visible(decision.incident, actor)
    _require(actor, "incidents.confirm_reportabilitydecision", "Only Legal may confirm or reject a proposal.")
    if decision.state != DecisionState.PROPOSED:
        raise ValidationError(f"This decision is {decision.get_state_display().lower()} already.")
    return decision


@transaction.atomic
def reportability_confirm(*, decision_id: int, actor, note: str = "") -> ReportabilityDecision:
    decision = _lock_decision(decision_id, actor)
    decision.confirm()
    decision.reviewed_by = actor if getattr(actor, "pk", None) else None
    decision.review_note = (note or "").strip()
    decision.save()
    audit.log_transition(
        actor=actor,
        target=decision,
        source=DecisionState.PROPOSED,
        target_state=decision.state,
        name="confirm",
        incident=decision.incident,
        details={"note": decision.review_note} if decision.review_note else None,
    )
    _timeline(decision.incident, "Regulatory: proposed reportability confirmed by Legal", actor)
    return decision


@transaction.atomic
def reportability_reject(*, decision_id: int, reason: str, actor) -> ReportabilityDecision:
    """Legal says the proposal does not apply: the decision is rejected and what it opened is waived."""
    decision = _lock_decision(decision_id, actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the proposed regimes do not apply."})
    decision.reject()
    decision.reviewed_by = actor if getattr(actor, "pk", None) else None
    decision.review_note = reason
    decision.save()
    audit.log_transition(
        actor=actor,
        target=decision,
        source=DecisionState.PROPOSED,
        target_state=decision.state,
        name="reject",
        incident=decision.incident,
        details={"reason": reason},
    )
    _timeline(decision.incident, f"Regulatory: proposed reportability rejected by Legal: {reason}", actor)
    for obligation in decision.obligations.filter(state=ObligationState.OPEN):
        obligation_waive(obligation_id=obligation.pk, reason=f"Proposal rejected: {reason}", actor=actor)
    return decision


def _lock_obligation(obligation_id: int, actor) -> RegulatoryObligation:
    obligation = (
        RegulatoryObligation.objects.select_for_update(of=("self",))
        .select_related("incident", "rule__regime")
        .get(pk=obligation_id)
    )
    _require_visible(obligation.incident, actor)
    return obligation


def file_sha256(file) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(65536), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


@transaction.atomic
def obligation_submit(
    *,
    obligation_id: int,
    submitted_to: str,
    reference: str,
    actor,
    submitted_at: datetime | None = None,
    report_file=None,
) -> RegulatoryObligation:
    """Record the report as sent: when, to whom, its reference, and the exact file with its SHA-256."""
    obligation = _lock_obligation(obligation_id, actor)
    _require(actor, "incidents.submit_regulatoryobligation", "You may not record regulatory submissions.")
    if obligation.state != ObligationState.OPEN:
        raise ValidationError(f"This obligation is {obligation.get_state_display().lower()} already.")
    submitted_to = (submitted_to or "").strip() or obligation.recipient
    if not submitted_to:
        raise ValidationError({"submitted_to": "Say to whom the report was sent."})
    submitted_at = submitted_at or timezone.now()
    if submitted_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"submitted_at": "Cannot be in the future."})
    before = audit.snapshot(obligation, OBLIGATION_FIELDS)
    obligation.submitted_at = submitted_at
    obligation.submitted_to = submitted_to[:300]
    obligation.submission_reference = (reference or "").strip()[:300]
    obligation.submitted_by = actor if getattr(actor, "pk", None) else None
    if report_file is not None:
        # The file is written now, inside the transaction; a rollback leaves an orphan file, never a
        # row pointing at a file that is not there.
        obligation.report_sha256 = file_sha256(report_file)
        obligation.report_file.save(getattr(report_file, "name", "report.pdf"), report_file, save=False)
    obligation.submit()
    obligation.save()
    after = audit.snapshot(obligation, OBLIGATION_FIELDS) | {"report_sha256": obligation.report_sha256}
    audit.log_transition(
        actor=actor,
        target=obligation,
        source=ObligationState.OPEN,
        target_state=obligation.state,
        name="submit",
        incident=obligation.incident,
        details={k: v for k, v in after.items() if before.get(k) != v and k != "state"},
    )
    late = ""
    if obligation.deadline and submitted_at > obligation.deadline:
        late = f" ({'past the target' if obligation.is_target else 'LATE'}: due {utc_text(obligation.deadline)})"
    ref = f", reference {obligation.submission_reference}" if obligation.submission_reference else ""
    _timeline(
        obligation.incident,
        f"Regulatory report submitted: {obligation.rule.regime.citation}: {obligation.rule.name} to "
        f"{obligation.submitted_to} at {utc_text(submitted_at)}{ref}{late}",
        actor,
    )
    # A report whose clock runs from this submission (NIS2's final report) starts now.
    for follower in obligation.incident.regulatory_obligations.filter(
        rule__after_id=obligation.rule_id, clock_started_at__isnull=True, state=ObligationState.OPEN
    ).select_related("rule__regime"):
        _start_clock(follower, submitted_at)
        audit.log_changed(
            actor=actor,
            target=follower,
            before={"clock_started_at": None, "deadline": None},
            after={"clock_started_at": follower.clock_started_at, "deadline": follower.deadline},
            incident=obligation.incident,
        )
        _timeline(
            obligation.incident,
            f"Regulatory clock started: {follower.rule.name} due {utc_text(follower.deadline)}",
            actor,
        )
    return obligation


@transaction.atomic
def obligation_waive(*, obligation_id: int, reason: str, actor) -> RegulatoryObligation:
    """Legal decides a report is not owed (or was met another way), and says why."""
    obligation = _lock_obligation(obligation_id, actor)
    _require(actor, "incidents.waive_regulatoryobligation", "Only Legal may waive a regulatory obligation.")
    if obligation.state != ObligationState.OPEN:
        raise ValidationError(f"This obligation is {obligation.get_state_display().lower()} already.")
    obligation.waive_reason = (reason or "").strip()
    obligation.waived_by = actor if getattr(actor, "pk", None) else None
    if not obligation.waive_reason:
        raise ValidationError({"reason": "Give the reason the obligation is waived."})
    obligation.waive()
    obligation.save()
    audit.log_transition(
        actor=actor,
        target=obligation,
        source=ObligationState.OPEN,
        target_state=obligation.state,
        name="waive",
        incident=obligation.incident,
        details={"reason": obligation.waive_reason},
    )
    _timeline(
        obligation.incident,
        f"Regulatory obligation waived: {obligation.rule.regime.citation}: {obligation.rule.name}: "
        f"{obligation.waive_reason}",
        actor,
    )
    return obligation


# --- the clock: proposals and reminders, found by the beat task every minute -------------------


def privacy_proposals_due(*, limit: int = 200) -> int:
    """Propose GDPR for open, real privacy incidents that have no GDPR decision yet."""
    candidates = (
        Incident.objects.real()
        .filter(state__in=OPEN_STATES)
        .filter(Q(involves_privacy=True) | Q(category=Category.DATA_LEAK))
        .exclude(reportability__regimes__code__in=deadlines.PRIVACY_REGIME_CODES)
        .values_list("pk", flat=True)[:limit]
    )
    return sum(reportability_propose_for_privacy(incident_id=pk) is not None for pk in list(candidates))


def _recipients(incident: Incident) -> list[tuple[str, str, StakeholderContact | None, str]]:
    """(channel, address, contact, key) for Legal's tier-1 contacts and the commander."""
    live = StakeholderContact.objects.exclude(state=ContactState.RETIRED)
    contacts = list(live.filter(role=StakeholderRole.LEGAL, escalation_tier=1).order_by("pk"))
    commander_contacts = (
        list(live.filter(user_id=incident.commander_id).order_by("pk")) if incident.commander_id else []
    )
    out, seen = [], set()
    for contact in contacts + commander_contacts:
        if contact.pk in seen or not contact.channels():
            continue
        seen.add(contact.pk)
        channel = contact.channels()[0]
        out.append((channel, contact.address(channel), contact, f"c{contact.pk}"))
    if incident.commander_id and not commander_contacts and incident.commander.email:
        out.append(("email", incident.commander.email, None, f"u{incident.commander_id}"))
    return out


def _reminder_message(obligation: RegulatoryObligation, reminder: RegulatoryReminder, now: datetime) -> tuple:
    incident, rule = obligation.incident, obligation.rule
    link = settings.FIRELINE_BASE_URL.rstrip("/") + reverse("admin:incidents_incident_change", args=[incident.pk])
    local = obligation.deadline.astimezone(zoneinfo.ZoneInfo(rule.regime.time_zone))
    what = "target" if obligation.is_target else "deadline"
    drill = "[DRILL] " if incident.is_drill else ""
    if reminder.key == "overdue":
        subject = f"{drill}OVERDUE {incident.reference}: {rule.regime.citation}: {rule.name}"
    else:
        left = obligation.deadline - now
        hours = max(int(left.total_seconds() // 3600), 0)
        subject = f"{drill}{incident.reference}: {rule.regime.citation}: {rule.name} due in {hours}h"
    # The incident's title stays out: a restricted incident's details do not leave Fireline.
    body = (
        f"{reminder.label.capitalize()}.\n\n{rule.name} ({rule.regime.citation}) for {incident.reference} "
        f"is still open.\nThe {what} is {utc_text(obligation.deadline)} "
        f"({local:%Y-%m-%d %H:%M} {rule.regime.time_zone}).\nRecipient: {obligation.recipient or 'see the regime'}.\n"
        f"Rule: {obligation.rule_summary}\n\nRecord the submission, or ask Legal to waive it: {link}\n"
    )
    return subject, body


@transaction.atomic
def obligation_remind(*, obligation_id: int, now: datetime | None = None) -> int:
    """Send the latest due reminder point of one obligation; earlier points due at once are skipped."""
    now = now or timezone.now()
    obligation = (
        RegulatoryObligation.objects.select_for_update(of=("self",))
        .select_related("incident__commander", "rule__regime")
        .get(pk=obligation_id)
    )
    due = list(obligation.reminders.select_for_update().filter(outcome="", due_at__lte=now).order_by("due_at", "pk"))
    if not due or obligation.state != ObligationState.OPEN:
        return 0
    recipients = _recipients(obligation.incident)
    reminder, sent = reminder_point_send(
        due=due,
        now=now,
        message=lambda point: _reminder_message(obligation, point, now),
        recipients=recipients,
        dedup_prefix=f"reg:{obligation.pk}",
        incident=obligation.incident,
    )
    if recipients:
        _timeline(
            obligation.incident,
            f"Regulatory reminder ({reminder.label}): {obligation.rule.name} due {utc_text(obligation.deadline)}; "
            f"sent to {len(recipients)} recipient(s)",
            kind=TimelineKind.PAGE,
        )
    else:
        _timeline(
            obligation.incident,
            f"Regulatory reminder ({reminder.label}) for {obligation.rule.name} reached no one: add a Legal "
            "stakeholder contact.",
            kind=TimelineKind.DELIVERY_FAILED,
        )
    return sent


def regulatory_reminders_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Every open obligation with a reminder point due and not handled yet: remind once."""
    now = now or timezone.now()
    ids = (
        RegulatoryReminder.objects.filter(outcome="", due_at__lte=now, obligation__state=ObligationState.OPEN)
        .order_by("obligation_id")
        .values_list("obligation_id", flat=True)
        .distinct()[:limit]
    )
    return sum(obligation_remind(obligation_id=pk, now=now) for pk in list(ids))
