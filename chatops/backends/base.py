"""NOTE (04:07): rooms are opened and posted to only while the chosen backend is configured
(chatops.services.backend_configured: SLACK_BOT_TOKEN for Slack, the MATRIX_HOMESERVER_URL setting for
Matrix), so set it before an incident is opened in a test.

NOTE for backend authors: a Button's `value` is the incident reference (INC-12) for "ack", "contain_now"
and "next"; for "transition" it is the whole command that takes that step, e.g. "step mark_fixed INC-12", so
"!incident <value>" works as typed text. Each button equals a command: ack INC-12, contain now INC-12,
next INC-12, step <name> INC-12 (chatops.commands.button_command gives it).

The chat interface: one ChatBackend per chat system (Slack, Matrix), chosen by name.

Outbound calls raise ChatUnavailable for a transient failure (server down, 5xx, 429: the outbox retries,
honouring retry_after) and ChatRejected for a permanent one (bad room, not allowed: the outbox gives up).
Messages are plain text plus optional buttons; each backend renders them (Slack blocks, Matrix HTML with
a text fallback).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Button:
    label: str
    action: str  # "ack" | "contain_now" | "next" | "transition"
    value: str = ""  # see the note at the top
    style: str = ""  # "" | "primary" | "danger"


@dataclass(frozen=True)
class ChatMessage:
    text: str
    buttons: tuple[Button, ...] = ()
    context: str = ""


class ChatUnavailable(Exception):
    """Transient: the chat server is down, answered 5xx or 429 (retry_after from Retry-After, in seconds)."""

    def __init__(self, message: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ChatRejected(Exception):
    """Permanent: a bad room, a missing permission, a malformed request; retrying will not help."""


class ChatBackend(abc.ABC):
    name: str = ""

    @abc.abstractmethod
    def room_open(self, *, name: str, topic: str, private: bool) -> str:
        """Create a room/channel; return its id."""

    @abc.abstractmethod
    def room_invite(self, room_id: str, user_ids: list[str]) -> None: ...

    @abc.abstractmethod
    def room_archive(self, room_id: str) -> None: ...

    @abc.abstractmethod
    def message_post(self, room_id: str, message: ChatMessage, *, key: str) -> str:
        """Post; `key` is an idempotency key (Matrix txnId). Returns the message id."""

    @abc.abstractmethod
    def message_update(self, room_id: str, message_id: str, message: ChatMessage) -> None: ...

    @abc.abstractmethod
    def message_pin(self, room_id: str, message_id: str) -> None: ...

    @abc.abstractmethod
    def user_for_email(self, email: str) -> str | None:
        """The chat user id with this email, or None."""

    @abc.abstractmethod
    def email_for_user(self, user_id: str) -> str | None:
        """The user's email only if the chat server vouches for it (verified), else None."""


BACKENDS = {
    "slack": "chatops.backends.slack.SlackBackend",
    "matrix": "chatops.backends.matrix.MatrixBackend",
}

_cache: dict[str, ChatBackend] = {}


def backend_get(name: str) -> ChatBackend:
    """The configured backend by name (settings/environment). Raises KeyError for an unknown name."""
    if name not in BACKENDS:
        raise KeyError(f"Unknown chat backend {name!r}; known: {', '.join(sorted(BACKENDS))}")
    if name not in _cache:
        _cache[name] = import_string(BACKENDS[name])()
    return _cache[name]


def backend_reset() -> None:
    """Forget built backends (tests change settings between runs)."""
    _cache.clear()
