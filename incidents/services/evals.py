"""The eval bench and the 'is it fixed?' gate.

Fixed is a rate, not one green run: each eval case linked to the incident needs a latest run with enough
trials and a failure rate whose 95% Wilson upper bound is within the severity's threshold.
"""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from incidents.constants import IncidentState, TimelineKind
from incidents.models import EvalCase, EvalRun, Incident
from incidents.models.evals import (  # the gate's reads live with the models; services re-export them
    DEFAULT_POLICY,
    CaseStatus,
    evals_blockers,
    incident_eval_status,
    policy_for,
)

from .incidents import incident_reopen
from .notifications import notification_enqueue
from .workflow import timeline_add

__all__ = [
    "DEFAULT_POLICY",
    "CaseStatus",
    "evals_blockers",
    "incident_eval_status",
    "policy_for",
]


@transaction.atomic
def evalcase_create(
    *,
    feature,
    input: str,
    expected_behaviour: str,
    actor,
    failure_category: str = "",
    failure_finding: str = "",
    source_incident: Incident | None = None,
    incidents: list[Incident] | None = None,
) -> EvalCase:
    if actor is not None and not actor.has_perm("incidents.add_evalcase"):
        raise PermissionDenied("You may not add eval cases.")
    case = EvalCase(
        feature=feature,
        input=input,
        expected_behaviour=expected_behaviour,
        author=actor,
        failure_category=failure_category,
        failure_finding=failure_finding,
        source_incident=source_incident,
    )
    case.full_clean()
    case.save()
    linked = list(incidents or []) + ([source_incident] if source_incident else [])
    if linked:
        case.incidents.add(*linked)
    audit.log_created(
        actor=actor,
        target=case,
        incident=source_incident,
        values={"feature": feature.key, "expected_behaviour": expected_behaviour[:200]},
    )
    return case


@transaction.atomic
def evalcase_retire(*, case_id: int, reason: str, actor) -> EvalCase:
    """The bench is permanent: a case is retired with a reason, never deleted."""
    if actor is not None and not actor.has_perm("incidents.change_evalcase"):
        raise PermissionDenied("You may not retire eval cases.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the case is retired."})
    case = EvalCase.objects.select_for_update().get(pk=case_id)
    if case.retired_at:
        return case
    case.retired_at, case.retired_reason = timezone.now(), reason.strip()
    case.save(update_fields=["retired_at", "retired_reason"])
    audit.log_changed(
        actor=actor,
        target=case,
        before={"retired_at": None},
        after={"retired_at": case.retired_at, "reason": case.retired_reason},
    )
    return case


def evalcases_jsonl(queryset=None, *, user=None) -> str:
    """The bench as JSON Lines: one case per line, for the team's harness.

    A case keeps its text, but names its source incident only to readers who may see that incident.
    """
    from incidents.selectors import visible_incidents

    cases = (queryset if queryset is not None else EvalCase.objects.all()).select_related("feature").order_by("pk")
    visible = set(
        visible_incidents(user=user).filter(pk__in=cases.values("source_incident_id")).values_list("pk", flat=True)
    )
    lines = []
    for case in cases:
        lines.append(
            json.dumps(
                {
                    "id": case.pk,
                    "feature": case.feature.key,
                    "input": case.input,
                    "expected_behaviour": case.expected_behaviour,
                    "failure_category": case.failure_category,
                    "failure_finding": case.failure_finding,
                    "source_incident": case.source_incident_id if case.source_incident_id in visible else None,
                    "retired": case.is_retired,
                    "created_at": case.created_at.isoformat(),
                },
                ensure_ascii=False,
            )
        )
    return "\n".join(lines) + ("\n" if lines else "")


@transaction.atomic
def evalruns_record(*, runs: list[dict], harness: str = "", actor=None) -> list[EvalRun]:
    """Store runs from the harness; a failing run of a case behind a verified or closed incident reopens it.

    A run recorded by hand in the admin (a team without a harness) comes with the person who recorded it
    as `actor`, and is logged in their name; it passes the same Wilson gate as the harness's runs.
    """
    if actor is not None and not actor.has_perm("incidents.add_evalrun"):
        raise PermissionDenied("You may not record eval runs.")
    case_ids = {r["case"] for r in runs}
    cases = EvalCase.objects.in_bulk(case_ids)
    missing = sorted(case_ids - set(cases))
    if missing:
        raise ValidationError({"case": f"No eval case {', '.join(f'EV-{m}' for m in missing)}."})
    stored = []
    for r in runs:
        run = EvalRun(
            case=cases[r["case"]],
            trials=r["trials"],
            failures=r["failures"],
            seeds=r.get("seeds", []),
            model_version=r.get("model_version", ""),
            prompt_version=r.get("prompt_version", ""),
            harness=harness or r.get("harness", ""),
            ran_by=r.get("ran_by"),
            ran_at=r.get("ran_at") or timezone.now(),
        )
        run.full_clean()
        run.save()
        stored.append(run)
        if actor is not None:
            audit.log_created(
                actor=actor,
                target=run,
                incident=run.case.source_incident,
                values={
                    "case": run.case_id,
                    "trials": run.trials,
                    "failures": run.failures,
                    "harness": run.harness,
                    "ran_by": run.ran_by_id,
                },
            )
    for run in stored:
        _reopen_on_regression(run)
    return stored


def _reopen_on_regression(run: EvalRun) -> None:

    if run.failures == 0:
        return
    for incident in run.case.incidents.filter(state__in=[IncidentState.VERIFIED, IncidentState.CLOSED]):
        policy = policy_for(incident.severity)
        if run.upper_bound <= policy.max_failure_rate:
            continue
        reason = (
            f"Regression: EV-{run.case_id} failed {run.failures} of {run.trials} trials "
            f"({run.harness or 'harness'}, model {run.model_version or '?'}, prompt {run.prompt_version or '?'})"
        )
        incident_reopen(incident_id=incident.pk, reason=reason, actor=None)
        _page_commander(incident, reason)


def _page_commander(incident: Incident, reason: str) -> None:
    commander = incident.commander
    timeline_add(
        incident,
        kind=TimelineKind.PAGE,
        text=f"Paged the commander {commander.get_username() if commander else '(none)'}: {reason}",
    )
    if commander is None:
        return
    contact = commander.contacts.exclude(state="retired").first()
    address = (contact.address("email") if contact else "") or commander.email
    if address:
        notification_enqueue(
            channel="email",
            recipient=address,
            contact=contact,
            incident=incident,
            subject=f"[{incident.severity}] {incident.reference} reopened: a fixed failure came back",
            body=f"{reason}.\n\n{incident.reference} is investigating again.",
            dedup_key=f"regression:{incident.pk}:{incident.reopen_count}",
        )
