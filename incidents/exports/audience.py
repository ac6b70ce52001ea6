"""Who a PDF is for, and what each audience must not see.

Three audiences read Fireline's PDFs: the team and legal (`internal`, everything), the public
(`public`, for the post-mortem and the incident summary) and a regulator (the regulator report,
always redacted). The public and regulator versions leave out internal-only content:

- manual timeline notes and paging/escalation chatter (they name internal contacts and think aloud);
- findings and attached evidence (the investigation's working material, often personal data);
- named employees, replaced by their role (their first group, else the organisation's name), where
  `FIRELINE_PDF_PUBLIC_HIDES_NAMES` is on (the default). Regulator reports always hide them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models

from incidents.constants import TimelineKind
from incidents.models import Incident, PostMortem


class Variant(models.TextChoices):
    INTERNAL = "internal", "Internal"
    PUBLIC = "public", "Public"


DEFAULT_ORGANISATION_NAME = "Fireline"
DEFAULT_PUBLIC_MARKING = "Public version"

# Timeline kinds an outside reader sees; notes are internal, pages/escalations/acks name internal contacts.
PUBLIC_TIMELINE_KINDS = (
    TimelineKind.OPENED,
    TimelineKind.TRANSITION,
    TimelineKind.CONTAINMENT,
    TimelineKind.CHANGE,
    TimelineKind.ALERT,
)

# Automatic entries of kind "change" that carry investigation material (the finding's text, the
# evidence's request ids): left out wherever findings and evidence are.
INVESTIGATION_PREFIXES = ("Finding (", "Evidence attached")
# Regulatory bookkeeping: the regulator's own report shows it; the public version does not.
REGULATORY_PREFIXES = ("Regulatory", "Reportability", "Proposal rejected")


def outside_timeline(entries: models.QuerySet, *, for_regulator: bool = False) -> models.QuerySet:
    """The timeline entries an outside reader (the public, or a regulator) may see."""
    prefixes = INVESTIGATION_PREFIXES + (() if for_regulator else REGULATORY_PREFIXES)
    entries = entries.filter(kind__in=PUBLIC_TIMELINE_KINDS)
    for prefix in prefixes:
        entries = entries.exclude(text__startswith=prefix)
    return entries


class UnknownVariant(ValueError):
    """A variant name that is not one of `Variant`."""


def parse_variant(value: str | None) -> Variant:
    if not value:
        return Variant.INTERNAL
    try:
        return Variant(value)
    except ValueError:
        choices = ", ".join(Variant.values)
        raise UnknownVariant(f"Unknown variant {value!r}: choose one of {choices}.") from None


def organisation_name() -> str:
    return getattr(settings, "FIRELINE_ORGANISATION_NAME", "") or DEFAULT_ORGANISATION_NAME


def public_hides_names() -> bool:
    return bool(getattr(settings, "FIRELINE_PDF_PUBLIC_HIDES_NAMES", True))


def public_marking() -> str:
    return getattr(settings, "FIRELINE_PDF_PUBLIC_MARKING", "") or DEFAULT_PUBLIC_MARKING


def role_of(user) -> str:
    """A user's role for a redacted document: their first group by name, else the organisation."""
    groups = sorted(group.name for group in user.groups.all())
    return groups[0] if groups else organisation_name()


def incident_people(incident: Incident) -> list:
    """Everyone whose name could appear in the incident's record, with their groups prefetched."""
    ids = {incident.commander_id, incident.created_by_id, incident.fix_approved_by_id}
    ids |= set(incident.members.values_list("pk", flat=True))
    ids |= set(incident.timeline.values_list("actor_id", flat=True))
    for field in ("actor_id", "approved_by_id", "reverted_by_id"):
        ids |= set(incident.containment_actions.values_list(field, flat=True))
    for field in ("decided_by_id", "reviewed_by_id"):
        ids |= set(incident.reportability.values_list(field, flat=True))
    for field in ("submitted_by_id", "waived_by_id"):
        ids |= set(incident.regulatory_obligations.values_list(field, flat=True))
    for field in ("owner_id", "created_by_id", "closed_by_id"):
        ids |= set(incident.action_items.values_list(field, flat=True))
    for field in ("created_by_id", "approved_by_id", "sent_by_id"):
        ids |= set(incident.communications.values_list(field, flat=True))
    for row in PostMortem.objects.filter(incident=incident).values_list(
        "created_by_id", "approved_by_id", "published_by_id"
    ):
        ids |= set(row)
    ids.discard(None)
    return list(get_user_model().objects.filter(pk__in=ids).prefetch_related("groups"))


class Redactor:
    """Replaces every named employee of an incident by their role, in text and for user objects."""

    def __init__(self, incident: Incident, *, enabled: bool = True):
        self.enabled = enabled
        self.roles: dict[int, str] = {}
        replacements: dict[str, str] = {}
        if enabled:
            for user in incident_people(incident):
                role = role_of(user)
                self.roles[user.pk] = role
                for name in (user.email, user.get_full_name(), user.get_username()):
                    name = (name or "").strip()
                    if name:
                        replacements.setdefault(name.lower(), role)
        self.replacements = replacements
        self.pattern = None
        if replacements:
            alternatives = "|".join(re.escape(name) for name in sorted(replacements, key=len, reverse=True))
            self.pattern = re.compile(rf"(?<![\w@.+-])(?:{alternatives})(?![\w@-])", re.IGNORECASE)

    def __call__(self, text: str | None) -> str:
        if self.pattern is None:
            return text or ""
        return self.pattern.sub(lambda match: self.replacements[match.group(0).lower()], text or "")

    def person(self, user) -> str:
        """How a user is named in this document: their name, or their role when names are hidden."""
        if user is None:
            return organisation_name()
        if self.enabled:
            return self.roles.get(user.pk) or role_of(user)
        return user.get_full_name() or user.get_username()


def name_redactor(incident: Incident) -> Callable[[str], str]:
    """A function replacing every named employee of the incident by their role (regulator reports)."""
    return Redactor(incident, enabled=True)
