"""A local stand-in for the Slack Web API methods Fireline uses, for tests (Slack cannot be reached from here).

A real `slack_sdk.WebClient(base_url=standin.api_url)` talks to it over HTTP. Each method checks the bot
token and its required arguments the way Slack answers (HTTP 200 with `ok: false` and an error code),
keeps the channels, messages and pins it was asked to make, and records every call. It can answer 429
with Retry-After, or be down (the port closed) and come back on the same port.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

NAME_RULE = re.compile(r"^[a-z0-9_-]{1,80}$")

REQUIRED = {
    "conversations.create": ["name"],
    "conversations.setTopic": ["channel", "topic"],
    "conversations.invite": ["channel", "users"],
    "conversations.archive": ["channel"],
    "conversations.history": ["channel"],
    "users.lookupByEmail": ["email"],
    "users.info": ["user"],
    "chat.postMessage": ["channel"],
    "chat.update": ["channel", "ts"],
    "chat.postEphemeral": ["channel", "user"],
    "pins.add": ["channel", "timestamp"],
}


@dataclass
class Call:
    method: str
    args: dict


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    topic: str = ""
    members: set = field(default_factory=set)
    is_archived: bool = False
    messages: list = field(default_factory=list)  # dicts: ts, text, blocks, user
    pins: list = field(default_factory=list)


class SlackStandIn:
    def __init__(self, token: str | None = None):
        self.token = token or "xoxb-test-token"
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.responses: list[dict] = []  # bodies POSTed to response URLs
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, dict] = {}
        self.rate_limited = 0  # answer this many next calls with 429
        self.retry_after = 7
        self._ts = time.time()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    # --- control --------------------------------------------------------------------------------------

    def start(self) -> SlackStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                standin._handle(self)

            def do_POST(self):
                standin._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: the port is closed (connection refused) until start() again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def add_user(self, email: str, *, confirmed: bool = True, user_id: str | None = None) -> str:
        user_id = user_id or f"U{len(self.users) + 1:04d}"
        self.users[user_id] = {"id": user_id, "email": email, "is_email_confirmed": confirmed}
        return user_id

    def post_user_message(self, channel_id: str, user_id: str, text: str) -> str:
        """Someone types into a channel (as Slack would store it); returns the message ts."""
        with self.lock:
            ts = self._next_ts()
            self.channels[channel_id].messages.append({"ts": ts, "text": text, "user": user_id})
        return ts

    def called(self, method: str) -> list[dict]:
        with self.lock:
            return [c.args for c in self.calls if c.method == method]

    def posts(self, channel_id: str) -> list[str]:
        """Texts posted into a channel by the bot, in order."""
        return [m["text"] for m in self.channels[channel_id].messages if m.get("user") == "BOT"]

    # --- the API ---------------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts += 0.000100
        return f"{self._ts:.6f}"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlparse(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        if url.path.startswith("/response/"):
            with self.lock:
                self.responses.append(json.loads(raw or b"{}"))
            return self._send(request, 200, {"ok": True})
        method = url.path.removeprefix("/api/")
        args = dict(parse_qsl(url.query))
        content_type = request.headers.get("Content-Type", "")
        if raw and content_type.startswith("application/json"):
            args.update(json.loads(raw))
        elif raw:
            args.update(dict(parse_qsl(raw.decode())))
        with self.lock:
            self.calls.append(Call(method, args))
            if self.rate_limited > 0:
                self.rate_limited -= 1
                return self._send(
                    request, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": self.retry_after}
                )
            auth = request.headers.get("Authorization", "")
            if auth != f"Bearer {self.token}":
                return self._send(request, 200, {"ok": False, "error": "not_authed" if not auth else "invalid_auth"})
            if method not in REQUIRED:
                return self._send(request, 404, {"ok": False, "error": "unknown_method"})
            missing = [name for name in REQUIRED[method] if args.get(name) in (None, "")]
            if method == "chat.postMessage" and not (args.get("text") or args.get("blocks")):
                missing.append("text")
            if missing:
                return self._send(request, 200, {"ok": False, "error": "invalid_arguments", "missing": missing})
            body = getattr(self, "_" + method.replace(".", "_"))(args)
        return self._send(request, 200, body)

    def _send(self, request, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            request.send_header(key, str(value))
        request.end_headers()
        request.wfile.write(data)

    def _channel(self, args) -> Channel | dict:
        channel = self.channels.get(args["channel"])
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        return channel

    def _conversations_create(self, args):
        name = args["name"]
        if not NAME_RULE.match(name):
            return {"ok": False, "error": "invalid_name_specials"}
        if any(c.name == name for c in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        is_private = args.get("is_private") in (True, "true", "1", 1)
        channel = Channel(id=f"C{len(self.channels) + 1:05d}", name=name, is_private=is_private)
        self.channels[channel.id] = channel
        return {"ok": True, "channel": {"id": channel.id, "name": name, "is_private": is_private}}

    def _conversations_setTopic(self, args):
        channel = self._channel(args)
        if isinstance(channel, dict):
            return channel
        channel.topic = args["topic"]
        return {"ok": True, "channel": {"id": channel.id, "topic": {"value": channel.topic}}}

    def _conversations_invite(self, args):
        channel = self._channel(args)
        if isinstance(channel, dict):
            return channel
        users = [u for u in str(args["users"]).split(",") if u]
        unknown = [u for u in users if u not in self.users]
        if unknown:
            return {"ok": False, "error": "user_not_found"}
        channel.members.update(users)
        return {"ok": True, "channel": {"id": channel.id}}

    def _conversations_archive(self, args):
        channel = self._channel(args)
        if isinstance(channel, dict):
            return {"ok": False, "error": "already_archived"} if channel.get("error") == "is_archived" else channel
        channel.is_archived = True
        return {"ok": True}

    def _conversations_history(self, args):
        channel = self.channels.get(args["channel"])
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        latest = args.get("latest")
        found = [m for m in reversed(channel.messages) if latest is None or float(m["ts"]) <= float(latest)]
        return {"ok": True, "messages": found[: int(args.get("limit") or 100)]}

    def _users_lookupByEmail(self, args):
        for user in self.users.values():
            if user["email"].lower() == args["email"].lower():
                return {"ok": True, "user": {"id": user["id"], "profile": {"email": user["email"]}}}
        return {"ok": False, "error": "users_not_found"}

    def _users_info(self, args):
        user = self.users.get(args["user"])
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {
            "ok": True,
            "user": {
                "id": user["id"],
                "is_email_confirmed": user["is_email_confirmed"],
                "profile": {"email": user["email"]},
            },
        }

    def _chat_postMessage(self, args):
        channel = self._channel(args)
        if isinstance(channel, dict):
            return channel
        ts = self._next_ts()
        channel.messages.append({"ts": ts, "text": args.get("text", ""), "blocks": args.get("blocks"), "user": "BOT"})
        return {"ok": True, "channel": channel.id, "ts": ts}

    def _chat_update(self, args):
        channel = self._channel(args)
        if isinstance(channel, dict):
            return channel
        for message in channel.messages:
            if message["ts"] == args["ts"]:
                message["text"], message["blocks"] = args.get("text", ""), args.get("blocks")
                return {"ok": True, "channel": channel.id, "ts": args["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _chat_postEphemeral(self, args):
        return {"ok": True, "message_ts": self._next_ts()}

    def _pins_add(self, args):
        channel = self._channel(args)
        if isinstance(channel, dict):
            return channel
        if args["timestamp"] in channel.pins:
            return {"ok": False, "error": "already_pinned"}
        if not any(m["ts"] == args["timestamp"] for m in channel.messages):
            return {"ok": False, "error": "message_not_found"}
        channel.pins.append(args["timestamp"])
        return {"ok": True}
