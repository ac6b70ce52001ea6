"""Rooms per incident and what is posted into them, all through the notification outbox.

What happens on an incident is read off its timeline as each entry is written (state changes,
containment, pages and acknowledgements, communications sent, regulatory clocks, severity changes): one
outbox row per post, written in the same transaction as the change, so a change that rolls back posts
nothing and chat being down never blocks or fails the change. The pinned summary is refreshed by one
more row per change (the action log's entries, which include edits that leave no timeline entry, like a
new commander). The sender (`room_send`) opens the room when it is missing, then posts, updates or
archives; the outbox retries it with backoff and marks it sent once.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents.channels import DeliveryError
from incidents.constants import Channel, IncidentState, PageState, TimelineKind
from incidents.models import Incident, Page
from incidents.services.notifications import notification_enqueue

from .backends.base import Button, ChatMessage, ChatRejected, ChatUnavailable, backend_get
from .constants import ROOM_CHANNEL
from .models import ChatRoom, ChatSettings

logger = logging.getLogger(__name__)

# Timeline kinds that are posted into the room. Notes are not (a note made from the room would come back
# to it), nor alerts (a flood), nor failed deliveries (a failed chat post would post about itself).
POSTED_KINDS = {
    TimelineKind.OPENED,
    TimelineKind.TRANSITION,
    TimelineKind.CONTAINMENT,
    TimelineKind.CHANGE,
    TimelineKind.PAGE,
    TimelineKind.ESCALATION,
    TimelineKind.ACKNOWLEDGEMENT,
}
IDENTITY_SECONDS = 300
SUMMARY_LIST = 5  # the latest containment actions named in the summary; the count says how many in all


class RoomDeliveryError(DeliveryError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def incident_link(incident: Incident) -> str:
    return settings.FIRELINE_BASE_URL.rstrip("/") + reverse("admin:incidents_incident_change", args=[incident.pk])


# --- identities -----------------------------------------------------------------------------------------


def fireline_user(*, backend: str, chat_user_id: str):
    """The active Fireline user whose email the chat server vouches for; None for anyone else.

    The chat server is asked once per few minutes per chat user (a command must answer within seconds).
    Two Fireline accounts with one email map to no one: the email does not say who it is. ChatUnavailable
    when the chat server cannot say just now (the caller says so, rather than "unknown").
    """
    if not chat_user_id:
        return None
    key = f"chatops:identity:{backend}:{chat_user_id}"
    email = cache.get(key)
    if email is None:
        try:
            email = backend_get(backend).email_for_user(chat_user_id) or ""
        except ChatRejected:
            return None
        cache.set(key, email, IDENTITY_SECONDS)
    if not email:
        return None
    users = list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2])
    return users[0] if len(users) == 1 else None


def chat_user_for(*, backend, user) -> str | None:
    email = (getattr(user, "email", "") or "").strip()
    return backend.user_for_email(email) if email else None


# --- what goes into the room ----------------------------------------------------------------------------


def _clock(delta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def summary_message(incident: Incident) -> ChatMessage:
    """The pinned message: state, severity, clocks, containment, who is on it, and the buttons."""
    drill = "DRILL · " if incident.is_drill else ""
    lines = [
        f"*{drill}{incident.reference} · {incident.severity or 'no severity'} · {incident.get_state_display()}*",
        incident.title,
    ]
    people = [incident.commander.get_username()] if incident.commander_id else []
    members = [u.get_username() for u in incident.members.all() if u.pk != incident.commander_id]
    on_it = f"Commander: {people[0] if people else 'nobody yet'}"
    lines.append(on_it + (f" · Responders: {', '.join(members)}" if members else ""))
    clocks = [f"open {_clock(incident.time_open())}"]
    if incident.contained_at:
        clocks.append(f"contained after {_clock(incident.contained_at - incident.detected_at)}")
    lines.append("Clock: " + ", ".join(clocks))
    active = list(incident.containment_actions.filter(reverted_at__isnull=True).order_by("-pk")[: SUMMARY_LIST + 1])
    if active:
        count = incident.containment_actions.filter(reverted_at__isnull=True).count()
        shown = "; ".join(f"#{a.pk} {a.get_action_type_display()}" for a in reversed(active[:SUMMARY_LIST]))
        lines.append(f"Containment ({count} active): " + (f"… {shown}" if count > SUMMARY_LIST else shown))
    else:
        lines.append("Containment: none active")
    open_pages = incident.pages.filter(state__in=[PageState.PENDING, PageState.SENT]).select_related("contact")
    if open_pages:
        lines.append("Waiting for: " + ", ".join(p.contact.name for p in open_pages))
    buttons = ()
    if incident.is_open:
        buttons = (
            Button("Acknowledge", "ack", incident.reference),
            Button("Contain now", "contain_now", incident.reference, "danger"),
            Button("Next step", "next", incident.reference, "primary"),
        )
    return ChatMessage(text="\n".join(lines), buttons=buttons, context=incident_link(incident))


def room_name(incident: Incident) -> str:
    return ("drill-" if incident.is_drill else "") + f"{incident.reference}-{incident.title}"


def room_topic(incident: Incident) -> str:
    drill = "DRILL: not a real incident. " if incident.is_drill else ""
    return f"{drill}{incident.reference} {incident.severity}: {incident.title} · {incident_link(incident)}"


# --- writing the outbox rows (in the change's transaction) ----------------------------------------------


def room_enqueue(*, incident: Incident, op: str, key: str, text: str = "", backend: str | None = None) -> None:
    backend = backend or ChatSettings.current().backend
    notification_enqueue(
        channel=ROOM_CHANNEL,
        recipient=f"{backend}:{incident.pk}",
        subject=f"{incident.reference}: {op}"[:300],
        body=json.dumps({"op": op, "text": text}),
        dedup_key=f"room:{backend}:{incident.pk}:{key}",
        incident=incident,
    )


def backend_configured(name: str) -> bool:
    """Whether the chosen backend has what it needs to connect: without it no room is opened, so an install
    that does not use chat gets no failing chat deliveries on its incidents."""
    if name == "slack":
        return bool(settings.SLACK_BOT_TOKEN)
    if name == "matrix":
        return bool(getattr(settings, "MATRIX_HOMESERVER_URL", ""))
    return False


def chat_active() -> ChatSettings | None:
    chat = ChatSettings.current()
    return chat if chat.is_enabled and backend_configured(chat.backend) else None


def room_wanted(incident: Incident, chat: ChatSettings) -> bool:
    return chat.is_enabled and incident.severity in (chat.room_severities or [])


def incident_room(incident: Incident, backend: str) -> ChatRoom | None:
    return ChatRoom.objects.filter(incident=incident, backend=backend).first()


def timeline_posted(sender, instance, created, raw=False, **kwargs) -> None:
    """post_save of a timeline entry: open the room when the incident now qualifies, and post the entry."""
    if not created or raw or instance.kind not in POSTED_KINDS:
        return
    chat = chat_active()
    if chat is None:
        return
    incident = Incident.objects.get(pk=instance.incident_id)
    room = incident_room(incident, chat.backend)
    if room is None:
        if not room_wanted(incident, chat):
            return
        ChatRoom.objects.get_or_create(incident=incident, backend=chat.backend)
        room_enqueue(incident=incident, op="open", key="open", backend=chat.backend)
    elif room.archived_at is not None:
        return
    room_enqueue(incident=incident, op="post", key=f"timeline:{instance.pk}", text=instance.text, backend=chat.backend)


def action_logged(sender, entry, **kwargs) -> None:
    """Every logged change of an incident with a room refreshes its summary; closing archives the room."""
    if entry.incident_id is None:
        return
    chat = chat_active()
    if chat is None:
        return
    room = ChatRoom.objects.filter(incident_id=entry.incident_id, backend=chat.backend).first()
    if room is None or room.archived_at is not None:
        return
    incident = Incident.objects.get(pk=entry.incident_id)
    room_enqueue(incident=incident, op="summary", key=f"summary:{entry.pk}", backend=chat.backend)
    if (
        entry.target_type == "incidents.incident"
        and entry.verb.startswith("transition:")
        and (entry.after or {}).get("state") == IncidentState.CLOSED
    ):
        postmortem = incident_link(incident) + "#postmortem"
        room_enqueue(
            incident=incident,
            op="post",
            key=f"closed:{entry.pk}",
            text=f"{incident.reference} is closed. Post-mortem: {postmortem}",
            backend=chat.backend,
        )
        room_enqueue(incident=incident, op="archive", key=f"archive:{entry.pk}", backend=chat.backend)


# --- the sender (outside any transaction, called by the outbox) -----------------------------------------


def _invite_people(incident: Incident, room: ChatRoom, backend) -> None:
    """Invite the commander, responders and paged contacts whose email is a chat user's; each once."""
    emails = []
    if incident.commander_id and incident.commander.email:
        emails.append(incident.commander.email)
    emails += [u.email for u in incident.members.all() if u.email]
    pages = Page.objects.filter(incident=incident).select_related("contact", "contact__user")
    pages = pages.prefetch_related("contact__channel_rows")
    for page in pages:
        contact = page.contact
        emails.append(contact.user.email if contact.user_id and contact.user.email else contact.address(Channel.EMAIL))
    wanted = []
    for email in dict.fromkeys(e.strip().lower() for e in emails if e):
        if email in room.invited:
            continue
        chat_id = backend.user_for_email(email)
        if chat_id:
            wanted.append((email, chat_id))
    if not wanted:
        return
    backend.room_invite(room.room_id, [chat_id for _, chat_id in wanted])
    ChatRoom.objects.filter(pk=room.pk).update(invited=room.invited + [email for email, _ in wanted])
    room.invited = room.invited + [email for email, _ in wanted]


