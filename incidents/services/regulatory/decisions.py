"""Reportability decisions: who decided which regimes apply and when each clock started.

A decision records awareness, discovery and the materiality determination each with its own instant
and evidence, and opens one obligation per applicable rule. Privacy incidents get a *proposed* GDPR
decision, which Legal confirms or rejects (a rejection waives what it opened). Drills start no clocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from audit import services as audit
from audit.actors import actor_user
from incidents import deadlines
from incidents.constants import Category
from incidents.deadlines import ClockStart
from incidents.models import (
    DeadlineRule,
    DecisionState,
    Incident,
    ObligationState,
    Regime,
    ReportabilityDecision,
)
from incidents.models.regulatory import TRIGGER_FIELDS

from ..workflow import require_permission as _require
from ..workflow import require_visible as _require_visible
from ..workflow import timeline_add, transition_run
from .clocks import _open_obligations, _validate_instant, rules_for, utc_text
from .obligations import obligation_waive

DRILL_MESSAGE = "This is a drill incident: drills start no regulatory clocks, so no reportability decision is recorded."


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
