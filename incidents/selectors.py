"""Reads, with the visibility rules applied.

A restricted incident is visible only to its commander, its members, holders of
`incidents.view_restricted_incident` (the Legal group) and superusers. Everyone else gets a 404,
never a hint that it exists.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Exists, OuterRef, Q, QuerySet

from incidents.models import Incident


def user_sees_all_restricted(user) -> bool:
    return bool(user and user.is_active and (user.is_superuser or user.has_perm("incidents.view_restricted_incident")))


def incident_visibility_q(user) -> Q:
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
        return Q(is_restricted=False)
    if user_sees_all_restricted(user):
        return Q()
    membership = Incident.members.through.objects.filter(incident_id=OuterRef("pk"), user_id=user.pk)
    return Q(is_restricted=False) | Q(commander_id=user.pk) | Q(Exists(membership))


def visible_incidents(*, user) -> QuerySet[Incident]:
    return Incident.objects.filter(incident_visibility_q(user))


def incident_list(*, user, filters: dict | None = None) -> QuerySet[Incident]:
    qs = visible_incidents(user=user).select_related("feature", "commander")
    filters = filters or {}
    for name in ("state", "severity", "category"):
        if filters.get(name):
            qs = qs.filter(**{name: filters[name]})
    if filters.get("feature"):
        qs = qs.filter(feature__key=filters["feature"])
    return qs.order_by("-detected_at", "-id")


def incident_get(*, user, pk) -> Incident:
    """The incident if the user may see it; Incident.DoesNotExist otherwise (so callers answer 404)."""
    return visible_incidents(user=user).select_related("feature", "commander", "triage_rule").get(pk=pk)


def incident_is_visible(*, user, incident: Incident) -> bool:
    return visible_incidents(user=user).filter(pk=incident.pk).exists()
