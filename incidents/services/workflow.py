"""The steps every workflow on an incident shares (post-mortems, communications, action items, ...).

Run a django-fsm transition or say in words why it cannot run; then save, log and put it on the
incident's timeline, all in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.utils import timezone
from django_fsm import can_proceed

from audit import services as audit
from audit.actors import actor_user
from incidents.constants import TimelineKind
from incidents.models import Incident, TimelineEntry
from incidents.selectors import incident_is_visible


@dataclass
class TransitionOption:
    """A button a user may press from the current state, with what stops it now, in words."""

    name: str
    label: str
    blockers: list[str] = field(default_factory=list)
    needs_reason: bool = False

    @property
    def is_allowed(self) -> bool:
        return not self.blockers


def transition_for(document: models.Model, name: str):
    """The django-fsm transition `name` from the document's current state, or None.

    The one place that reads django-fsm's per-method metadata (its public API answers "can it proceed",
    not "which guards fail"): every workflow asks here to say in words why a button is disabled.
    """
    meta = getattr(getattr(document, name, None), "_django_fsm", None)
    return meta.get_transition(document.state) if meta is not None else None


def failure_text(condition, document) -> str:
    """A guard's failure text: its `failure` (a string, or a function of the document) or its name in words."""
    failure = getattr(condition, "failure", condition.__name__.replace("_", " "))
    return failure(document) if callable(failure) else failure


def require_permission(actor, permission: str, message: str) -> None:
    if actor is not None and not actor.has_perm(permission):
        raise PermissionDenied(message)


def require_visible(incident: Incident, actor) -> None:
    """An incident the actor may not see is answered exactly like one that does not exist."""
    if actor is not None and not incident_is_visible(user=actor, incident=incident):
        raise Incident.DoesNotExist("No incident with that id.")


def timeline_add(
    incident: Incident | int,
    *,
    text: str,
    kind: str = TimelineKind.CHANGE,
    actor=None,
    occurred_at: datetime | None = None,
    is_automatic: bool = True,
) -> TimelineEntry:
    """The one way a timeline row is written: who (a user, or nobody for the system), what, when.

    `incident` is the incident or its primary key (the alert and outbox paths hold only the key).
    """
    where = {"incident_id": incident} if isinstance(incident, int) else {"incident": incident}
    return TimelineEntry.objects.create(
        **where,
        kind=kind,
        text=text,
        actor=actor_user(actor),
        occurred_at=occurred_at or timezone.now(),
        is_automatic=is_automatic,
    )


def run_transition(document: models.Model, name: str, noun: str) -> str:
    """Run the transition and return the state it left; a ValidationError when it is not possible now."""
    source = document.state
    method = getattr(document, name)
    if not can_proceed(method):
        raise ValidationError(f"Not possible while the {noun} is {document.get_state_display().lower()}.")
    method()
    return source


def finish_transition(document: models.Model, source: str, name: str, actor, text: str, details: dict | None = None):
    document.save()
    audit.log_transition(
        actor=actor,
        target=document,
        source=source,
        target_state=document.state,
        name=name,
        incident=document.incident,
        details=details,
    )
    timeline_add(document.incident, text=text, actor=actor)
    return document
