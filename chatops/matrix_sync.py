"""The Matrix bot: reads its rooms through /sync and answers `!incident` commands and note reactions.

One round (`sync_once`) asks the homeserver for what happened since the stored position (ChatCursor, so a
restart replays nothing), saves the new position first, then handles each event once:
- an invite from a user of the bot's own homeserver: the bot joins (people add it to a room to talk to it);
- a text message starting with `!incident`: chatops.commands.command_run, and the reply is posted back;
- a reaction with the note key (the configured reaction, default 📌) on a message in an incident's room:
  chatops.commands.reaction_note, with the marked message's text, author and time.
The bot's own events and edits of earlier messages are ignored. Matrix has no message only one person
sees: a private reply is a notice addressed to (mentioning) the person who asked.

Saving the position before handling means a crash mid-round loses that round's commands (people retype
them) rather than running a declare twice. `run_forever` is the long-running loop (`manage.py matrix_bot`).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import close_old_connections

from incidents.models import Incident
from incidents.selectors import incident_is_visible

from .backends.base import ChatMessage, ChatRejected, ChatUnavailable, backend_get
from .commands import REFERENCE, Reply, command_run, reaction_note
from .models import ChatCursor, ChatRoom, ChatSettings
from .services import fireline_user

logger = logging.getLogger(__name__)

PREFIX = "!incident"
# A reaction is an emoji in Matrix; the setting names it as Slack does. Any other setting is taken as the key.
REACTION_EMOJI = {
    "pushpin": "📌",
    "round_pushpin": "📍",
    "memo": "📝",
    "bookmark": "🔖",
    "star": "⭐",
    "white_check_mark": "✅",
    "eyes": "👀",
    "spiral_note_pad": "🗒",
}
_EVENTS = {"types": ["m.room.message", "m.reaction"], "limit": 100}
SYNC_FILTER = json.dumps(
    {
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "timeline": _EVENTS,
            "state": {"lazy_load_members": True, "types": []},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
    }
)
# The first round ever only learns where "now" is: nothing said before the bot started is run.
FIRST_FILTER = json.dumps(
    {**json.loads(SYNC_FILTER), "room": {**json.loads(SYNC_FILTER)["room"], "timeline": {"limit": 0}}}
)
WITHHELD = (
    "Not answered here: {reference} is restricted and this room has people in it who may not see it. Ask in its "
    "own room, or in a room with only you and me."
)
FAILED = "Fireline could not handle that just now; nothing more will happen for this message. Try again."


@dataclass
class SyncRound:
    commands: int = 0
    notes: int = 0
    joined: int = 0
    first: bool = False


def cursor_name(bot_user_id: str) -> str:
    return f"matrix:{bot_user_id}"[:100]


def note_key_matches(key: str) -> str | None:
    """The configured reaction's name when `key` is it (📌 for "pushpin"), else None."""
    configured = ChatSettings.current().note_reaction
    emoji = REACTION_EMOJI.get(configured, configured)
    key = key.replace("\ufe0f", "").strip()
    if key and key in (emoji.replace("\ufe0f", ""), configured, f":{configured}:"):
        return configured
    return None


def sync_once(*, backend=None, timeout_ms: int = 0) -> SyncRound:
    """One /sync round: join invited rooms, run new commands and note reactions, answer them."""
    backend = backend or backend_get("matrix")
    name = cursor_name(backend.user_id)
    since = ChatCursor.objects.filter(name=name).values_list("value", flat=True).first() or None
    data = backend.sync(
        since=since, timeout_ms=timeout_ms if since else 0, filter_json=SYNC_FILTER if since else FIRST_FILTER
    )
    ChatCursor.objects.update_or_create(name=name, defaults={"value": data["next_batch"]})
    result = SyncRound(first=since is None)
    rooms = data.get("rooms") or {}
    for room_id, invite in (rooms.get("invite") or {}).items():
        if _join_invite(backend, room_id, invite):
            result.joined += 1
    if since is None:
        return result
    for room_id, room in (rooms.get("join") or {}).items():
        for event in (room.get("timeline") or {}).get("events") or []:
            try:
                _handle(backend, room_id, event, result)
            except Exception:  # one bad event must not stop the bot: log it, tell the person, go on
                logger.exception("Matrix event %s in %s could not be handled", event.get("event_id"), room_id)
                _answer(backend, room_id, event, Reply(FAILED, private=True))
    return result


def _join_invite(backend, room_id: str, invite: dict) -> bool:
    events = (invite.get("invite_state") or {}).get("events") or []
    inviter = next(
        (
            e.get("sender", "")
            for e in events
            if e.get("type") == "m.room.member" and e.get("state_key") == backend.user_id
        ),
        "",
    )
    own_server = backend.user_id.split(":", 1)[-1]
    if inviter.split(":", 1)[-1] != own_server:
        logger.info("Not joining %s: invited by %r, not a user of %s", room_id, inviter, own_server)
        return False
    try:
        backend.room_join(room_id)
    except (ChatRejected, ChatUnavailable):
        logger.warning("Could not join %s", room_id, exc_info=True)
        return False
    return True


