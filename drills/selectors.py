"""Reads for drills."""

from __future__ import annotations

import datetime

from django.db.models import F, Q, QuerySet

from incidents.models import Incident
from incidents.selectors import incident_visibility_q

from .constants import DrillState
from .models import Drill


def upcoming_drills(user=None, limit: int = 5) -> QuerySet[Drill]:
    """Planned and scheduled drills, soonest first; drills without a date last."""
    return (
        Drill.objects.filter(state__in=[DrillState.PLANNED, DrillState.SCHEDULED])
        .select_related("scenario", "feature", "facilitator")
        .order_by(F("scheduled_for").asc(nulls_last=True), "id")[:limit]
    )


def features_with_completed_drill(start: datetime.datetime, end: datetime.datetime) -> set[int]:
    """AI feature ids with a drill completed in [start, end): the drill's feature or its scenario's."""
    rows = Drill.objects.filter(state=DrillState.COMPLETED, completed_at__gte=start, completed_at__lt=end).values_list(
        "feature_id", "scenario__feature_id"
    )
    return {feature or scenario_feature for feature, scenario_feature in rows if feature or scenario_feature}


def drill_visibility_q(user) -> Q:
    """A drill is visible when it has no incident yet or its drill incident is visible to the user."""
    return Q(incident__isnull=True) | Q(incident__in=Incident.objects.filter(incident_visibility_q(user)))
