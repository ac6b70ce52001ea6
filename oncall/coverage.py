"""What the incident side's paging-gap warnings ask of on-call schedules (incidents/paging_gaps.py).

Registered at start-up (OncallConfig.ready), so incidents, below this app, never import it.
"""

from __future__ import annotations

from .models import PolicyTier
from .paging import on_call_targets


def tier1_scheduled_now(policies: list) -> dict[int, list[str]]:
    """Per policy id, the tier-1 schedules that put someone pageable on call right now.

    Only policies that name a schedule at tier 1 are asked (the same narrow interface escalation uses).
    """
    with_tiers = set(PolicyTier.objects.filter(policy__in=policies, tier=1).values_list("policy_id", flat=True))
    return {
        policy.pk: [t.schedule_name for t in on_call_targets(policy=policy, tier=1) if t.contact is not None]
        for policy in policies
        if policy.pk in with_tiers
    }
