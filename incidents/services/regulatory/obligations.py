"""Regulatory obligations after they open: submitted (with the exact file and its SHA-256), requested
or amended follow-up steps, clocks started by a later event, and waivers (Legal only, with a reason).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from audit.actors import actor_user
from incidents.deadlines import ClockFrom, OpensOn
from incidents.models import (
    DeadlineRule,
    Incident,
    ObligationState,
    RegulatoryObligation,
    ReportabilityDecision,
)

from ..workflow import require_permission as _require
from ..workflow import require_visible as _require_visible
from ..workflow import timeline_add, transition_run
from .clocks import OBLIGATION_FIELDS, _due_text, _start_after, _start_clock, _validate_instant, utc_text


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
    is_incomplete: bool = False,
    is_ongoing: bool = False,
) -> RegulatoryObligation:
    """Record the report as sent: when, to whom, its reference, and the exact file with its SHA-256.

    `is_incomplete`: the report was sent incomplete and the rest follows (AI Act Art. 73(5), GDPR Art.
    33(4), Form 8-K Item 1.05 Instruction 2): the regime's follow-up report is opened. `is_ongoing`: the
    incident was still ongoing (NIS2 Art. 23(4)(e)): the report counts as a progress report and the final
    report after the handling of the incident is opened.
    """
    obligation = _lock_obligation(obligation_id, actor)
    _require(actor, "incidents.submit_regulatoryobligation", "You may not record regulatory submissions.")
    if obligation.state != ObligationState.OPEN:
        raise ValidationError(f"This obligation is {obligation.get_state_display().lower()} already.")
    follow_ups = _follow_up_rules(obligation, OpensOn.INCOMPLETE) if is_incomplete else []
    if is_incomplete and not follow_ups:
        raise ValidationError({"is_incomplete": f"{obligation.rule.regime.citation} has no follow-up report."})
    after_handling = _follow_up_rules(obligation, OpensOn.ONGOING) if is_ongoing else []
    if is_ongoing and not after_handling:
        raise ValidationError({"is_ongoing": "Only a NIS2 final report can be sent as a progress report."})
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
    obligation.submitted_by = actor_user(actor)
    obligation.is_incomplete = bool(is_incomplete)
    obligation.is_ongoing = bool(is_ongoing)
    if report_file is not None:
        # The file is written now, inside the transaction; a rollback leaves an orphan file, never a
        # row pointing at a file that is not there.
        obligation.report_sha256 = file_sha256(report_file)
        obligation.report_file.save(getattr(report_file, "name", "report.pdf"), report_file, save=False)

    def changed(obligation: RegulatoryObligation, source: str) -> dict:
        after = audit.snapshot(obligation, OBLIGATION_FIELDS) | {"report_sha256": obligation.report_sha256}
        return {k: v for k, v in after.items() if before.get(k) != v and k != "state"}

    late = ""
    if obligation.deadline and submitted_at > obligation.deadline:
        late = f" ({'past the target' if obligation.is_target else 'LATE'}: due {utc_text(obligation.deadline)})"
    ref = f", reference {obligation.submission_reference}" if obligation.submission_reference else ""
    as_what = f" as {obligation.submitted_as}" if obligation.submitted_as else ""
    transition_run(
        obligation,
        "submit",
        actor=actor,
        lock=False,
        log_details=changed,
        timeline_text=lambda obligation, source: (
            f"Regulatory report submitted: {obligation.rule.regime.citation}: {obligation.step_name} to "
            f"{obligation.submitted_to} at {utc_text(submitted_at)}{ref}{as_what}{late}"
        ),
    )
    _start_waiting_followers(obligation, actor)
    for rule in follow_ups + after_handling:
        _open_step(rule=rule, follows=obligation, actor=actor)
    return obligation


def _start_waiting_followers(obligation: RegulatoryObligation, actor) -> None:
    """Reports whose clock runs from this one's submission or waiver (NIS2's final report) start now."""
    for follower in obligation.incident.regulatory_obligations.filter(
        rule__after_id=obligation.rule_id,
        rule__clock_from=ClockFrom.PREDECESSOR,
        clock_started_at__isnull=True,
        state=ObligationState.OPEN,
    ).select_related("rule__regime"):
        _start_after(follower, obligation)
        audit.log_changed(
            actor=actor,
            target=follower,
            before={"clock_started_at": None, "deadline": None},
            after={"clock_started_at": follower.clock_started_at, "deadline": follower.deadline},
            incident=obligation.incident,
        )
        timeline_add(
            obligation.incident,
            text=f"Regulatory clock started: {follower.step_name} due {utc_text(follower.deadline)}",
            actor=actor,
        )


def _follow_up_rules(obligation: RegulatoryObligation, event: str) -> list[DeadlineRule]:
    """The regime's rules that `event` on this report opens: those that follow it, or any report of the regime."""
    return list(
        DeadlineRule.objects.filter(regime_id=obligation.rule.regime_id, opens_on=event)
        .filter(Q(after__isnull=True) | Q(after_id=obligation.rule_id))
        .select_related("regime", "after")
        .order_by("order", "pk")
    )


