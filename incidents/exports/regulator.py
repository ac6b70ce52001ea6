"""The regulator report PDF: one per regime an incident has obligations under, and one per report of a chain.

A regulator reads only what the audience rule gives a regulator (`audience.classify_entry`, `FIELD_AUDIENCE`):
the incident's facts and description, state changes, containment measures by type, and the reports
already filed; never notes, paging, review steps, reportability reasoning or anything else staff typed
for each other. Employees appear by role only. The reporting organisation is the organisation profile's
legal name, address, registration numbers and contact point (a report printed while the profile lacks
them says so in red at the top, so it is not sent by mistake); the marking is the one Legal set for the
regime, else the profile's regulator marking.

With `step`, the report is the one owed under that obligation (NIS2's early warning, notification or
final report; an AI Act complete report; a GDPR phase; a Form 8-K/A): its legal basis, deadline and the
trigger that started its clock come first, and the chain of reports under the regime is listed.
"""

from __future__ import annotations

import datetime
import zoneinfo

from django.template.loader import render_to_string
from django.utils import timezone

from incidents.models import Incident, Regime, RegulatoryObligation
from incidents.models.regulatory import TRIGGER_FIELDS
from incidents.services.flags import switch_export_text
from incidents.text import render_markdown

from .audience import Variant, name_redactor, shows
from .pdf import html_to_pdf, organisation_context, timeline_items, timeline_rows

__all__ = ["NoObligation", "regulator_context", "regulator_html", "regulator_pdf"]


class NoObligation(LookupError):
    """The incident has no obligation under that regime (or no such report)."""


def regulator_obligations(incident: Incident, regime: Regime):
    return (
        RegulatoryObligation.objects.filter(incident=incident, rule__regime=regime)
        .select_related("rule", "rule__regime", "decision", "follows__rule")
        .order_by("rule__order", "sequence", "pk")
    )


def _local(moment, zone: str) -> str:
    if moment is None:
        return ""
    return timezone.localtime(moment, zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _trigger(obligation: RegulatoryObligation) -> tuple[str, datetime.datetime | None]:
    """What started this report's clock, as a regulator may read it (the instant, not staff's evidence)."""
    rule = obligation.rule
    if rule.clock_from == "trigger":
        kind = rule.regime.clock_start
        at, _ = obligation.decision.trigger(kind) if kind in TRIGGER_FIELDS else (None, "")
        label = dict(rule.regime._meta.get_field("clock_start").choices).get(kind, kind)
        return label, at or obligation.clock_started_at
    if rule.clock_from == "predecessor":
        before = obligation.follows or (
            obligation.incident.regulatory_obligations.filter(rule_id=rule.after_id).first() if rule.after_id else None
        )
        name = before.step_name if before is not None else "the earlier report"
        return f"Submission of the {name[0].lower() + name[1:]}", obligation.clock_started_at
    if rule.clock_from == "event":
        return rule.clock_event[:1].upper() + rule.clock_event[1:], obligation.clock_started_at
    if rule.clock_from == "request":
        who = obligation.requested_by or "the authority"
        return f"Request by {who}", obligation.requested_at
    return "No deadline (voluntary report)", None


def _row(obligation: RegulatoryObligation) -> dict:
    zone = obligation.rule.regime.time_zone
    trigger, started = _trigger(obligation)
    return {
        "obligation": obligation,
        "name": obligation.step_name,
        "citation": obligation.rule.citation,
        "is_target": obligation.is_target,
        "deadline": obligation.deadline,
        "deadline_local": _local(obligation.deadline, zone),
        "trigger": trigger,
        "started": started,
        "state": obligation.get_state_display(),
        "submitted_at": obligation.submitted_at,
        "reference": obligation.submission_reference,
        "submitted_as": obligation.submitted_as,
        "recipient": obligation.recipient or obligation.rule.recipient_text,
    }


def regulator_context(incident: Incident, regime: Regime, *, step: RegulatoryObligation | None = None) -> dict:
    obligations = list(regulator_obligations(incident, regime))
    if not obligations:
        raise NoObligation(f"{incident.reference} has no obligation under {regime.code}.")
    if step is not None and step.pk not in {o.pk for o in obligations}:
        raise NoObligation(f"That report is not owed under {regime.code} for {incident.reference}.")
    variant = Variant.REGULATOR
    redact = name_redactor(incident)
    items = timeline_items(incident, variant)
    context = organisation_context(variant, regime=regime)
    profile = context["organisation"]
    context.update(
        {
            "incident": incident,
            "regime": regime,
            "profile_missing": profile.missing_for_regulators(),
            "feature": incident.feature,
            "description": render_markdown(redact(incident.summary)) if shows("incident.summary", variant) else "",
            "fix_description": render_markdown(redact(incident.fix_description))
            if shows("incident.fix_description", variant) and (incident.fix_description or "").strip()
            else "",
            "timeline": timeline_rows(items, redact),
            "measures": [
                (action.performed_at, action.get_action_type_display(), action.reverted_at)
                for action in incident.containment_actions.order_by("performed_at", "pk")
            ],
            "chain": [_row(o) for o in obligations],
            "step": _row(step) if step is not None else None,
            "switch_state": switch_export_text(incident, name_holders=False),
            "generated_at": timezone.now(),
        }
    )
    return context


def regulator_html(incident: Incident, regime: Regime, *, step: RegulatoryObligation | None = None) -> str:
    with timezone.override(datetime.UTC):  # the PDF is a record: one zone for every reader
        return render_to_string("exports/regulator.html", regulator_context(incident, regime, step=step))


def regulator_pdf(
    incident: Incident, regime: Regime, *, step: RegulatoryObligation | None = None, archive: bool = False
) -> bytes:
    """The regulator report for `regime` (or one report of its chain); NoObligation when nothing is owed."""
    return html_to_pdf(regulator_html(incident, regime, step=step), archive=archive)
