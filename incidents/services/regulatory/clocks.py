"""Regulatory clocks: the rules that apply, the obligations a decision opens, their deadlines and reminder rows.

Shared by the decision, obligation and reminder services beside this module.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from audit import services as audit
from incidents import deadlines
from incidents.deadlines import ClockFrom, ClockStart, OpensOn
from incidents.models import (
    DeadlineRule,
    ObligationState,
    Regime,
    RegulatoryObligation,
    RegulatoryReminder,
    ReportabilityDecision,
)

from ..workflow import timeline_add

OBLIGATION_FIELDS = [
    "state",
    "deadline",
    "clock_started_at",
    "submitted_at",
    "submitted_to",
    "submission_reference",
    "is_incomplete",
    "is_ongoing",
]


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
    rules = DeadlineRule.objects.filter(regime_id__in=regime_ids, opens_on=OpensOn.DECISION)
    for rule in rules.select_related("regime", "after"):
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


def _start_clock(
    obligation: RegulatoryObligation, start: datetime, basis: str, *, deadline: datetime | None = None
) -> None:
    """Start the obligation's clock at `start` (what started it: `basis`) and write its reminder points."""
    obligation.clock_started_at = start
    obligation.clock_basis = basis
    obligation.deadline = deadline or obligation.rule.deadline_from(start)
    obligation.save(update_fields=["clock_started_at", "clock_basis", "deadline"])
    _write_reminders(obligation)


def _trigger_basis(decision: ReportabilityDecision, kind: str) -> tuple[datetime, str]:
    at, evidence = decision.trigger(kind)
    label = ClockStart(kind).label
    return at, f"{label}: {utc_text(at)}" + (f". Evidence: {evidence}" if evidence else "")


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
            recipient=rule.recipient_text,
        )
        if rule.clock_from == ClockFrom.PREDECESSOR and rule.after_id:
            before = incident.regulatory_obligations.filter(rule_id=rule.after_id).order_by("-sequence").first()
            if before is not None:
                obligation.follows = before
                obligation.save(update_fields=["follows"])
                if before.state != ObligationState.OPEN:
                    _start_after(obligation, before)
        else:
            start, basis = _trigger_basis(decision, rule.regime.clock_start)
            _start_clock(obligation, start, basis)
        audit.log_created(
            actor=actor,
            target=obligation,
            incident=incident,
            values=audit.snapshot(obligation, OBLIGATION_FIELDS) | {"rule": rule.pk, "decision": decision.pk},
        )
        timeline_add(
            incident, text=f"Regulatory obligation opened: {rule.regime.citation}: {_due_text(obligation)}", actor=actor
        )
        created.append(obligation)
    return created


def _due_text(obligation: RegulatoryObligation) -> str:
    rule = obligation.rule
    kind = "target" if rule.is_target else "deadline"
    if obligation.deadline:
        return f"{obligation.step_name}; {kind} {utc_text(obligation.deadline)}"
    if rule.clock_from == ClockFrom.NONE:
        return f"{obligation.step_name}; no deadline (voluntary)"
    if rule.clock_from == ClockFrom.EVENT:
        return f"{obligation.step_name}; its clock starts when {rule.clock_event}"
    before = rule.after.name if rule.after_id else "the earlier report"
    return f"{obligation.step_name}; its clock starts when '{before}' is submitted"


def _start_after(obligation: RegulatoryObligation, before: RegulatoryObligation) -> None:
    """Start a clock that counts from an earlier report: its submission, or its waiver.

    NIS2 Art. 23(4)(d) counts the final report from the submission of the notification. When Legal
    waives the notification (say, the early warning already carried all of it), the final report still
    needs a clock: it counts from the waiver, or from the notification's own deadline if that came
    first, the earlier of the two, so the month never runs longer than the law would allow.
    """
    if before.state == ObligationState.SUBMITTED:
        start = before.submitted_at
        basis = f"Submission of '{before.step_name}': {utc_text(start)}"
    else:
        start = min(t for t in (before.waived_at, before.deadline) if t is not None)
        basis = (
            f"'{before.step_name}' was waived ({utc_text(before.waived_at)}); counted from "
            f"{'its deadline' if start != before.waived_at else 'the waiver'}, {utc_text(start)}, "
            "the earlier of the two"
        )
    _start_clock(obligation, start, basis)


def _validate_instant(field: str, start: datetime) -> datetime:
    if timezone.is_naive(start):
        raise ValidationError({field: "Give the time with its time zone."})
    if start > timezone.now() + timedelta(minutes=5):
        raise ValidationError({field: "The clock cannot start in the future."})
    return start
