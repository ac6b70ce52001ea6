"""Who cannot be paged: the escalation policies (and incidents) whose roles have no contact to page.

A fresh install has escalation policies but no stakeholder contacts, so a SEV2 pages nobody and the
incident page used to say only "No one paged yet". These reads name the roles without a reachable
tier-1 contact, using the same rules as paging itself (incidents.services.escalation), so the warning
and the pages sent cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.urls import reverse

from incidents.constants import ContactState, Severity, StakeholderRole
from incidents.models import EscalationPolicy, Incident, StakeholderContact
from incidents.services.escalation import _reachable, _roles_for


@dataclass(frozen=True)
class RoleGap:
    role: str
    label: str
    add_url: str  # the add form of a contact, with the role filled in


@dataclass(frozen=True)
class PagingGap:
    severity: str
    missing: list[RoleGap] = field(default_factory=list)
    pages_nobody: bool = False
    has_policy: bool = True
    scheduled: list[str] = field(default_factory=list)  # schedules that page someone for it right now

    @property
    def missing_labels(self) -> str:
        return ", ".join(gap.label for gap in self.missing)


class PagingGaps(list):
    """The gaps, most severe first; `pages_nobody` when any severity would page no one at all."""

    @property
    def pages_nobody(self) -> bool:
        return any(gap.pages_nobody for gap in self)


def _role_gap(role: str) -> RoleGap:
    url = reverse("admin:incidents_stakeholdercontact_add") + "?" + urlencode({"role": role, "escalation_tier": 1})
    label = StakeholderRole(role).label if role in StakeholderRole.values else role
    return RoleGap(role=role, label=label, add_url=url)


# On-call schedules live in an app above this one. At start-up it registers how to ask them which
# tier-1 schedules put someone pageable on call right now (oncall/apps.py), so a severity a schedule
# covers is not reported as paging nobody. An install without on-call schedules registers nothing.
_scheduled_lookup: Callable[[list], dict[int, list[str]]] | None = None


def scheduled_lookup_register(lookup: Callable[[list], dict[int, list[str]]]) -> None:
    """Set the function that maps escalation policies to {policy id: schedule names on call now}."""
    global _scheduled_lookup
    _scheduled_lookup = lookup


def _scheduled_now(policies) -> dict[int, list[str]]:
    """Per policy id, the tier-1 schedules that put someone pageable on call right now."""
    policies = [p for p in policies if p is not None and p.pk is not None]
    if not policies or _scheduled_lookup is None:
        return {}
    return _scheduled_lookup(policies)


def paging_gap_list() -> PagingGaps:
    """Per severity, the policy's roles with no tier-1 contact that is not retired; most severe first.

    Only severities with a gap are listed. Two queries, whatever the number of contacts.
    """
    policies = {p.severity: p for p in EscalationPolicy.objects.all()}
    covered = set(
        StakeholderContact.objects.filter(escalation_tier=1)
        .exclude(state=ContactState.RETIRED)
        .order_by()
        .values_list("role", flat=True)
        .distinct()
    )
    gaps = PagingGaps()
    with_gaps = [p for p in policies.values() if any(role not in covered for role in p.roles) or not p.roles]
    scheduled = _scheduled_now(with_gaps)
    for severity in Severity.values:
        policy = policies.get(severity)
        if policy is None:
            gaps.append(PagingGap(severity=severity, pages_nobody=True, has_policy=False))
            continue
        missing = [role for role in policy.roles if role not in covered]
        if missing or not policy.roles:
            on_call = scheduled.get(policy.pk, [])
            gaps.append(
                PagingGap(
                    severity=severity,
                    missing=[_role_gap(role) for role in missing],
                    pages_nobody=not (set(policy.roles) & covered) and not on_call,
                    scheduled=on_call,
                )
            )
    return gaps


def incident_paging_gap(*, incident: Incident) -> PagingGap | None:
    """The roles this incident would page (its severity's policy, the triage cell's stakeholders, the
    privacy officer for privacy incidents) that have no reachable tier-1 contact; None when every role
    has one, or when the incident has no severity yet (nothing is paged before triage)."""
    if not incident.severity:
        return None
    policy = EscalationPolicy.objects.filter(severity=incident.severity).first()
    if policy is None:
        return PagingGap(severity=incident.severity, pages_nobody=True, has_policy=False)
    roles = _roles_for(incident, policy)
    reachable = set(
        _reachable(StakeholderContact.objects.filter(role__in=roles, escalation_tier=1), incident)
        .order_by()
        .values_list("role", flat=True)
        .distinct()
    )
    missing = [role for role in roles if role not in reachable]
    if not missing and roles:
        return None
    on_call = [] if incident.is_drill else _scheduled_now([policy]).get(policy.pk, [])  # drills page participants
    return PagingGap(
        severity=incident.severity,
        missing=[_role_gap(role) for role in missing],
        pages_nobody=not reachable and not on_call,
        scheduled=on_call,
    )
