"""The Matrix backend: the client-server API of any homeserver (tested against Synapse), over httpx.

Configuration comes from the environment only (config/settings.py reads it), never the database:
  MATRIX_HOMESERVER_URL   e.g. https://matrix.example.com
  MATRIX_BOT_TOKEN        the bot's access token, or
  MATRIX_BOT_USER + MATRIX_BOT_PASSWORD   to log in (always as device FIRELINE, so retried posts keep their
                                          transaction ids across restarts)

The bot must be a server admin: the identity lookups (user_for_email, email_for_user) read the validated
third-party ids through Synapse's admin API. A message is posted with PUT .../send/m.room.message/{txnId}
where txnId is the outbox key: the homeserver answers a repeat with the first event, so a retried post is
shown once. Edits are m.replace events; pins are the room's m.room.pinned_events state. Archiving posts
nothing itself: it marks the topic closed, makes the room read-only and the bot leaves.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import uuid
from urllib.parse import quote

import httpx
from django.conf import settings

from chatops.backends.base import ChatBackend, ChatMessage, ChatRejected, ChatUnavailable

logger = logging.getLogger(__name__)

DEVICE_ID = "FIRELINE"
TIMEOUT = 10.0
CLOSED_PREFIX = "Closed: "
PREFIX = "!incident"


def _q(value: str) -> str:
    return quote(value, safe="")


INLINE = re.compile(r"\*([^*\n]+)\*|`([^`\n]+)`")


def button_command(button) -> str:
    """Matrix has no buttons: each is shown with the typed command that does the same thing."""
    from chatops.commands import button_command as command_for

    return f"{PREFIX} {command_for(button.action, button.value) or button.label}"


def _html_line(line: str) -> str:
    """One line of text as HTML: escaped, with Slack-style *bold* and `code` kept as emphasis."""
    out, last = [], 0
    for match in INLINE.finditer(line):
        out.append(html.escape(line[last : match.start()]))
        bold, code = match.groups()
        out.append(f"<b>{html.escape(bold)}</b>" if bold is not None else f"<code>{html.escape(code)}</code>")
        last = match.end()
    out.append(html.escape(line[last:]))
    return "".join(out)


def render(message: ChatMessage, *, mention: str | None = None) -> dict:
    """m.room.message content: the text with an HTML twin; buttons become the commands that do the same."""
    lines = message.text.splitlines() or [""]
    plain = list(lines)
    rich = [_html_line(line) for line in lines]
    if mention:
        name = mention.split(":", 1)[0].lstrip("@")
        plain[0] = f"{name}: {plain[0]}"
        rich[0] = f'<a href="https://matrix.to/#/{html.escape(mention)}">{html.escape(name)}</a>: {rich[0]}'
    if message.context:
        plain.append(message.context)
        rich.append(f"<em>{html.escape(message.context)}</em>")
    if message.buttons:
        plain.append(" | ".join(f"{b.label}: {button_command(b)}" for b in message.buttons))
        rich.append(
            " | ".join(
                f"<b>{html.escape(b.label)}</b>: <code>{html.escape(button_command(b))}</code>" for b in message.buttons
            )
        )
    content = {
        "msgtype": "m.notice",
        "body": "\n".join(plain),
        "format": "org.matrix.custom.html",
        "formatted_body": "<br>".join(rich),
    }
    content["m.mentions"] = {"user_ids": [mention]} if mention else {}
    return content


class MatrixBackend(ChatBackend):
    name = "matrix"

    def __init__(
        self,
        *,
        homeserver_url: str | None = None,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        def setting(value, name):
            return (value if value is not None else getattr(settings, name, "")) or None

        self.homeserver_url = (setting(homeserver_url, "MATRIX_HOMESERVER_URL") or "").rstrip("/")
        self._token = setting(token, "MATRIX_BOT_TOKEN")
        self._user = setting(user, "MATRIX_BOT_USER")
        self._password = setting(password, "MATRIX_BOT_PASSWORD")
        self._user_id: str | None = None
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=TIMEOUT, follow_redirects=False, transport=transport)

    # -- transport -------------------------------------------------------------------------------------

    def _configured(self) -> None:
        if not self.homeserver_url:
            raise ChatRejected("MATRIX_HOMESERVER_URL is not set")
        if not self._token and not (self._user and self._password):
            raise ChatRejected("Set MATRIX_BOT_TOKEN, or MATRIX_BOT_USER and MATRIX_BOT_PASSWORD")

    def _login(self) -> str:
        response = self._send(
            "POST",
            "/_matrix/client/v3/login",
            json={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self._user},
                "password": self._password,
                "device_id": DEVICE_ID,
                "initial_device_display_name": "Fireline",
            },
            token=None,
        )
        data = response.json()
        self._user_id = data.get("user_id")
        return data["access_token"]

    def _access_token(self) -> str:
        with self._lock:
            if not self._token:
                self._token = self._login()
            return self._token

    def _send(self, method: str, path: str, *, token: str | None, **kwargs) -> httpx.Response:
        what = f"Matrix {method} {path.split('?')[0]}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = self._client.request(method, self.homeserver_url + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ChatUnavailable(f"{what}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code < 300:
            return response
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        errcode, error = str(body.get("errcode", "")), str(body.get("error", ""))[:300]
        detail = f"{what}: HTTP {response.status_code} {errcode} {error}".rstrip()
        if response.status_code == 429:
            raise ChatUnavailable(detail, retry_after=_retry_after(body, response))
        if response.status_code >= 500:
            raise ChatUnavailable(detail)
        error_class = _MatrixAuthError if errcode == "M_UNKNOWN_TOKEN" else MatrixRejected
        raise error_class(detail, errcode, response.status_code)

    def request(self, method: str, path: str, **kwargs) -> dict:
        """An authenticated call; a lapsed login token is renewed once when a password is configured."""
        self._configured()
        token = self._access_token()
        try:
            response = self._send(method, path, token=token, **kwargs)
        except _MatrixAuthError:
            if not self._password:
                raise
            with self._lock:
                if self._token == token:
                    self._token = None
            response = self._send(method, path, token=self._access_token(), **kwargs)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError as exc:
            raise ChatRejected(f"Matrix {method} {path}: the answer is not JSON; check MATRIX_HOMESERVER_URL") from exc
        if not isinstance(data, dict):
            raise ChatRejected(f"Matrix {method} {path}: the answer is not a JSON object; check MATRIX_HOMESERVER_URL")
        return data

    # -- the bot itself --------------------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        if self._user_id is None:
            self._user_id = self.request("GET", "/_matrix/client/v3/account/whoami")["user_id"]
        return self._user_id

    def joined_rooms(self) -> list[str]:
        return self.request("GET", "/_matrix/client/v3/joined_rooms").get("joined_rooms", [])

    def joined_members(self, room_id: str) -> set[str]:
        return set(self.request("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/joined_members").get("joined", {}))

    def room_join(self, room_id: str) -> None:
        self.request("POST", f"/_matrix/client/v3/join/{_q(room_id)}", json={})

    def event_get(self, room_id: str, event_id: str) -> dict:
        return self.request("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/event/{_q(event_id)}")

    def sync(self, *, since: str | None, timeout_ms: int, filter_json: str) -> dict:
        params = {"timeout": str(timeout_ms), "filter": filter_json}
        if since:
            params["since"] = since
        return self.request("GET", "/_matrix/client/v3/sync", params=params, timeout=TIMEOUT + timeout_ms / 1000)

    def send(self, room_id: str, event_type: str, content: dict, *, txn_id: str) -> str:
        path = f"/_matrix/client/v3/rooms/{_q(room_id)}/send/{_q(event_type)}/{_q(txn_id)}"
        return self.request("PUT", path, json=content)["event_id"]

    def notice_post(
        self,
        room_id: str,
        message: ChatMessage,
        *,
        key: str,
        mention: str | None = None,
        in_reply_to: str | None = None,
    ) -> str:
        """A notice, addressed to `mention` when given (Matrix has no message only one person sees)."""
        content = render(message, mention=mention)
        if in_reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": in_reply_to}}
        return self.send(room_id, "m.room.message", content, txn_id=key)

    def _state(self, room_id: str, event_type: str) -> dict | None:
        try:
            return self.request("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/state/{_q(event_type)}/")
        except MatrixRejected as exc:
            if exc.errcode == "M_NOT_FOUND":
                return None
            raise

    def _state_put(self, room_id: str, event_type: str, content: dict) -> None:
        self.request("PUT", f"/_matrix/client/v3/rooms/{_q(room_id)}/state/{_q(event_type)}/", json=content)

    # -- ChatBackend -----------------------------------------------------------------------------------

    def room_open(self, *, name: str, topic: str, private: bool) -> str:
        body = {
            "name": name,
            "topic": topic,
            "preset": "private_chat" if private else "public_chat",
            "visibility": "private",  # never listed in the server's room directory
        }
        if private:
            # Only the bot invites, and it invites only people who may see the incident.
            body["power_level_content_override"] = {"invite": 100}
        return self.request("POST", "/_matrix/client/v3/createRoom", json=body)["room_id"]

    def room_invite(self, room_id: str, user_ids: list[str]) -> None:
        for user_id in user_ids:
            try:
                self.request("POST", f"/_matrix/client/v3/rooms/{_q(room_id)}/invite", json={"user_id": user_id})
            except MatrixRejected as exc:
                if "already in the room" in str(exc) or "already joined" in str(exc):
                    continue
                raise

    def room_archive(self, room_id: str) -> None:
        """Mark the topic closed, make the room read-only, and leave. Again on an archived room: nothing."""
        if room_id not in self.joined_rooms():
            return
        topic = (self._state(room_id, "m.room.topic") or {}).get("topic", "")
        if not topic.startswith(CLOSED_PREFIX):
            self._state_put(room_id, "m.room.topic", {"topic": f"{CLOSED_PREFIX}{topic}".strip()})
        levels = self._state(room_id, "m.room.power_levels") or {}
        levels["events_default"] = 100
        levels["invite"] = 100
        self._state_put(room_id, "m.room.power_levels", levels)
        self.request("POST", f"/_matrix/client/v3/rooms/{_q(room_id)}/leave", json={})

    def message_post(self, room_id: str, message: ChatMessage, *, key: str) -> str:
        return self.send(room_id, "m.room.message", render(message), txn_id=key)

    def message_update(self, room_id: str, message_id: str, message: ChatMessage) -> None:
        new = render(message)
        content = {
            **new,
            "body": f"* {new['body']}",
            "formatted_body": f"* {new['formatted_body']}",
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": message_id},
        }
        # Each edit is its own event: a repeat of an edit only re-states the same text.
        self.send(room_id, "m.room.message", content, txn_id=f"edit-{uuid.uuid4().hex}")

    def message_pin(self, room_id: str, message_id: str) -> None:
        pinned = list((self._state(room_id, "m.room.pinned_events") or {}).get("pinned", []))
        if message_id not in pinned:
            self._state_put(room_id, "m.room.pinned_events", {"pinned": [*pinned, message_id]})

    def user_for_email(self, email: str) -> str | None:
        address = email.strip().lower()  # Synapse keeps email addresses lower-cased
        if not address:
            return None
        try:
            return self.request("GET", f"/_synapse/admin/v1/threepid/email/users/{_q(address)}")["user_id"]
        except MatrixRejected as exc:
            if exc.errcode == "M_NOT_FOUND":
                return None
            raise

    def email_for_user(self, user_id: str) -> str | None:
        """The email the homeserver validated for this account (the earliest, if several); None otherwise."""
        try:
            account = self.request("GET", f"/_synapse/admin/v2/users/{_q(user_id)}")
        except MatrixRejected as exc:
            if exc.errcode == "M_NOT_FOUND" or exc.status == 400:  # unknown, or not an account of this server
                return None
            raise
        if account.get("deactivated") or account.get("locked"):
            return None
        validated = sorted(
            (t for t in account.get("threepids", []) if t.get("medium") == "email" and t.get("validated_at")),
            key=lambda t: t["validated_at"],
        )
        return validated[0]["address"].lower() if validated else None


def _retry_after(body: dict, response: httpx.Response) -> float | None:
    """Seconds to wait: the body's retry_after_ms, else the Retry-After header, else unknown."""
    for value, scale in ((body.get("retry_after_ms"), 1000), (response.headers.get("Retry-After"), 1)):
        try:
            return max(float(value) / scale, 0.0)
        except (TypeError, ValueError):
            continue
    return None


class MatrixRejected(ChatRejected):
    """A 4xx from the homeserver, with its Matrix error code."""

    def __init__(self, detail: str, errcode: str = "", status: int = 400):
        super().__init__(detail)
        self.errcode, self.status = errcode, status


class _MatrixAuthError(MatrixRejected):
    """The access token was refused (M_UNKNOWN_TOKEN)."""
