"""Inbound chat: commands, button presses and reactions, the same for every backend.

Each maps the chat user to a Fireline user by verified email, finds the incident from the room (or a
reference argument) and calls the same service as the admin and the API. Errors come back as private
replies; a restricted incident the caller cannot see answers exactly like an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatops.backends.base import ChatMessage


@dataclass(frozen=True)
class Reply:
    text: str
    private: bool = False
    message: ChatMessage | None = None


def command_run(*, backend: str, chat_user_id: str, room_id: str | None, text: str) -> Reply:
    """`text` is what follows "/incident" or "!incident"."""
    raise NotImplementedError


def button_press(*, backend: str, chat_user_id: str, room_id: str | None, action: str, value: str) -> Reply:
    raise NotImplementedError


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
    """A message marked with the configured reaction becomes a timeline note; None when nothing was done."""
    raise NotImplementedError
