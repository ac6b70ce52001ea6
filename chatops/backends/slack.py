"""The Slack backend: the Web API through slack-sdk's WebClient (base URL configurable, so tests use a stand-in)."""

from __future__ import annotations

import re
from urllib.error import URLError

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .base import ChatBackend, ChatMessage, ChatRejected, ChatUnavailable

NAME_MAX = 80
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def channel_name(text: str) -> str:
    """Slack's rules: lower case, no spaces or periods, at most 80 characters."""
    name = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")
    return re.sub(r"-{2,}", "-", name)[:NAME_MAX].strip("-") or "incident"


def render_blocks(message: ChatMessage) -> list[dict]:
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": message.text[:3000]}}]
    if message.context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": message.context[:2000]}]})
    if message.buttons:
        elements = []
        for index, button in enumerate(message.buttons[:25]):
            element = {
                "type": "button",
                "text": {"type": "plain_text", "text": button.label[:75]},
                "action_id": f"fireline:{button.action}:{index}",
                "value": f"{button.action}|{button.value}"[:2000],
            }
            if button.style in ("primary", "danger"):
                element["style"] = button.style
            elements.append(element)
        blocks.append({"type": "actions", "elements": elements})
    return blocks


class SlackBackend(ChatBackend):
    name = "slack"

    def __init__(self, token: str | None = None, base_url: str | None = None):
        token = token if token is not None else settings.SLACK_BOT_TOKEN
        base_url = base_url or settings.SLACK_API_URL
        # the outbox retries, with backoff and Retry-After; a worker never sleeps here
        self.client = WebClient(token=token, base_url=base_url, timeout=10, retry_handlers=[])
        # who someone is, asked while Slack waits for the answer to their command (3 s at most)
        self.lookup_client = WebClient(token=token, base_url=base_url, timeout=2, retry_handlers=[])

    def _call(self, method: str, *, client: WebClient | None = None, **params) -> dict:
        client = client or self.client
        if not client.token:
            raise ChatRejected("SLACK_BOT_TOKEN is not set")
        try:
            # the SDK's own method for each call, so each is encoded as Slack expects (JSON, form or query)
            return getattr(client, method.replace(".", "_"))(**params).data
        except SlackApiError as exc:
            response = exc.response
            error = (response.data or {}).get("error", "") if isinstance(response.data, dict) else ""
            if response.status_code == 429 or response.status_code >= 500 or error in TRANSIENT_ERRORS:
                retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
                raise ChatUnavailable(
                    f"Slack {method}: HTTP {response.status_code} {error}".strip(),
                    retry_after=float(retry_after) if retry_after else None,
                ) from exc
            raise ChatRejected(f"Slack {method}: {error or response.status_code}") from exc
        except (URLError, OSError, TimeoutError) as exc:
            raise ChatUnavailable(f"Slack {method}: {exc.__class__.__name__}: {exc}") from exc

    def room_open(self, *, name: str, topic: str, private: bool) -> str:
        base = channel_name(name)
        for attempt in range(5):
            candidate = base if attempt == 0 else f"{base[: NAME_MAX - 3]}-{attempt + 1}"
            try:
                data = self._call("conversations.create", name=candidate, is_private=private)
            except ChatRejected as exc:
                if "name_taken" in str(exc):
                    continue
                raise
            channel_id = data["channel"]["id"]
            if topic:
                self._call("conversations.setTopic", channel=channel_id, topic=topic[:250])
            return channel_id
        raise ChatRejected(f"Slack conversations.create: every name like {base!r} is taken")

    def room_invite(self, room_id: str, user_ids: list[str]) -> None:
        if user_ids:
            try:
                self._call("conversations.invite", channel=room_id, users=",".join(user_ids))
            except ChatRejected as exc:
                if "already_in_channel" not in str(exc):
                    raise

    def room_archive(self, room_id: str) -> None:
        try:
            self._call("conversations.archive", channel=room_id)
        except ChatRejected as exc:
            if "already_archived" not in str(exc):
                raise

    def message_post(self, room_id: str, message: ChatMessage, *, key: str) -> str:
        data = self._call(
            "chat.postMessage",
            channel=room_id,
            text=message.text[:3000],
            blocks=render_blocks(message),
            metadata={"event_type": "fireline_post", "event_payload": {"key": key[:250]}},
        )
        return data["ts"]

    def message_update(self, room_id: str, message_id: str, message: ChatMessage) -> None:
        blocks = render_blocks(message)
        self._call("chat.update", channel=room_id, ts=message_id, text=message.text[:3000], blocks=blocks)

    def message_pin(self, room_id: str, message_id: str) -> None:
        try:
            self._call("pins.add", channel=room_id, timestamp=message_id)
        except ChatRejected as exc:
            if "already_pinned" not in str(exc):
                raise

    def message_text(self, room_id: str, message_id: str) -> tuple[str, str] | None:
        """(text, author id) of one message, for a reaction on it; None when it is gone."""
        data = self._call("conversations.history", channel=room_id, latest=message_id, inclusive=True, limit=1)
        messages = data.get("messages") or []
        if not messages or messages[0].get("ts") != message_id:
            return None
        return messages[0].get("text", ""), messages[0].get("user", "")

    def user_for_email(self, email: str) -> str | None:
        try:
            data = self._call("users.lookupByEmail", email=email)
        except ChatRejected as exc:
            if "users_not_found" in str(exc):
                return None
            raise
        user = data.get("user") or {}
        return user.get("id") if not user.get("deleted") else None

    def email_for_user(self, user_id: str) -> str | None:
        try:
            data = self._call("users.info", client=self.lookup_client, user=user_id)
        except ChatRejected:
            return None
        user = data.get("user") or {}
        if user.get("deleted") or user.get("is_bot") or not user.get("is_email_confirmed"):
            return None
        return (user.get("profile") or {}).get("email") or None
