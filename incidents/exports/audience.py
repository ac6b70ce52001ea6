"""Who a document is for, and the rule that decides what each audience may read.

Every item a document prints has an audience class, the widest audience that may read it:

- `public`: anyone (a state change, a containment measure by its type, a severity change);
- `regulator`: an authority too (a regulatory report's submission, the incident's description);
- `legal`: the team and counsel only (reportability reasoning, recurrence links, alerts);
- `internal`: the team only (notes, paging and escalation, review and approval steps, drafts,
  reasons typed by staff).

A document is printed for one variant (internal, public or regulator) and shows an item only when
the item's class reaches that variant: `internal` sees everything, `regulator` sees regulator and
public items, `public` sees public items. Timeline entries are classed by `classify_entry`, from their
kind and, for automatic entries, their wording; an entry it does not recognise is internal. Where an
outside reader may see an entry, they get its outside wording: the fact without what staff typed
after it (a transition's note, a containment's approver and reason, a flag key).

People appear by full name and role ("Ann Smith (Legal)"); where a variant hides names (regulator
reports always, public documents unless `FIRELINE_PDF_PUBLIC_HIDES_NAMES` is off) by role only. A
username is never printed. A variant a document does not have is refused (`UnknownVariant`, a 400).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models

from incidents.constants import TimelineKind
from incidents.models import Incident, OrganisationProfile, PostMortem, PostMortemApproval


class Variant(models.TextChoices):
    INTERNAL = "internal", "Internal"
    PUBLIC = "public", "Public"
    REGULATOR = "regulator", "Regulator"


class AudienceClass(models.TextChoices):
    """How far an item of an export may reach (shown when its rank is at most the variant's).

    Not `incidents.constants.Audience` (who a communication is written for), nor
    `incidents.deadlines.ReportRecipient` (who a regime's report goes to).
    """

    PUBLIC = "public", "Public"
    REGULATOR = "regulator", "Regulator"
    LEGAL = "legal", "Legal"
    INTERNAL = "internal", "Internal"


# How far each class reaches, and how much each variant may read: an item is shown when its rank is
# at most the variant's.
CLASS_RANK = {AudienceClass.PUBLIC: 0, AudienceClass.REGULATOR: 1, AudienceClass.LEGAL: 2, AudienceClass.INTERNAL: 3}
VARIANT_RANK = {Variant.PUBLIC: 0, Variant.REGULATOR: 1, Variant.INTERNAL: 3}


def may_see(item_class: str, variant: str) -> bool:
    return CLASS_RANK[AudienceClass(item_class)] <= VARIANT_RANK[Variant(variant)]


def is_outside(variant: str) -> bool:
    return variant != Variant.INTERNAL


# --- timeline entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Classified:
    audience: str  # an AudienceClass value
    outside_text: str  # what a reader outside the team gets ("" for internal entries)
    is_paperwork: bool = False  # about the documents themselves (post-mortem review, drafts, filings)


# Kinds that never leave the team: typed notes, and paging chatter (they name contacts and think aloud).
INTERNAL_KINDS = {
    TimelineKind.NOTE,
    TimelineKind.PAGE,
    TimelineKind.ESCALATION,
    TimelineKind.ACKNOWLEDGEMENT,
    TimelineKind.DELIVERY_FAILED,
}

# Automatic "change" entries an outside reader may see, by their wording: (pattern, class, outside text).
# The outside text is rebuilt from the match, so nothing a person typed after it comes along.
CHANGE_RULES: list[tuple[re.Pattern, str, str]] = [
    (re.compile(r"^Severity (\S+) → (\S+)$"), AudienceClass.PUBLIC, "Severity {0} → {1}"),
    (re.compile(r"^Post-mortem published$"), AudienceClass.PUBLIC, "Post-mortem published"),
    # "sent to 3 recipient(s): <subject>" / "sent on the status page: <subject>"; never "sent back: <note>"
    (
        re.compile(r"^(Affected users|Public) communication sent (?:to \d+ recipient|on the status page)"),
        AudienceClass.PUBLIC,
        "{0} communication sent",
    ),
    (
        re.compile(r"^(Regulator) communication sent (?:to \d+ recipient|on the status page)"),
        AudienceClass.REGULATOR,
        "{0} communication sent",
    ),
    (
        re.compile(
            r"^Regulatory report submitted: (.+?) to (.+?) at (\d{4}-\d\d-\d\d \d\d:\d\d UTC)(, reference [^()]+)?"
        ),
        AudienceClass.REGULATOR,
        "Report submitted: {0} to {1} at {2}{3}",
    ),
]

# Automatic entries about the documents themselves: left out of the post-mortem's timeline in every
# variant (they are the paperwork, not the incident).
PAPERWORK_PREFIXES = (
    "Post-mortem ",
    "Regulatory",
    "Reportability",
    "Proposal rejected",
    "Action item",
    "Internal communication",
    "Affected users communication",
    "Public communication",
    "Regulator communication",
)

# Kinds whose entries can be about the documents (a state change never is, even "Post-mortem → Closed").
PAPERWORK_KINDS = {TimelineKind.CHANGE, TimelineKind.PAGE, TimelineKind.DELIVERY_FAILED}

KILL_SWITCH_RULES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^Kill switch \S+ is now OFF"), "Kill switch turned off: the AI feature is disabled"),
    (re.compile(r"^Kill switch \S+ was already OFF"), "Kill switch held off"),
    (re.compile(r"^Kill switch \S+ is ON again"), "Kill switch turned back on: the AI feature is enabled again"),
    (re.compile(r"^Kill switch \S+: this hold is lifted, but it stays OFF"), "Kill switch stays off"),
    (re.compile(r"^Cohort restricted:"), "Feature restricted for a cohort of users"),
    (re.compile(r"^Cohort .+ was already restricted"), "Cohort restriction held"),
    (re.compile(r"^Cohort restriction lifted"), "Cohort restriction lifted"),
    (re.compile(r"^Cohort .+ this hold is lifted, but the restriction stays"), "Cohort restriction stays in force"),
]
CONTAINMENT_FACT = re.compile(r"^(Containment(?: lifted| handed over)?): ([^:(;]+?)(?:\s*[:(;]|$)")


def _outside_containment(text: str) -> str:
    for pattern, outside in KILL_SWITCH_RULES:
        if pattern.search(text):
            return outside
    match = CONTAINMENT_FACT.match(text)
    if match:
        suffix = " (stays in force)" if match.group(1) == "Containment handed over" else ""
        return f"{match.group(1)}: {match.group(2).strip()}{suffix}"
    return ""


def classify_entry(kind: str, text: str, *, is_automatic: bool = True) -> Classified:
    """The audience class of one timeline entry, and its wording for a reader outside the team."""
    text = text or ""
    is_paperwork = kind in PAPERWORK_KINDS and text.startswith(PAPERWORK_PREFIXES)
    if kind in INTERNAL_KINDS or not is_automatic:
        return Classified(AudienceClass.INTERNAL, "", is_paperwork)
    if kind == TimelineKind.OPENED:
        return Classified(AudienceClass.PUBLIC, text.split(";", 1)[0].strip())
    if kind == TimelineKind.TRANSITION:
        # "Investigating → Fixed: <what the commander typed>": the state change only
        return Classified(AudienceClass.PUBLIC, text.split(":", 1)[0].strip())
    if kind == TimelineKind.CONTAINMENT:
        outside = _outside_containment(text)
        return Classified(AudienceClass.PUBLIC if outside else AudienceClass.INTERNAL, outside)
    if kind == TimelineKind.ALERT:
        return Classified(AudienceClass.LEGAL, "")
    if kind == TimelineKind.CHANGE:
        for pattern, audience, template in CHANGE_RULES:
            match = pattern.search(text)
            if match:
                return Classified(audience, template.format(*(group or "" for group in match.groups())), is_paperwork)
        if text.startswith(("Reportability decided", "Recurrence of")):
            return Classified(AudienceClass.LEGAL, "", is_paperwork)
    return Classified(AudienceClass.INTERNAL, "", is_paperwork)


# --- variants -------------------------------------------------------------------------------------


class UnknownVariant(ValueError):
    """A variant name the document does not have."""


def parse_variant(
    value: str | None,
    *,
    supported: Iterable[str] = (Variant.INTERNAL, Variant.PUBLIC),
    default: str = Variant.INTERNAL,
    document: str = "this document",
) -> Variant:
    """The variant asked for, if the document has it; UnknownVariant (say, a 400) otherwise."""
    supported = [Variant(v) for v in supported]
    if not value:
        return Variant(default)
    if value in supported:
        return Variant(value)
    choices = ", ".join(str(v) for v in supported)
    raise UnknownVariant(f"There is no {value!r} version of {document}: choose {choices}.")


# --- markings and the organisation -------------------------------------------------------------------


def organisation() -> OrganisationProfile:
    return OrganisationProfile.current()


def organisation_name(profile: OrganisationProfile | None = None) -> str:
    """The reporting organisation's legal name; never the product's name. Empty when not set."""
    return (profile or organisation()).name


def marking_for(variant: str, *, internal: str = "", regime=None, profile: OrganisationProfile | None = None) -> str:
    """The classification marking of a document for this variant.

    internal: the document's own marking (a post-mortem's), else the profile's confidential marking;
    public: the profile's public marking ("Public"); regulator: the regime's marking set by Legal,
    else the profile's regulator marking.
    """
    profile = profile or organisation()
    if variant == Variant.PUBLIC:
        return profile.marking_public or "Public"
    if variant == Variant.REGULATOR:
        return (getattr(regime, "report_marking", "") or "").strip() or profile.marking_regulator
    return internal or profile.marking_internal


def public_hides_names() -> bool:
    return bool(getattr(settings, "FIRELINE_PDF_PUBLIC_HIDES_NAMES", True))


def hides_names(variant: str) -> bool:
    if variant == Variant.REGULATOR:
        return True
    return variant == Variant.PUBLIC and public_hides_names()


# --- people -------------------------------------------------------------------------------------------

STAFF = "Staff member"


def role_of(user) -> str:
    """A user's role: their first group by name, else "Staff member" (never the organisation's name)."""
    groups = sorted(group.name for group in user.groups.all())
    return groups[0] if groups else STAFF


def person_text(*, name: str, role: str, hide_names: bool) -> str:
    """ "Ann Smith (Legal)"; the role alone where names are hidden or no full name is known."""
    name = (name or "").strip()
    if hide_names or not name:
        return role
    return f"{name} ({role})"


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
    ids |= set(PostMortemApproval.objects.filter(postmortem__incident=incident).values_list("user_id", flat=True))
    ids.discard(None)
    return list(get_user_model().objects.filter(pk__in=ids).prefetch_related("groups"))


def people_table(users) -> dict[int, dict]:
    """{user id: {"name": full name, "role": role, "aliases": [username, email]}} for a snapshot."""
    return {
        user.pk: {
            "name": user.get_full_name().strip(),
            "role": role_of(user),
            "aliases": [a for a in (user.get_username(), user.email) if a],
        }
        for user in users
    }


class Redactor:
    """Names people the way a variant allows, in text and for user ids.

    Where names are hidden, a username, email address or full name in text becomes the person's role.
    Where names are shown, a username becomes the person's full name (usernames are login handles, not
    names) and emails stay. `people` is a `people_table`: live, or the one frozen in a snapshot.
    """

    def __init__(self, people: dict, *, hide_names: bool):
        self.people = {int(pk): row for pk, row in people.items()}
        self.hide_names = hide_names
        replacements: dict[str, str] = {}
        case_sensitive: dict[str, str] = {}
        for row in self.people.values():
            shown = row["role"] if hide_names else (row["name"] or row["role"])
            aliases = list(row.get("aliases") or [])
            if hide_names:
                for alias in [*aliases, row["name"]]:
                    if alias and alias.strip():
                        replacements.setdefault(alias.strip().lower(), shown)
            elif aliases:
                username = aliases[0].strip()
                if len(username) >= 3 and "@" not in username and username != shown:
                    case_sensitive.setdefault(username, shown)
        self.replacements = replacements
        self.case_sensitive = case_sensitive
        self.pattern = self._pattern(replacements, re.IGNORECASE)
        self.exact = self._pattern(case_sensitive, 0)

    @staticmethod
    def _pattern(names: dict, flags: int) -> re.Pattern | None:
        if not names:
            return None
        alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
        return re.compile(rf"(?<![\w@.+-])(?:{alternatives})(?![\w@-])", flags)

    def __call__(self, text: str | None) -> str:
        text = plural_fixes(text or "")
        if self.pattern is not None:
            text = self.pattern.sub(lambda match: self.replacements[match.group(0).lower()], text)
        if self.exact is not None:
            text = self.exact.sub(lambda match: self.case_sensitive[match.group(0)], text)
        return text

    def person_id(self, pk: int | None, *, fallback: str = "") -> str:
        if pk is None:
            return fallback
        row = self.people.get(int(pk))
        if row is None:
            return fallback or STAFF
        return person_text(name=row["name"], role=row["role"], hide_names=self.hide_names)

    def person(self, user, *, fallback: str = "") -> str:
        if user is None:
            return fallback
        if int(user.pk) not in self.people:
            self.people[int(user.pk)] = people_table([user])[user.pk]
        return self.person_id(user.pk, fallback=fallback)


def redactor_for(incident: Incident, variant: str) -> Redactor:
    return Redactor(people_table(incident_people(incident)), hide_names=hides_names(variant))


def name_redactor(incident: Incident) -> Redactor:
    """Every named employee of the incident replaced by their role (regulator reports)."""
    return Redactor(people_table(incident_people(incident)), hide_names=True)


PLURAL = re.compile(r"\b(\d+) (recipient|item|report|alert|page)\(s\)")


def plural_fixes(text: str) -> str:
    """ "1 recipient(s)" -> "1 recipient", "3 recipient(s)" -> "3 recipients" (older automatic entries)."""
    return PLURAL.sub(lambda m: f"{m.group(1)} {m.group(2)}{'' if m.group(1) == '1' else 's'}", text)


# --- fields -----------------------------------------------------------------------------------------------

# The audience class of each field a document prints (model.field). Text typed by staff is internal
# unless it is written for a reader outside (post-mortem sections, after review; approved messages).
FIELD_AUDIENCE: dict[str, str] = {
    "incident.title": AudienceClass.PUBLIC,
    "incident.category": AudienceClass.PUBLIC,
    "incident.severity": AudienceClass.PUBLIC,
    "incident.impact": AudienceClass.PUBLIC,
    "incident.detected_at": AudienceClass.PUBLIC,
    "incident.feature": AudienceClass.PUBLIC,
    "incident.root_cause_layer": AudienceClass.PUBLIC,
    "incident.fix_layer": AudienceClass.PUBLIC,
    "incident.summary": AudienceClass.REGULATOR,  # the facts as known; written for the team, fit for an authority
    "incident.users_affected": AudienceClass.REGULATOR,
    "incident.fix_description": AudienceClass.REGULATOR,
    "incident.root_cause": AudienceClass.LEGAL,
    "incident.fix_reference": AudienceClass.INTERNAL,
    "incident.severity_override_reason": AudienceClass.INTERNAL,
    "incident.commander": AudienceClass.PUBLIC,  # by role only where names are hidden
    "containment.action_type": AudienceClass.PUBLIC,
    "containment.description": AudienceClass.INTERNAL,
    "containment.people": AudienceClass.LEGAL,
    "containment.revert_reason": AudienceClass.INTERNAL,
    "finding.*": AudienceClass.INTERNAL,
    "evidence.*": AudienceClass.INTERNAL,
    "communication.subject": AudienceClass.PUBLIC,  # of messages sent to the public or affected users
    "communication.sender": AudienceClass.INTERNAL,
    "obligation.*": AudienceClass.LEGAL,
    "postmortem.section": AudienceClass.PUBLIC,  # reviewed by the commander and Legal (and Communications)
    "postmortem.learning": AudienceClass.INTERNAL,
    "action_item.title": AudienceClass.PUBLIC,
    "action_item.wont_do_reason": AudienceClass.INTERNAL,
}


def shows(field: str, variant: str) -> bool:
    """Whether a document for `variant` prints `field` (a key of FIELD_AUDIENCE; unknown fields are internal)."""
    return may_see(FIELD_AUDIENCE.get(field, AudienceClass.INTERNAL), variant)