def _handle(backend, room_id: str, event: dict, result: SyncRound) -> None:
    sender = event.get("sender") or ""
    if not sender or sender == backend.user_id:
        return
    content = event.get("content") or {}
    relation = content.get("m.relates_to") or {}
    if event.get("type") == "m.room.message":
        if content.get("msgtype") != "m.text" or relation.get("rel_type") == "m.replace":
            return
        text = _command_text(content.get("body") or "")
        if text is None:
            return
        result.commands += 1
        reply = command_run(backend="matrix", chat_user_id=sender, room_id=room_id, text=text)
        _answer(backend, room_id, event, _withhold_restricted(backend, room_id, sender, text, reply))
    elif event.get("type") == "m.reaction":
        if relation.get("rel_type") != "m.annotation" or not relation.get("event_id"):
            return
        reaction = note_key_matches(relation.get("key") or "")
        if reaction is None:
            return
        try:
            marked = backend.event_get(room_id, relation["event_id"])
        except ChatRejected:
            return  # redacted or not visible to the bot
        if marked.get("type") != "m.room.message":
            return
        marked_content = marked.get("content") or {}
        reply = reaction_note(
            backend="matrix",
            chat_user_id=sender,
            room_id=room_id,
            reaction=reaction,
            message_text=marked_content.get("body") or "",
            message_author_id=marked.get("sender") or "",
            occurred_at=datetime.fromtimestamp(int(marked.get("origin_server_ts") or 0) / 1000, tz=UTC),
        )
        if reply is not None:
            result.notes += 1
            _answer(backend, room_id, event, reply, in_reply_to=relation["event_id"])  # to the marked message


def _named_incident(text: str) -> int | None:
    """The incident a command names (INC-12 first or last, as the commands read it), or None."""
    verb, _, rest = text.partition(" ")
    args = rest.split()
    if verb.lower() == "declare" or not args:
        return None
    for token in (args[0], args[-1]):
        match = REFERENCE.match(token) if token.upper().startswith("INC-") else None
        if match:
            return int(match.group(1))
    return None


def _withhold_restricted(backend, room_id: str, sender: str, text: str, reply: Reply) -> Reply:
    """Matrix has no answer only the caller sees: what a restricted incident's reader asks about it from a room
    with others in it (not the incident's own, invite-only room) is not answered there. Someone who may not see
    it got the unknown-incident answer already, which tells nothing."""
    pk = _named_incident(text)
    incident = Incident.objects.filter(pk=pk, is_restricted=True).first() if pk else None
    if incident is None or ChatRoom.objects.filter(incident=incident, backend="matrix", room_id=room_id).exists():
        return reply
    user = fireline_user(backend="matrix", chat_user_id=sender)
    if user is None or not incident_is_visible(user=user, incident=incident):
        return reply
    if not backend.joined_members(room_id) - {backend.user_id, sender}:
        return reply
    return Reply(WITHHELD.format(reference=incident.reference), private=True)


def _command_text(body: str) -> str | None:
    """What follows `!incident` at the start of the message, or None when it is not a command."""
    stripped = body.strip()
    head = stripped[: len(PREFIX)]
    if head.lower() != PREFIX or (len(stripped) > len(PREFIX) and not stripped[len(PREFIX)].isspace()):
        return None
    return stripped[len(PREFIX) :].strip()


def _answer(backend, room_id: str, event: dict, reply: Reply, *, in_reply_to: str | None = None) -> None:
    """Post the reply as a notice in the same room, in reply to the command; private ones name the person."""
    message = reply.message or ChatMessage(text=reply.text)
    try:
        backend.notice_post(
            room_id,
            message,
            key=f"reply-{event.get('event_id', '')}",
            mention=event.get("sender") if reply.private else None,
            in_reply_to=in_reply_to or event.get("event_id"),
        )
    except (ChatRejected, ChatUnavailable):
        logger.warning("Could not answer %s in %s", event.get("event_id"), room_id, exc_info=True)


def run_forever(*, stop: threading.Event, timeout_ms: int = 30000, backend=None) -> None:
    """Sync until `stop` is set; a homeserver that is down or slow is waited for, with backoff up to a minute."""
    wait = 1.0
    while not stop.is_set():
        close_old_connections()
        try:
            sync_once(backend=backend, timeout_ms=timeout_ms)
            wait = 1.0
        except ChatUnavailable as exc:
            delay = max(wait, exc.retry_after or 0)
            logger.warning("Matrix homeserver unavailable (%s); next try in %.0f s", exc, delay)
            stop.wait(delay)
            wait = min(wait * 2, 60.0)
        except ChatRejected as exc:
            logger.error("Matrix refused the bot (%s): check MATRIX_HOMESERVER_URL and the bot's token", exc)
            stop.wait(60.0)
