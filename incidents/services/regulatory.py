"""Reportability decisions, regulatory obligations and their reminders.

A decision (which regimes apply, who decided, when, why, when the clock started) opens one
obligation per applicable rule, with its deadline computed by `incidents.deadlines` and its reminder
points written as rows. A beat task sends the reminder points that are due, each once, through the
outbox. Obligations end submitted (when, to whom, the reference, the exact file with its SHA-256)
or waived (Legal only, with a reason). Drills start no clocks.

Privacy incidents get a *proposed* GDPR decision from the sweep: its obligations are open at once,
because Art. 33's 72 hours run from awareness, not from the day Legal looks. Legal confirms the
proposal, or rejects it with a reason, which waives what it opened.

One clock start per trigger: a decision records awareness, discovery and the materiality determination
each with its own instant and evidence, and each regime's clock starts at its own trigger (the EU
regimes at awareness, SB 53 at discovery, the SEC's Form 8-K at the materiality determination), so
deciding them together never makes one regime's deadline late.

Reports come in chains (`DeadlineRule.opens_on`, `clock_from`): a report sent incomplete opens the next
one (AI Act Art. 73(5) complete report, GDPR Art. 33(4) next phase, Form 8-K/A); an authority's request
opens NIS2's intermediate report; a NIS2 final report sent while the incident is ongoing is a progress
report and opens the final report due a month after the incident is handled; an organisation may amend
an SB 53 report. Each step is an obligation with its deadline, reminders, submission proof and PDF.
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
from audit.actors import actor_user
from incidents import deadlines
from incidents.constants import OPEN_STATES, Category, ContactState, StakeholderRole, TimelineKind
from incidents.deadlines import ClockFrom, ClockStart, OpensOn
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
)
from incidents.models.regulatory import TRIGGER_FIELDS

from .notifications import reminder_point_send
from .workflow import require_permission as _require
from .workflow import require_visible as _require_visible
from .workflow import timeline_add, transition_run

DRILL_MESSAGE = "This is a drill incident: drills start no regulatory clocks, so no reportability decision is recorded."
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


def _resolve_triggers(
    *,
    incident: Incident,
    needed: set[str],
    triggers: dict | None,
    clock_started_at: datetime | None,
    reason: str,
) -> dict[str, tuple[datetime, str]]:
    """Each trigger the chosen regimes count from: (instant, evidence).

    Given triggers need their evidence. `clock_started_at` alone is a shorthand for a decision whose
    regimes all count from the same trigger; when they count from different ones it is refused, since
    one instant would make one regime's deadline late (awareness comes before a materiality
    determination). Awareness and discovery default to the detection time; the materiality
    determination has no default: it is a decision somebody took, at a time only they know.
    """
    resolved: dict[str, tuple[datetime, str]] = {}
    for kind, value in (triggers or {}).items():
        if kind not in TRIGGER_FIELDS:
            raise ValidationError({"triggers": f"Unknown clock start {kind!r}."})
        at, evidence = value if isinstance(value, tuple | list) else (value, "")
        if at is None:
            continue
        field = TRIGGER_FIELDS[kind][0]
        evidence = (evidence or "").strip()
        if not evidence:
            raise ValidationError({TRIGGER_FIELDS[kind][1]: f"Say what shows the {ClockStart(kind).label.lower()}."})
        resolved[kind] = (_validate_instant(field, at), evidence)
    if clock_started_at is not None:
        missing = needed - set(resolved)
        if len(missing) > 1:
            labels = " and ".join(ClockStart(k).label.lower() for k in sorted(missing))
            raise ValidationError(
                {
                    "clock_started_at": "These regimes start their clocks at different events: give the time of "
                    f"each ({labels}), not one time for all."
                }
            )
        for kind in missing:
            resolved[kind] = (_validate_instant("clock_started_at", clock_started_at), reason)
    signal = incident.get_detection_signal_display().lower()
    detected = f"The incident was detected at {utc_text(incident.detected_at)} via {signal}"
    for kind in (ClockStart.AWARENESS, ClockStart.DISCOVERY):
        if kind in needed and kind not in resolved:
            resolved[kind] = (incident.detected_at, detected)
    if ClockStart.MATERIALITY in needed and ClockStart.MATERIALITY not in resolved:
        raise ValidationError(
            {
                "materiality_at": "Form 8-K counts from the determination that the incident is material: give when "
                "it was made and what shows it (e.g. the disclosure committee's minutes)."
            }
        )
    return resolved


@transaction.atomic
def reportability_decide(
    *,
    incident_id: int,
    regimes: Iterable[Regime],
    reason: str,
    actor,
    variants: Iterable[DeadlineRule] = (),
    clock_started_at: datetime | None = None,
    triggers: dict | None = None,
) -> ReportabilityDecision:
    """Record that regimes apply to the incident, and open their obligations with computed deadlines.

    `triggers` maps a clock start (awareness, discovery, materiality) to (instant, evidence); each
    regime's obligations count from its own trigger. See `_resolve_triggers` for the defaults.
    """
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
    rules = rules_for(regimes=regimes, variants=variants)
    chosen = {r.pk: r for r in regimes} | {v.regime_id: v.regime for v in variants}
    needed = {regime.clock_start for regime in chosen.values()}
    resolved = _resolve_triggers(
        incident=incident, needed=needed, triggers=triggers, clock_started_at=clock_started_at, reason=reason.strip()
    )
    fields = {}
    for kind, (at, evidence) in resolved.items():
        at_field, evidence_field = TRIGGER_FIELDS[kind]
        fields[at_field], fields[evidence_field] = at, evidence
    start = min(at for at, _ in resolved.values())
    decision = ReportabilityDecision.objects.create(
        incident=incident,
        reason=reason.strip(),
        clock_started_at=start,
        decided_by=actor_user(actor),
        **fields,
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
            "triggers": {kind: {"at": at, "evidence": evidence} for kind, (at, evidence) in resolved.items()},
        },
    )
    names = ", ".join(sorted(decision.regimes.values_list("citation", flat=True)))
    starts = "; ".join(f"{ClockStart(kind).label.lower()} {utc_text(at)}" for kind, (at, _) in sorted(resolved.items()))
    timeline_add(incident, text=f"Reportability decided: {names} (clocks: {starts}). {decision.reason}", actor=actor)
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
        aware_at=incident.detected_at,
        aware_evidence=f"The incident was detected at {utc_text(incident.detected_at)} via "
        f"{incident.get_detection_signal_display().lower()}, with personal data involved",
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
    timeline_add(
        incident, text="Regulatory: GDPR Art. 33 and 34 proposed (privacy incident); Legal to confirm or reject"
    )
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
def _reportability_review(*, decision_id: int, verdict: str, text: str, actor) -> ReportabilityDecision:
    """Legal's word on a proposed decision: "confirm" (with an optional note) or "reject" (with the reason).

    A rejection waives every obligation the proposal opened, with the same reason.
    """
    decision = _lock_decision(decision_id, actor)
    text = (text or "").strip()
    if verdict == "reject":
        if not text:
            raise ValidationError({"reason": "Say why the proposed regimes do not apply."})
        details, line = {"reason": text}, f"Regulatory: proposed reportability rejected by Legal: {text}"
    elif verdict == "confirm":
        details, line = ({"note": text} if text else None), "Regulatory: proposed reportability confirmed by Legal"
    else:
        raise ValueError(f"A proposal is confirmed or rejected, not {verdict!r}.")

    def review(decision: ReportabilityDecision) -> None:
        decision.reviewed_by = actor_user(actor)
        decision.review_note = text

    transition_run(decision, verdict, actor=actor, lock=False, apply=review, log_details=details, timeline_text=line)
    if verdict == "reject":
        for obligation in decision.obligations.filter(state=ObligationState.OPEN):
            obligation_waive(obligation_id=obligation.pk, reason=f"Proposal rejected: {text}", actor=actor)
    return decision


def reportability_confirm(*, decision_id: int, actor, note: str = "") -> ReportabilityDecision:
    return _reportability_review(decision_id=decision_id, verdict="confirm", text=note, actor=actor)


def reportability_reject(*, decision_id: int, reason: str, actor) -> ReportabilityDecision:
    """Legal says the proposal does not apply: the decision is rejected and what it opened is waived."""
    return _reportability_review(decision_id=decision_id, verdict="reject", text=reason, actor=actor)


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
        timeline_add(
            obligation.incident,
            text=f"Regulatory reminder ({reminder.label}): {obligation.step_name} due {utc_text(obligation.deadline)}; "
            f"sent to {len(recipients)} recipient{'' if len(recipients) == 1 else 's'}",
            kind=TimelineKind.PAGE,
        )
    else:
        timeline_add(
            obligation.incident,
            text=f"Regulatory reminder ({reminder.label}) for {obligation.rule.name} reached no one: add a Legal "
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
