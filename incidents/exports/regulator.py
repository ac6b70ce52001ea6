"""The regulator report PDF: one per regime an incident has obligations under.

The regulator variant leaves out internal-only content: manual notes (timeline kind "note"), paging
and escalation chatter, findings (the evidence of the investigation), and named employees, whose
usernames, full names and email addresses are replaced by their role (their first group) or
"Fireline". Every piece of user text goes through `render_markdown`, and the HTML is rendered by
`html_to_pdf` with the same static-only URL fetcher as the post-mortem.
"""

from __future__ import annotations

import datetime
import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.constants import ContactState, StakeholderRole, TimelineKind
from incidents.models import Incident, Regime, RegulatoryObligation, StakeholderContact
from incidents.models.postmortems import DEFAULT_MARKING
from incidents.text import render_markdown

from .pdf import html_to_pdf

DEFAULT_ORGANISATION_NAME = "Fireline"

# Timeline kinds a regulator sees; notes are internal, pages/escalations/acks name internal contacts.
REGULATOR_TIMELINE_KINDS = (
    TimelineKind.OPENED,
    TimelineKind.TRANSITION,
    TimelineKind.CONTAINMENT,
    TimelineKind.CHANGE,
    TimelineKind.ALERT,
)


class NoObligation(LookupError):
    """The incident has no obligation under that regime."""


def regulator_obligations(incident: Incident, regime: Regime):
    return RegulatoryObligation.objects.filter(incident=incident, rule__regime=regime).select_related(
        "rule", "rule__regime"
    )


def organisation_name() -> str:
    return getattr(settings, "FIRELINE_ORGANISATION_NAME", "") or DEFAULT_ORGANISATION_NAME


def contact_point() -> StakeholderContact | None:
    """The Legal tier-1 stakeholder contact, if there is one still in service."""
    return (
        StakeholderContact.objects.filter(role=StakeholderRole.LEGAL, escalation_tier=1)
        .exclude(state=ContactState.RETIRED)
        .order_by("name", "pk")
        .first()
    )


def _people(incident: Incident) -> list:
    """Everyone whose name could appear in the incident's record."""
    ids = {incident.commander_id, incident.created_by_id, incident.fix_approved_by_id}
    ids |= set(incident.members.values_list("pk", flat=True))
    ids |= set(incident.timeline.values_list("actor_id", flat=True))
    for field in ("actor_id", "approved_by_id", "reverted_by_id"):
        ids |= set(incident.containment_actions.values_list(field, flat=True))
    for field in ("decided_by_id", "reviewed_by_id"):
        ids |= set(incident.reportability.values_list(field, flat=True))
    for field in ("submitted_by_id", "waived_by_id"):
        ids |= set(incident.regulatory_obligations.values_list(field, flat=True))
    ids.discard(None)
    return list(get_user_model().objects.filter(pk__in=ids).prefetch_related("groups"))


def name_redactor(incident: Incident):
    """A function replacing every named employee of the incident by their role, or "Fireline"."""
    replacements: dict[str, str] = {}
    for user in _people(incident):
        groups = sorted(group.name for group in user.groups.all())
        role = groups[0] if groups else DEFAULT_ORGANISATION_NAME
        for name in (user.email, user.get_full_name(), user.get_username()):
            name = (name or "").strip()
            if name:
                replacements.setdefault(name.lower(), role)
    if not replacements:
        return lambda text: text or ""
    alternatives = "|".join(re.escape(name) for name in sorted(replacements, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w@.+-])(?:{alternatives})(?![\w@-])", re.IGNORECASE)

    def redact(text: str) -> str:
        return pattern.sub(lambda match: replacements[match.group(0).lower()], text or "")

    return redact


def regulator_context(incident: Incident, regime: Regime) -> dict:
    obligations = list(regulator_obligations(incident, regime))
    if not obligations:
        raise NoObligation(f"{incident.reference} has no obligation under {regime.code}.")
    redact = name_redactor(incident)
    feature = incident.feature
    timeline = incident.timeline.filter(kind__in=REGULATOR_TIMELINE_KINDS).order_by("occurred_at", "pk")
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
        "generated_at": timezone.now(),
    }


def regulator_html(incident: Incident, regime: Regime) -> str:
    with timezone.override(datetime.UTC):  # the PDF is a record: one zone for every reader
        return render_to_string("exports/regulator.html", regulator_context(incident, regime))


def regulator_pdf(incident: Incident, regime: Regime) -> bytes:
    """The regulator report for `regime`; NoObligation when the incident owes nothing under it."""
    return html_to_pdf(regulator_html(incident, regime))
