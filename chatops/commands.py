"""Inbound chat: commands, button presses and reactions, the same for every backend.

Each maps the chat user to a Fireline user by verified email, finds the incident from the room (or a
reference argument) and calls the same service as the admin and the API, so permissions, visibility and
the action log are theirs. Errors come back as private replies in the guard's own words; a restricted
incident the caller cannot see answers exactly like an unknown one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction

from incidents import containment_types
from incidents.constants import (
    Channel,
    DetectionSignal,
    PageState,
    Severity,
    StakeholderRole,
)
from incidents.models import AIFeature, ContainmentAction, Incident, Page
from incidents.selectors import incident_get
from incidents.services import (
    TRANSITION_SERVICES,
    containment_record,
    containment_revert,
    incident_contain_now,
    incident_open,
    incident_update,
    timeline_add_note,
    transition_options,
)
from incidents.services.errors import IncidentChanged
from incidents.services.escalation import page_acknowledge

from .backends.base import Button, ChatMessage, ChatUnavailable
from .models import ChatRoom, ChatSettings
from .paging import incident_page_role
from .services import fireline_user, incident_link, summary_message


@dataclass(frozen=True)
class Reply:
    text: str
    private: bool = False
    message: ChatMessage | None = None


class CommandError(Exception):
    """A reply that says why not, to the caller only."""


HELP = """Fireline commands (in an incident's room, or name the incident: `status INC-12`):
• `declare [SEV1-4] [feature]: title` open an incident (you are its commander)
• `status` the incident's summary
• `ack` acknowledge your page
• `contain <type> [key=value ...]` record containment: {types}; `contain now` one click
• `lift <containment id> [reason]` lift a containment action
• `note <text>` add a timeline note
• `page <role>` page a role: {roles}
• `next` the next steps, with what blocks them (as buttons)
• `step <transition>` take a next step
• `assign <@user> commander` make someone the commander
• `help` this text"""

NOT_FOUND = "No such incident here. In an incident's room, or name it: `{verb} INC-12`."
UNKNOWN_USER = (
    "Fireline does not know you: your chat account's verified email must be the email of a Fireline account. "
    "Ask an admin to add it."
)
REFERENCE = re.compile(r"^(?:INC-)?(\d{1,18})$", re.IGNORECASE)
MENTION = re.compile(r"^<@([A-Z0-9_.:@a-z-]+)(?:\|[^>]*)?>$|^@?([A-Za-z0-9_.:-]+:[A-Za-z0-9.-]+)$")


def _help() -> str:
    return HELP.format(types=_type_names(), roles=", ".join(StakeholderRole.values))


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def _run(func) -> Reply:
    """Turn the services' errors into private replies, an invisible incident into an unknown one."""
    try:
        return func()
    except CommandError as exc:
        return Reply(str(exc), private=True)
    except ChatUnavailable:
        return Reply("The chat server could not say who you are just now: nothing was done; try again.", private=True)
    except (Incident.DoesNotExist, ObjectDoesNotExist):
        return Reply(NOT_FOUND.format(verb="status"), private=True)
    except IncidentChanged:
        return Reply("The incident changed meanwhile: look at it again and retry.", private=True)
    except PermissionDenied as exc:
        return Reply(str(exc) or "You may not do that.", private=True)
    except ValidationError as exc:
        return Reply(f"Not done: {_messages(exc)}", private=True)


def _user(backend: str, chat_user_id: str):
    user = fireline_user(backend=backend, chat_user_id=chat_user_id)
    if user is None:
        raise CommandError(UNKNOWN_USER)
    return user


def _incident(*, backend: str, room_id: str | None, user, reference: str | None, verb: str) -> Incident:
    """The incident named, or the one of this room, if the user may see it (else exactly as if unknown)."""
    pk = None
    if reference:
        match = REFERENCE.match(reference)
        if match is None:
            raise CommandError(NOT_FOUND.format(verb=verb))
        pk = int(match.group(1))
    elif room_id:
        pk = ChatRoom.objects.filter(backend=backend, room_id=room_id).values_list("incident_id", flat=True).first()
    if pk is None:
        raise CommandError(NOT_FOUND.format(verb=verb))
    try:
        return incident_get(user=user, pk=pk)
    except Incident.DoesNotExist as exc:
        raise CommandError(NOT_FOUND.format(verb=verb)) from exc


def _split_reference(args: list[str]) -> tuple[str | None, list[str]]:
    """A leading or trailing INC-12 names the incident; the rest are the command's own arguments."""
    if args and args[0].upper().startswith("INC-"):
        return args[0], args[1:]
    if args and args[-1].upper().startswith("INC-"):
        return args[-1], args[:-1]
    return None, args


# --- the commands ---------------------------------------------------------------------------------------


def _declare(*, user, rest: str) -> Reply:
    head, colon, title = rest.partition(":")
    if not colon or not title.strip():
        raise CommandError("Give a title after a colon: `declare SEV2 support-bot: Bot leaks order numbers`.")
    severity, feature = "", None
    for token in head.split():
        if token.upper() in Severity.values:
            severity = token.upper()
            continue
        feature = AIFeature.objects.filter(key=token).first()
        if feature is None:
            raise CommandError(f"No AI feature {token!r}: one of {', '.join(_feature_keys())}.")
    if feature is None:
        features = list(AIFeature.objects.all()[:2])
        if len(features) != 1:
            raise CommandError(f"Name the AI feature: one of {', '.join(_feature_keys()) or '(none yet)'}.")
        feature = features[0]
    if not user.has_perm("incidents.add_incident"):
        raise PermissionDenied("You may not declare incidents (incidents.add_incident).")
    incident = incident_open(
        title=title.strip()[:200],
        detection_signal=DetectionSignal.INTERNAL_DISCOVERY,
        feature=feature,
        actor=user,
        commander=user,
        severity_override=severity,
        severity_override_reason="Declared from chat with this severity." if severity else "",
    )
    return Reply(
        f"{user.get_username()} declared {incident.reference} ({incident.severity or 'no severity yet'}): "
        f"{incident.title} · {incident_link(incident)}"
    )


def _feature_keys() -> list[str]:
    return list(AIFeature.objects.order_by("key").values_list("key", flat=True)[:20])


def _ack(*, user, incident: Incident, backend: str) -> Reply:
    pages = Page.objects.filter(incident=incident, state__in=[PageState.PENDING, PageState.SENT]).filter(
        contact__user=user
    ) | Page.objects.filter(
        incident=incident,
        state__in=[PageState.PENDING, PageState.SENT],
        contact__channel_rows__kind=Channel.EMAIL,
        contact__channel_rows__address__iexact=user.email or "-",
    )
    pages = list(pages.distinct().order_by("pk"))
    if not pages:
        raise CommandError(f"You have no open page on {incident.reference}.")
    for page in pages:
        page_acknowledge(page_id=page.pk, actor=user, via=backend)
    return Reply(f"{user.get_username()} acknowledged {len(pages)} page(s) on {incident.reference}.")


def _type_names() -> str:
    """Every containment type a person may record, as typed in a command (the registry's values)."""
    return ", ".join(kind.value for kind in containment_types.kinds())


def _contain(*, user, incident: Incident, args: list[str]) -> Reply:
    if not args:
        raise CommandError(f"Which containment? One of {_type_names()}.")
    action_type = args[0].lower()
    if action_type == "now" and len(args) == 1:
        moved = incident_contain_now(incident_id=incident.pk, actor=user)
        return Reply(f"{user.get_username()} contained {moved.reference} in one click.")
    if containment_types.get(action_type) is None:
        raise CommandError(f"Unknown containment type {args[0]!r}: one of {_type_names()}.")
    parameters = {}
    for token in args[1:]:
        key, equals, value = token.partition("=")
        if not equals:
            needed = containment_types.get(action_type).parameter_names
            raise CommandError(
                f"{token!r}: give parameters as key=value"
                + (f" ({', '.join(needed)})." if needed else "; this type takes none.")
            )
        parameters[key] = value
    action = containment_record(
        incident_id=incident.pk, action_type=action_type, parameters=parameters, description="From chat.", actor=user
    )
    return Reply(
        f"{user.get_username()} recorded containment #{action.pk} on {incident.reference}: "
        f"{action.get_action_type_display()}."
    )


def _lift(*, user, incident: Incident, args: list[str]) -> Reply:
    if not args or not args[0].lstrip("#").isdigit() or len(args[0]) > 18:
        raise CommandError("Which containment? `lift <id> [reason]` (the id is in the summary, e.g. #12).")
    try:
        action = ContainmentAction.objects.get(pk=int(args[0].lstrip("#")), incident=incident)
    except ContainmentAction.DoesNotExist as exc:
        raise CommandError(f"No containment #{args[0].lstrip('#')} on {incident.reference}.") from exc
    reason = " ".join(args[1:]).strip() or "Lifted from chat."
    containment_revert(action_id=action.pk, reason=reason, actor=user)
    return Reply(f"{user.get_username()} lifted containment #{action.pk} on {incident.reference}: {reason}")


def _note(*, user, incident: Incident, text: str) -> Reply:
    timeline_add_note(incident_id=incident.pk, text=text, actor=user)
    return Reply(f"Noted on {incident.reference}'s timeline.", private=True)


def _page(*, user, incident: Incident, args: list[str]) -> Reply:
    if not args or args[0].lower() not in StakeholderRole.values:
        raise CommandError(f"Which role? One of {', '.join(StakeholderRole.values)}.")
    pages = incident_page_role(incident_id=incident.pk, role=args[0].lower(), actor=user)
    names = ", ".join(p.contact.name for p in pages)
    return Reply(f"{user.get_username()} paged {names} on {incident.reference}.")


def next_steps(*, user, incident: Incident) -> Reply:
    options = transition_options(incident, user)
    if not options:
        return Reply(f"No next step you may take on {incident.reference} now.", private=True)
    lines = [f"Next steps for {incident.reference} ({incident.get_state_display().lower()}):"]
    buttons = []
    for option in options:
        if option.blockers:
            lines.append(f"• {option.label}: blocked: {'; '.join(option.blockers)}")
        elif option.needs_reason:
            lines.append(f"• {option.label}: needs a reason, on the incident page: {incident_link(incident)}")
        else:
            lines.append(f"• {option.label}")
            buttons.append(Button(option.label, "transition", f"step {option.name} {incident.reference}"))
    text = "\n".join(lines)
    return Reply(text, private=True, message=ChatMessage(text=text, buttons=tuple(buttons)))


def _assign(*, backend: str, user, incident: Incident, args: list[str]) -> Reply:
    if len(args) != 2 or args[1].lower() != "commander":
        raise CommandError("`assign <@user> commander`")
    match = MENTION.match(args[0])
    if match is None:
        raise CommandError(f"{args[0]!r} is not a chat user: mention them, e.g. @maria.")
    target = fireline_user(backend=backend, chat_user_id=match.group(1) or match.group(2))
    if target is None or not target.is_staff:
        raise CommandError(f"{args[0]} has no Fireline account with a verified email; they cannot be commander.")
    incident_update(incident_id=incident.pk, changes={"commander": target}, actor=user)
    return Reply(f"{user.get_username()} made {target.get_username()} commander of {incident.reference}.")


def _transition(*, user, incident: Incident, name: str) -> Reply:
    option = next((o for o in transition_options(incident, user) if o.name == name), None)
    if option is None or name not in TRANSITION_SERVICES:
        raise CommandError(
            f"Not possible while {incident.reference} is {incident.get_state_display().lower()}, or you may not."
        )
    if option.blockers:
        raise CommandError(f"{option.label}: blocked: {'; '.join(option.blockers)}")
    if option.needs_reason:
        raise CommandError(f"{option.label} needs a reason: on the incident page, {incident_link(incident)}")
    moved = TRANSITION_SERVICES[name](incident_id=incident.pk, actor=user, expected_state=incident.state)
    return Reply(f"{user.get_username()}: {incident.reference} is now {moved.get_state_display().lower()}.")


SCOPED = {"status", "ack", "contain", "lift", "note", "page", "next", "assign", "step"}


def command_run(*, backend: str, chat_user_id: str, room_id: str | None, text: str) -> Reply:
    """`text` is what follows "/incident" or "!incident"."""
    verb, _, rest = (text or "").strip().partition(" ")
    verb = verb.lower()
    if verb in ("", "help"):
        return Reply(_help(), private=True)
    if verb not in SCOPED | {"declare"}:
        return Reply(f"Unknown command {verb!r}.\n{_help()}", private=True)

    def run() -> Reply:
        user = _user(backend, chat_user_id)
        if verb == "declare":
            with transaction.atomic():
                return _declare(user=user, rest=rest)
        args = rest.split()
        reference = None
        if verb == "note":
            if args and args[0].upper().startswith("INC-"):
                reference, rest_text = args[0], rest.strip()[len(args[0]) :]
            else:
                rest_text = rest
        else:
            reference, args = _split_reference(args)
        incident = _incident(backend=backend, room_id=room_id, user=user, reference=reference, verb=verb)
        if verb == "status":
            message = summary_message(incident)
            return Reply(message.text, message=message)
        if verb == "ack":
            return _ack(user=user, incident=incident, backend=backend)
        if verb == "contain":
            return _contain(user=user, incident=incident, args=args)
        if verb == "lift":
            return _lift(user=user, incident=incident, args=args)
        if verb == "note":
            return _note(user=user, incident=incident, text=rest_text)
        if verb == "page":
            return _page(user=user, incident=incident, args=args)
        if verb == "next":
            return next_steps(user=user, incident=incident)
        if verb == "step":
            if len(args) != 1:
                raise CommandError("`step <transition>`: the Next step button gives the names.")
            return _transition(user=user, incident=incident, name=args[0].lower())
        return _assign(backend=backend, user=user, incident=incident, args=args)

    return _run(run)


BUTTON_COMMANDS = {"ack": "ack", "contain_now": "contain now", "next": "next"}


def button_command(action: str, value: str) -> str | None:
    """The command a button stands for (see the note in backends/base.py); None for an unknown button."""
    if action == "transition":
        return value if value.startswith("step ") else None
    if action in BUTTON_COMMANDS:
        return f"{BUTTON_COMMANDS[action]} {value}".strip()
    return None


def button_press(*, backend: str, chat_user_id: str, room_id: str | None, action: str, value: str) -> Reply:
    """A button is the command it stands for, with the incident named in its value."""
    command = button_command(action, value or "")
    if command is None:
        return Reply(f"Unknown button {action!r}.", private=True)
    return command_run(backend=backend, chat_user_id=chat_user_id, room_id=room_id, text=command)


def reaction_note(
    *,
    backend: str,
    chat_user_id: str,
    room_id: str,
    reaction: str,
    message_text: str,
    message_author_id: str,
    occurred_at,
) -> Reply | None:
    """A message marked with the configured reaction becomes a timeline note; None when nothing was done.

    The note is the message's author's, at the message's time, when the author is a Fireline user; else it
    is the marker's, naming the author's chat id. Marking the same message twice adds one note.
    """
    if reaction.strip(":") != ChatSettings.current().note_reaction:
        return None
    if not ChatRoom.objects.filter(backend=backend, room_id=room_id).exists():
        return None

    def run() -> Reply:
        marker = _user(backend, chat_user_id)
        incident = _incident(backend=backend, room_id=room_id, user=marker, reference=None, verb="note")
        author = fireline_user(backend=backend, chat_user_id=message_author_id) if message_author_id else None
        text = (message_text or "").strip()
        if author is None or not incident_get_visible(author, incident):
            author, text = marker, f"{message_author_id or 'someone'} in chat: {text}"
        if incident.timeline.filter(kind="note", text=text, occurred_at=occurred_at).exists():
            return Reply("Already on the timeline.", private=True)
        timeline_add_note(incident_id=incident.pk, text=text, actor=author, occurred_at=occurred_at)
        return Reply(f"Added to {incident.reference}'s timeline.", private=True)

    return _run(run)


def incident_get_visible(user, incident: Incident) -> bool:
    try:
        incident_get(user=user, pk=incident.pk)
    except Incident.DoesNotExist:
        return False
    return user.has_perm("incidents.add_timelineentry")
