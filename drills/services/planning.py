"""Planning drills: proposing the next drill from a policy's cadence (and the beat task's sweep for it),
and a facilitator's own plan.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from incidents.services.workflow import (
    actor_user,
)

from ..models import Drill, DrillPolicy, Scenario
from ..quarters import quarter_label
from .common import _link, _notify


def _next_scenario(policy: DrillPolicy) -> Scenario | None:
    if policy.scenario_id and policy.scenario.is_active:
        return policy.scenario
    scenarios = Scenario.objects.filter(is_active=True)
    if policy.feature_id:
        scenarios = scenarios.filter(Q(feature_id=policy.feature_id) | Q(feature__isnull=True))
    scenarios = list(scenarios.order_by("category", "name", "pk"))
    if not scenarios:
        return None
    return scenarios[Drill.objects.filter(policy=policy).count() % len(scenarios)]


def drill_propose(*, policy: DrillPolicy, now: datetime.datetime | None = None) -> Drill | None:
    """The policy's drill for the current quarter, proposed (planned) if it has none yet.

    Returns the new drill, or None when the quarter already has one. Running twice, or twice at the
    same time, proposes one drill: the (policy, quarter) unique constraint decides the race.
    """
    now = now or timezone.now()
    quarter = quarter_label(now, policy.time_zone)
    if Drill.objects.filter(policy=policy, quarter=quarter).exists():
        return None
    scenario = _next_scenario(policy)
    if scenario is None:
        return None
    try:
        with transaction.atomic():
            drill = Drill.objects.create(
                policy=policy,
                scenario=scenario,
                feature=policy.feature,
                team=policy.team,
                quarter=quarter,
                facilitator=policy.facilitator,
            )
            drill.participants.set(policy.participants.all())
            audit.log_created(
                actor=None,
                target=drill,
                values={"policy": policy.pk, "quarter": quarter, "scenario": scenario.name},
            )
            _notify(
                [policy.facilitator],
                subject=f"[DRILL] {quarter}: a drill for {policy.subject} is proposed",
                body=(
                    f"Fireline proposed this quarter's fire drill for {policy.subject}: {scenario.name}.\n"
                    f"Pick a date and the participants, then schedule it: {_link(drill)}\n"
                ),
                dedup_prefix=f"drill-proposed:{drill.pk}",
            )
    except IntegrityError:
        return None  # another run proposed it a moment ago
    return drill


def drills_propose_due(*, now: datetime.datetime | None = None) -> int:
    """Beat: every active policy has its drill this quarter."""
    created = 0
    for policy in DrillPolicy.objects.filter(is_active=True).select_related("feature", "scenario", "facilitator"):
        created += drill_propose(policy=policy, now=now) is not None
    return created


@transaction.atomic
def drill_plan(
    *,
    scenario: Scenario,
    actor,
    feature=None,
    team: str = "",
    facilitator=None,
    participants=(),
    scheduled_for: datetime.datetime | None = None,
) -> Drill:
    """A drill planned by hand (outside the quarterly policy)."""
    if actor is not None and not actor.has_perm("drills.add_drill"):
        raise PermissionDenied("You may not plan drills.")
    when = scheduled_for or timezone.now()
    drill = Drill(
        scenario=scenario,
        feature=feature,
        team=(team or "").strip(),
        quarter=quarter_label(when, settings.TIME_ZONE),
        scheduled_for=scheduled_for,
        facilitator=facilitator or actor_user(actor),
    )
    drill.full_clean(exclude=["state"])
    drill.save()
    drill.participants.set(participants)
    audit.log_created(
        actor=actor, target=drill, values={"scenario": scenario.name, "quarter": drill.quarter, "team": drill.team}
    )
    return drill
