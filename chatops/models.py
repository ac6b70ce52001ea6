"""What chat-ops keeps: its settings, one room per incident, and the Slack requests already answered."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from incidents.constants import Severity

BACKEND_CHOICES = [("slack", "Slack"), ("matrix", "Matrix")]


def default_severities() -> list[str]:
    return [Severity.SEV1, Severity.SEV2]


class ChatSettings(models.Model):
    """One row: which backend, which severities open a room, which reaction makes a timeline note."""

    backend = models.CharField(max_length=16, choices=BACKEND_CHOICES, default="slack")
    room_severities = models.JSONField(
        default=default_severities,
        help_text="Declaring an incident at, or raising it to, one of these severities opens a room for it.",
    )
    note_reaction = models.CharField(
        max_length=64,
        default="pushpin",
        help_text="A message in the room marked with this reaction (its name, without colons) becomes a timeline note.",
    )
    is_enabled = models.BooleanField(default=True, help_text="Off: no rooms are opened and nothing is posted.")

    class Meta:
        verbose_name = "chat settings"
        verbose_name_plural = "chat settings"

    def __str__(self) -> str:
        return "Chat settings"

    def clean(self):
        known = set(Severity.values)
        if not isinstance(self.room_severities, list) or not set(self.room_severities) <= known:
            raise ValidationError({"room_severities": f"A list of severities among {', '.join(Severity.values)}."})
        self.note_reaction = (self.note_reaction or "").strip().strip(":")
        if not self.note_reaction:
            raise ValidationError({"note_reaction": "Name the reaction, e.g. pushpin."})

    @classmethod
    def current(cls) -> ChatSettings:
        row = cls.objects.order_by("pk").first()
        return row if row is not None else cls()


class ChatRoom(models.Model):
    """The room (Slack channel, Matrix room) of one incident on one backend."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="chat_rooms")
    backend = models.CharField(max_length=16, choices=BACKEND_CHOICES)
    room_id = models.CharField(max_length=255, blank=True, db_index=True)
    name = models.CharField(max_length=80, blank=True)
    is_private = models.BooleanField(default=False)
    summary_message_id = models.CharField(max_length=255, blank=True)
    invited = models.JSONField(default=list, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "backend"], name="one_chat_room_per_backend")]

    def __str__(self) -> str:
        return f"{self.backend}:{self.room_id or '(not opened yet)'}"


class SlackRequest(models.Model):
    """A signed Slack request already answered: a replay gets the first answer, an event retry nothing new."""

    key = models.CharField(max_length=128, unique=True)  # "sig:<signature>" or "event:<event_id>"
    status = models.PositiveSmallIntegerField(default=200)
    body = models.TextField(blank=True)
    content_type = models.CharField(max_length=64, default="application/json")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.key


class ChatCursor(models.Model):
    """Where a chat bot stopped reading (the Matrix bot's /sync next_batch): a restart replays nothing."""

    name = models.CharField(max_length=100, unique=True)
    value = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name
