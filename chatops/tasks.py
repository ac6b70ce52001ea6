"""Thin tasks for the Slack side: the slow parts of a request, after it was answered."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from config.celery import FirelineTask

from .backends.base import ChatRejected, ChatUnavailable, backend_get
from .commands import reaction_note
from .models import SlackRequest

logger = logging.getLogger(__name__)


def response_url_allowed(url: str) -> bool:
    """Only Slack's own hooks (or the configured API host, for a stand-in): a signed payload names it, but a
    reply is never sent anywhere else."""
    allowed = ["https://hooks.slack.com/", settings.SLACK_API_URL.split("/api/")[0].rstrip("/") + "/"]
    return any(url.startswith(prefix) for prefix in allowed)


@shared_task(base=FirelineTask)
def slack_respond(response_url: str, body: dict) -> str:
    if not response_url_allowed(response_url):
        logger.warning("Not replying to %s: not a Slack response URL", response_url[:200])
        return "refused"
    try:
        response = httpx.post(response_url, json=body, timeout=10.0, follow_redirects=False)
    except httpx.HTTPError:
        logger.warning("Slack reply to a button could not be sent", exc_info=True)
        return "failed"
    return "sent" if response.status_code < 300 else f"HTTP {response.status_code}"


@shared_task(base=FirelineTask)
def slack_reaction(*, chat_user_id: str, room_id: str, reaction: str, message_id: str, message_author_id: str) -> str:
    """A reaction in a room: fetch the marked message, then maybe make it a timeline note."""
    backend = backend_get("slack")
    try:
        found = backend.message_text(room_id, message_id)
    except (ChatUnavailable, ChatRejected):
        logger.warning("Could not read the message marked in %s", room_id, exc_info=True)
        return "unreadable"
    if found is None:
        return "gone"
    text, author = found
    try:
        occurred_at = datetime.fromtimestamp(float(message_id), tz=UTC)
    except ValueError:
        return "bad ts"
    reply = reaction_note(
        backend="slack",
        chat_user_id=chat_user_id,
        room_id=room_id,
        reaction=reaction,
        message_text=text,
        message_author_id=author or message_author_id,
        occurred_at=occurred_at,
    )
    return "ignored" if reply is None else reply.text


@shared_task(base=FirelineTask)
def forget_slack_requests() -> int:
    """Hourly (beat): forget answered requests older than an hour; Slack's signature window is five minutes,
    so a replay that old is refused by its timestamp anyway, and Slack stops retrying an event within one."""
    deleted, _ = SlackRequest.objects.filter(received_at__lt=timezone.now() - timedelta(hours=1)).delete()
    return deleted
