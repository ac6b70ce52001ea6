"""Who cannot be paged: the escalation policies (and incidents) whose roles have no contact to page.

A fresh install has escalation policies but no stakeholder contacts, so a SEV2 pages nobody and the
incident page used to say only "No one paged yet". These reads name the roles without a reachable
tier-1 contact, using the same rules as paging itself (incidents.services.escalation), so the warning
and the pages sent cannot disagree.
"""

from __future__ import annotations

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
    for severity in Severity.values:
        policy = policies.get(severity)
        if policy is None:
            gaps.append(PagingGap(severity=severity, pages_nobody=True, has_policy=False))
            continue
        missing = [role for role in policy.roles if role not in covered]
        if missing or not policy.roles:
            gaps.append(
                PagingGap(
                    severity=severity,
                    missing=[_role_gap(role) for role in missing],
                    pages_nobody=not (set(policy.roles) & covered),
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
    return PagingGap(
        severity=incident.severity, missing=[_role_gap(role) for role in missing], pages_nobody=not reachable
    )