def room_ensure(incident: Incident, backend) -> ChatRoom:
    """The incident's room on this backend, opened, with people invited and the summary posted and pinned.

    Each step is saved as soon as it is done, so a retry after a failure carries on where it stopped and
    never opens a second room. The row lock keeps two workers from opening two rooms at once.
    """
    with transaction.atomic():
        room, _ = ChatRoom.objects.get_or_create(incident=incident, backend=backend.name)
        room = ChatRoom.objects.select_for_update().get(pk=room.pk)
        if not room.room_id:
            room.is_private = incident.is_restricted
            room.name = room_name(incident)[:80]
            room.room_id = backend.room_open(name=room.name, topic=room_topic(incident), private=room.is_private)
            room.opened_at = timezone.now()
            room.save()
    _invite_people(incident, room, backend)
    if not room.summary_message_id:
        message_id = backend.message_post(room.room_id, summary_message(incident), key=f"summary:{incident.pk}")
        ChatRoom.objects.filter(pk=room.pk).update(summary_message_id=message_id)
        room.summary_message_id = message_id
        backend.message_pin(room.room_id, message_id)
    return room


def room_send(notification) -> None:
    """Deliver one room post (chatops.senders.RoomSender)."""
    backend_name, _, incident_id = notification.recipient.partition(":")
    payload = json.loads(notification.body)
    op = payload["op"]
    try:
        incident = Incident.objects.select_related("commander", "feature").get(pk=int(incident_id))
    except Incident.DoesNotExist:
        return  # deleted with its rows; nothing to post
    try:
        backend = backend_get(backend_name)
        existing = incident_room(incident, backend_name)
        if existing is not None and existing.archived_at is not None:
            return  # closed and archived: a late post has nowhere to go
        room = room_ensure(incident, backend)
        if op == "post":
            backend.message_post(room.room_id, ChatMessage(text=payload["text"]), key=notification.dedup_key)
        elif op == "summary":
            _invite_people(incident, room, backend)
            backend.message_update(room.room_id, room.summary_message_id, summary_message(incident))
        elif op == "archive":
            backend.message_update(room.room_id, room.summary_message_id, summary_message(incident))
            backend.room_archive(room.room_id)
            ChatRoom.objects.filter(pk=room.pk).update(archived_at=timezone.now())
    except ChatUnavailable as exc:
        raise RoomDeliveryError(f"{backend_name}: {exc}", retry_after=exc.retry_after) from exc
    except ChatRejected as exc:
        raise RoomDeliveryError(f"{backend_name}: {exc}") from exc
    except KeyError as exc:
        raise RoomDeliveryError(str(exc)) from exc