def _open_step(
    *,
    rule: DeadlineRule,
    follows: RegulatoryObligation | None,
    actor,
    incident: Incident | None = None,
    decision: ReportabilityDecision | None = None,
    requested_by: str = "",
    requested_at: datetime | None = None,
    due_at: datetime | None = None,
) -> RegulatoryObligation:
    """Open the next report of a chain and start its clock if it counts from something already known."""
    incident = incident or follows.incident
    decision = decision or follows.decision
    sequence = (
        RegulatoryObligation.objects.filter(incident=incident, rule=rule)
        .order_by("-sequence")
        .values_list("sequence", flat=True)
        .first()
        or 0
    ) + 1
    step = RegulatoryObligation.objects.create(
        incident=incident,
        decision=decision,
        rule=rule,
        sequence=sequence,
        follows=follows,
        is_target=rule.is_target,
        rule_summary=rule.summary,
        recipient=(follows.recipient if follows is not None and not rule.recipient else rule.recipient_text),
        requested_by=requested_by,
        requested_at=requested_at,
    )
    if rule.clock_from == ClockFrom.PREDECESSOR and follows is not None:
        _start_after(step, follows)
    elif rule.clock_from == ClockFrom.REQUEST:
        _start_clock(step, requested_at, f"Requested by {requested_by} at {utc_text(requested_at)}", deadline=due_at)
    audit.log_created(
        actor=actor,
        target=step,
        incident=incident,
        values=audit.snapshot(step, OBLIGATION_FIELDS)
        | {"rule": rule.pk, "follows": follows.pk if follows else None, "sequence": sequence},
    )
    timeline_add(incident, text=f"Regulatory obligation opened: {rule.regime.citation}: {_due_text(step)}", actor=actor)
    return step


@transaction.atomic
def obligation_request(
    *, obligation_id: int, requested_by: str, due_at: datetime, actor, requested_at: datetime | None = None
) -> RegulatoryObligation:
    """The authority asked for a report (NIS2 Art. 23(4)(c) intermediate report): owed by the date it set."""
    obligation = _lock_obligation(obligation_id, actor)
    _require(actor, "incidents.submit_regulatoryobligation", "You may not record regulatory requests.")
    rules = _follow_up_rules(obligation, OpensOn.REQUEST)
    if not rules:
        raise ValidationError(f"{obligation.rule.regime.citation} has no report that an authority requests.")
    requested_by = (requested_by or "").strip() or obligation.recipient
    if not requested_by:
        raise ValidationError({"requested_by": "Say which authority asked."})
    requested_at = requested_at or timezone.now()
    _validate_instant("requested_at", requested_at)
    if due_at is None or timezone.is_naive(due_at):
        raise ValidationError({"due_at": "Give the deadline in the request, with its time zone."})
    if due_at <= requested_at:
        raise ValidationError({"due_at": "The deadline comes after the request."})
    return _open_step(
        rule=rules[0],
        follows=obligation,
        actor=actor,
        requested_by=requested_by[:300],
        requested_at=requested_at,
        due_at=due_at,
    )


