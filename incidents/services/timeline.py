from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from incidents.constants import TimelineKind
from incidents.models import Incident, TimelineEntry
from incidents.selectors import incident_is_visible

from .workflow import timeline_add


@transaction.atomic
def timeline_add_note(*, incident_id: int, text: str, actor, occurred_at: datetime | None = None) -> TimelineEntry:
    incident = Incident.objects.get(pk=incident_id)
    if not incident_is_visible(user=actor, incident=incident):
        raise Incident.DoesNotExist("No incident with that id.")
    if not actor.has_perm("incidents.add_timelineentry"):
        raise PermissionDenied("You may not add timeline entries.")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write what happened."})
    occurred_at = occurred_at or timezone.now()
    if occurred_at > timezone.now() + timezone.timedelta(minutes=5):
        raise ValidationError({"occurred_at": "Cannot be in the future."})
    entry = timeline_add(
        incident,
        kind=TimelineKind.NOTE,
        text=text,
        actor=actor,
        occurred_at=occurred_at,
        is_automatic=False,
    )
    audit.log_timeline_note(actor=actor, entry=entry)
    return entry
