"""The regulator report PDF: one per regime an incident has obligations under.

The regulator variant leaves out internal-only content: manual notes (timeline kind "note"), paging
and escalation chatter, findings (the evidence of the investigation), and named employees, whose
usernames, full names and email addresses are replaced by their role (their first group) or
"Fireline". Every piece of user text goes through `render_markdown`, and the HTML is rendered by
`html_to_pdf` with the same static-only URL fetcher as the post-mortem.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.constants import ContactState, StakeholderRole
from incidents.models import Incident, Regime, RegulatoryObligation, StakeholderContact
from incidents.models.postmortems import DEFAULT_MARKING
from incidents.services.flags import switch_export_text
from incidents.text import render_markdown

from .audience import (
    DEFAULT_ORGANISATION_NAME,
    PUBLIC_TIMELINE_KINDS,
    name_redactor,
    organisation_name,
    outside_timeline,
)
from .pdf import html_to_pdf

__all__ = ["DEFAULT_ORGANISATION_NAME", "NoObligation", "regulator_context", "regulator_html", "regulator_pdf"]

# Kept under its old name: a regulator sees what the public variant shows.
REGULATOR_TIMELINE_KINDS = PUBLIC_TIMELINE_KINDS


class NoObligation(LookupError):
    """The incident has no obligation under that regime."""


def regulator_obligations(incident: Incident, regime: Regime):
    return RegulatoryObligation.objects.filter(incident=incident, rule__regime=regime).select_related(
        "rule", "rule__regime"
    )


def contact_point() -> StakeholderContact | None:
    """The Legal tier-1 stakeholder contact, if there is one still in service."""
    return (
        StakeholderContact.objects.filter(role=StakeholderRole.LEGAL, escalation_tier=1)
        .exclude(state=ContactState.RETIRED)
        .order_by("name", "pk")
        .first()
    )


def regulator_context(incident: Incident, regime: Regime) -> dict:
    obligations = list(regulator_obligations(incident, regime))
    if not obligations:
        raise NoObligation(f"{incident.reference} has no obligation under {regime.code}.")
    redact = name_redactor(incident)
    feature = incident.feature
    timeline = outside_timeline(incident.timeline.all(), for_regulator=True).order_by("occurred_at", "pk")
    return {
        "incident": incident,
        "regime": regime,
        "marking": getattr(settings, "FIRELINE_PDF_MARKING", DEFAULT_MARKING),
        "organisation": organisation_name(),
        "contact": contact_point(),
        "feature": feature,
        "description": render_markdown(redact(incident.summary)),
        "timeline": [
            (entry.occurred_at, entry.get_kind_display(), render_markdown(redact(entry.text))) for entry in timeline
        ],
        "measures": [
            (action.performed_at, action.get_action_type_display(), action.reverted_at)
            for action in incident.containment_actions.order_by("performed_at", "pk")
        ],
        "obligations": obligations,
        "switch_state": switch_export_text(incident, name_holders=False),
        "generated_at": timezone.now(),
    }


def regulator_html(incident: Incident, regime: Regime) -> str:
    with timezone.override(datetime.UTC):  # the PDF is a record: one zone for every reader
        return render_to_string("exports/regulator.html", regulator_context(incident, regime))


def regulator_pdf(incident: Incident, regime: Regime) -> bytes:
    """The regulator report for `regime`; NoObligation when the incident owes nothing under it."""
    return html_to_pdf(regulator_html(incident, regime))
