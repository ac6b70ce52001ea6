"""What every drill service shares: the lock, the permission check, links and local times, messages to
users through the outbox, and the drill's transition options read from the FSM.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from incidents.constants import Channel, ContactState
from incidents.models import (
    StakeholderContact,
)
from incidents.services.notifications import notification_enqueue
from incidents.services.workflow import (
    TransitionOption,
    guard_blockers,
    transition_options,
)

from ..constants import DrillState
from ..models import Drill

TRANSITION_LABELS = {
    "schedule": "Schedule",
    "start": "Start drill",
    "end_exercise": "End exercise, start debrief",
    "complete": "Complete debrief and score",
    "cancel": "Cancel drill",
}


GAP_DUE_DAYS = 14


def _require_run(actor) -> None:
    if actor is not None and not actor.has_perm("drills.run_drill"):
        raise PermissionDenied("You may not run drills.")


def _lock(drill_id: int) -> Drill:
    return (
        Drill.objects.select_for_update(of=("self",)).select_related("scenario", "feature", "incident").get(pk=drill_id)
    )


def _link(drill: Drill) -> str:
    return settings.FIRELINE_BASE_URL.rstrip("/") + reverse("admin:drills_drill_change", args=[drill.pk])


def _local(when: datetime.datetime) -> str:
    return f"{when.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC"


def user_recipients(users) -> list[tuple[str, str, StakeholderContact | None, str]]:
    """(channel, address, contact, key) per user: their stakeholder contact if any, else their e-mail."""
    users = list(users)
    contacts = {}
    for contact in StakeholderContact.objects.filter(user__in=users).exclude(state=ContactState.RETIRED).order_by("pk"):
        if contact.channels():
            contacts.setdefault(contact.user_id, contact)
    out = []
    for user in users:
        contact = contacts.get(user.pk)
        if contact is not None:
            channel = contact.channels()[0]
            out.append((channel, contact.address(channel), contact, f"u{user.pk}"))
        elif user.email:
            out.append((Channel.EMAIL, user.email, None, f"u{user.pk}"))
    return out


def _notify(users, *, subject: str, body: str, dedup_prefix: str, incident=None) -> int:
    sent = 0
    for channel, address, contact, key in user_recipients(users):
        created = notification_enqueue(
            channel=channel,
            recipient=address,
            subject=subject,
            body=body,
            dedup_key=f"{dedup_prefix}:{key}",
            incident=incident,
            contact=contact,
        )
        sent += created is not None
    return sent


def _as_drill(name: str, *, details=None) -> dict:
    """How a drill transition is checked and told: the drill's permission, and a line on its incident's timeline."""

    def timeline_text(drill: Drill, source: str) -> str:
        return f"Drill {drill.reference}: {DrillState(source).label} → {drill.get_state_display()}"

    # Drills are gated by drills.run_drill, not by who may see the drill incident.
    return {
        "noun": "drill",
        "lock": False,
        "check_visible": False,
        "permission_message": "You may not run drills.",
        "log_details": details,
        "timeline_text": timeline_text,
    }


def drill_transition_blockers(drill: Drill, name: str) -> list[str]:
    return guard_blockers(drill, name, noun="drill")


def drill_transition_options(drill: Drill, user) -> list[TransitionOption]:
    """The transitions this user may fire from the drill's state, each with what blocks it."""
    return transition_options(drill, user, TRANSITION_LABELS, noun="drill")