@transaction.atomic
def obligation_amend(*, obligation_id: int, reason: str, actor) -> RegulatoryObligation:
    """The organisation will amend a report it sent (SB 53 § 22757.13(c)(3)): a voluntary report, no deadline."""
    obligation = _lock_obligation(obligation_id, actor)
    _require(actor, "incidents.submit_regulatoryobligation", "You may not open amended reports.")
    if obligation.state != ObligationState.SUBMITTED:
        raise ValidationError("Only a report that was sent can be amended.")
    rules = _follow_up_rules(obligation, OpensOn.AMENDMENT)
    if not rules:
        raise ValidationError(f"{obligation.rule.regime.citation} has no amended report.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say what the amended report adds or corrects."})
    step = _open_step(rule=rules[0], follows=obligation, actor=actor)
    step.clock_basis = f"Amends '{obligation.step_name}': {reason}"
    step.save(update_fields=["clock_basis"])
    return step


@transaction.atomic
def obligation_start_clock(*, obligation_id: int, at: datetime, evidence: str, actor) -> RegulatoryObligation:
    """Record the event a report counts from (the information is determined; the incident is handled)."""
    obligation = _lock_obligation(obligation_id, actor)
    _require(actor, "incidents.submit_regulatoryobligation", "You may not start regulatory clocks.")
    rule = obligation.rule
    if rule.clock_from != ClockFrom.EVENT:
        raise ValidationError("This report's clock does not start on an event recorded by hand.")
    if obligation.state != ObligationState.OPEN or obligation.clock_started_at is not None:
        raise ValidationError("This report's clock has started already.")
    if at is None:
        raise ValidationError({"at": f"Give when {rule.clock_event}."})
    _validate_instant("at", at)
    evidence = (evidence or "").strip()
    if not evidence:
        raise ValidationError({"evidence": f"Say what shows when {rule.clock_event}."})
    _start_clock(obligation, at, f"{rule.clock_event[:1].upper()}{rule.clock_event[1:]}: {utc_text(at)}. {evidence}")
    audit.log_changed(
        actor=actor,
        target=obligation,
        before={"clock_started_at": None, "deadline": None},
        after={"clock_started_at": obligation.clock_started_at, "deadline": obligation.deadline, "evidence": evidence},
        incident=obligation.incident,
    )
    timeline_add(
        obligation.incident,
        text=f"Regulatory clock started: {obligation.step_name} due {utc_text(obligation.deadline)}",
        actor=actor,
    )
    return obligation


@transaction.atomic
def obligation_waive(*, obligation_id: int, reason: str, actor) -> RegulatoryObligation:
    """Legal decides a report is not owed (or was met another way), and says why."""
    obligation = _lock_obligation(obligation_id, actor)
    _require(actor, "incidents.waive_regulatoryobligation", "Only Legal may waive a regulatory obligation.")
    if obligation.state != ObligationState.OPEN:
        raise ValidationError(f"This obligation is {obligation.get_state_display().lower()} already.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason the obligation is waived."})

    def prepare(obligation: RegulatoryObligation) -> None:
        obligation.waive_reason = reason
        obligation.waived_by = actor_user(actor)

    transition_run(
        obligation,
        "waive",
        actor=actor,
        lock=False,
        prepare=prepare,
        log_details={"reason": reason},
        timeline_text=f"Regulatory obligation waived: {obligation.rule.regime.citation}: {obligation.step_name}: "
        f"{reason}",
    )
    # A waived report must not leave the one that counts from it without a clock (NIS2's final report).
    _start_waiting_followers(obligation, actor)
    return obligation
