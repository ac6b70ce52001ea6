"""Incident lifecycle events for subscribers, read off the action log as each entry is written.

Every state change, severity change and containment already writes one action-log entry through the
services; listening there means no service has to remember to announce itself, and an action that
rolls back announces nothing (the receiver runs in the same transaction, and the outbox row with it).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.urls import reverse

from incidents.constants import Channel, IncidentState
from incidents.models import Incident
from incidents.services.notifications import notification_enqueue

from .models import EventSubscription, LifecycleEvent

INCIDENT = "incidents.incident"


def events_for(entry) -> list[str]:
    """Which lifecycle events one action-log entry is."""
    if entry.target_type == INCIDENT:
        if entry.verb == "created":
            return [LifecycleEvent.DECLARED]
        if entry.verb.startswith("transition:"):
            found = [LifecycleEvent.STATE_CHANGED]
            if (entry.after or {}).get("state") == IncidentState.CLOSED:
                found.append(LifecycleEvent.CLOSED)
            return found
        if entry.verb == "changed" and "severity" in (entry.after or {}):
            return [LifecycleEvent.SEVERITY_CHANGED]
        return []
    if entry.verb == "containment_recorded":
        return [LifecycleEvent.CONTAINMENT_RECORDED]
    if entry.verb == "containment_reverted":
        return [LifecycleEvent.CONTAINMENT_LIFTED]
    return []


def event_payload(*, subscription_id: int, event: str, entry, incident: Incident) -> dict:
    change = {}
    if event in (LifecycleEvent.STATE_CHANGED, LifecycleEvent.CLOSED):
        change = {"from": (entry.before or {}).get("state"), "to": (entry.after or {}).get("state")}
    elif event == LifecycleEvent.SEVERITY_CHANGED:
        change = {"from": (entry.before or {}).get("severity"), "to": (entry.after or {}).get("severity")}
    elif event in (LifecycleEvent.CONTAINMENT_RECORDED, LifecycleEvent.CONTAINMENT_LIFTED):
        change = {"containment_id": int(entry.target_id), **{k: v for k, v in (entry.after or {}).items()}}
    return {
        "subscription": subscription_id,
        "event": str(event),
        "id": f"{entry.pk}:{event}",
        "occurred_at": entry.created_at.isoformat(),
        "actor": entry.actor_label,
        "incident": {
            "id": incident.pk,
            "reference": incident.reference,
            "title": incident.title,
            "state": incident.state,
            "severity": incident.severity,
            "category": incident.category,
            "feature": incident.feature.key if incident.feature_id else None,
            "is_restricted": incident.is_restricted,
            "url": settings.FIRELINE_BASE_URL.rstrip("/")
            + reverse("admin:incidents_incident_change", args=[incident.pk]),
        },
        "change": change,
    }


def announce(sender, entry, **kwargs) -> None:
    """Signal receiver: queue one signed delivery per subscription that listens to the entry's events."""
    events = events_for(entry)
    if not events or entry.incident_id is None:
        return
    subscriptions = [s for s in EventSubscription.objects.filter(is_active=True) if set(events) & set(s.events)]
    if not subscriptions:
        return
    incident = Incident.objects.select_related("feature").get(pk=entry.incident_id)
    if incident.is_drill:
        return  # a drill never leaves Fireline
    for subscription in subscriptions:
        if incident.is_restricted and not subscription.include_restricted:
            continue
        for event in events:
            if event not in subscription.events:
                continue
            payload = event_payload(subscription_id=subscription.pk, event=event, entry=entry, incident=incident)
            notification_enqueue(
                channel=Channel.EVENT,
                recipient=subscription.url,
                subject=str(event),
                body=json.dumps(payload, sort_keys=True, default=str),
                dedup_key=f"event:{subscription.pk}:{entry.pk}:{event}",
                incident=incident,
            )
