"""Paging one role from chat (`page <role>`): its tier-1 contacts, through the escalation module's own paging."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from incidents.constants import StakeholderRole
from incidents.models import EscalationPolicy, Incident, Page, StakeholderContact
from incidents.services.escalation import _page_contact, _reachable
from incidents.services.workflow import require_visible


@transaction.atomic
def incident_page_role(*, incident_id: int, role: str, actor) -> list[Page]:
    """Page the role's tier-1 contacts now, with the severity's policy (channels, time to acknowledge).

    Paging the same role again within a minute is a no-op (a double-typed command pages once).
    """
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    require_visible(incident, actor)
    if actor is not None and not actor.has_perm("incidents.change_incident"):
        raise PermissionDenied("You may not page people about incidents (incidents.change_incident).")
    if role not in StakeholderRole.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if not incident.is_open:
        raise ValidationError(f"{incident.reference} is {incident.get_state_display().lower()}: nobody is paged.")
    policy = EscalationPolicy.objects.filter(severity=incident.severity).first()
    if policy is None:
        raise ValidationError(f"No escalation policy for {incident.severity or 'an incident without severity'}.")
    contacts = _reachable(StakeholderContact.objects.filter(role=role, escalation_tier=1), incident)
    if not contacts.exists():
        label = StakeholderRole(role).label
        raise ValidationError(f"No tier-1 contact for {label}: add one under Stakeholder contacts.")
    minute = timezone.now().strftime("%Y%m%d%H%M")
    by = f" by {actor.get_username()}" if getattr(actor, "pk", None) else ""
    pages = []
    for contact in contacts.order_by("pk"):
        page = _page_contact(
            incident=incident,
            contact=contact,
            policy=policy,
            tier=1,
            reason=f"paged from chat{by}",
            dedup_key=f"page:{incident.pk}:chat:{contact.pk}:{minute}",
        )
        if page is not None:
            pages.append(page)
    if not pages:
        raise ValidationError(f"{StakeholderRole(role).label} was paged a moment ago already.")
    return pages
