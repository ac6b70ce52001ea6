"""A real Synapse homeserver for the Matrix tests: generated config, loopback only, SQLite, started and stopped here.

Synapse lives in its own virtualenv (`make synapse` builds .venv-synapse from synapse-requirements.txt) so its
dependencies never move Fireline's pins. FIRELINE_SYNAPSE_PYTHON points at another interpreter that has it.
Users are created through the admin API with the registration shared secret, as an operator would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from tests.integration.harness import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVER_NAME = "localhost"


def synapse_python() -> Path | None:
    """The interpreter that has Synapse installed, or None when this machine has none."""
    configured = os.environ.get("FIRELINE_SYNAPSE_PYTHON")
    path = Path(configured) if configured else REPO_ROOT / ".venv-synapse" / "bin" / "python"
    return path if path.exists() else None


# Every limit Synapse applies to a client, opened wide: a test burst is not abuse.
_WIDE = {"per_second": 10000, "burst_count": 100000}
RATE_LIMITS = {
    "rc_message": _WIDE,
    "rc_registration": _WIDE,
    "rc_login": {"address": _WIDE, "account": _WIDE, "failed_attempts": _WIDE},
    "rc_admin_redaction": _WIDE,
    "rc_joins": {"local": _WIDE, "remote": _WIDE},
    "rc_joins_per_room": _WIDE,
    "rc_3pid_validation": _WIDE,
    "rc_invites": {"per_room": _WIDE, "per_user": _WIDE, "per_issuer": _WIDE},
    "rc_room_creation": _WIDE,
    "rc_presence": {"per_user": _WIDE},
    "rc_delayed_event_mgmt": _WIDE,
    "rc_reports": _WIDE,
}


@dataclass
class MatrixUser:
    user_id: str
    access_token: str
    password: str


class SynapseServer:
    """One homeserver in `directory`; stop() and start() again keep its data (a fault test's outage)."""

    def __init__(self, directory: Path, python: Path):
        self.directory = directory
        self.python = python
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.shared_secret = secrets.token_urlsafe(32)
        self.process: subprocess.Popen | None = None
        self.config = directory / "homeserver.yaml"
        self.overrides = directory / "fireline-test.yaml"
        self.log = directory / "synapse.log"

    def generate(self) -> None:
        subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [
                str(self.python),
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                SERVER_NAME,
                "--config-path",
                str(self.config),
                "--data-directory",
                str(self.directory),
                "--generate-config",
                "--report-stats=no",
            ],
            cwd=self.directory,
            check=True,
            capture_output=True,
            timeout=120,
        )
        log_config = self.directory / "log.yaml"
        # JSON is YAML: Synapse reads both files; the second one's top-level keys win.
        log_config.write_text(
            json.dumps(
                {
                    "version": 1,
                    "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
                    "handlers": {
                        "file": {"class": "logging.FileHandler", "filename": str(self.log), "formatter": "plain"}
                    },
                    "root": {"level": "WARNING", "handlers": ["file"]},
                    "disable_existing_loggers": False,
                }
            )
        )
        overrides = {
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(self.directory / "homeserver.db")}},
            "log_config": str(log_config),
            "registration_shared_secret": self.shared_secret,
            "enable_registration": False,
            "federation_domain_whitelist": [],
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "enable_metrics": False,
            "report_stats": False,
            "user_directory": {"enabled": False},
            # Synapse answers a repeat of a recent /sync from a 2-minute cache. Each test's database is new, so
            # the bot's first round (no stored position) repeats within it and would get a stale position.
            "caches": {"sync_response_cache_duration": 0},
            **RATE_LIMITS,
        }
        self.overrides.write_text(json.dumps(overrides, indent=1))

    def start(self, timeout: float = 90.0) -> None:
        assert self.process is None, "already running"
        with open(self.directory / "synapse.out", "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [
                    str(self.python),
                    "-m",
                    "synapse.app.homeserver",
                    "--config-path",
                    str(self.config),
                    "--config-path",
                    str(self.overrides),
                ],
                cwd=self.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise RuntimeError(f"Synapse exited with {code} while starting:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/_matrix/client/versions", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Synapse did not answer /_matrix/client/versions within {timeout:.0f} s:\n{self.tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        text = ""
        for name in ("synapse.out", "synapse.log"):
            path = self.directory / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def register(self, localpart: str, *, admin: bool = False) -> MatrixUser:
        """A real account through /_synapse/admin/v1/register, signed with the shared secret (HMAC-SHA1)."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        nonce = httpx.get(endpoint, timeout=10).raise_for_status().json()["nonce"]
        password = secrets.token_urlsafe(16)
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), b"admin" if admin else b"notadmin"])
        )
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac.hexdigest()}
        data = httpx.post(endpoint, json=body, timeout=30).raise_for_status().json()
        return MatrixUser(user_id=data["user_id"], access_token=data["access_token"], password=password)

    def set_email(self, admin: MatrixUser, user_id: str, email: str) -> None:
        """Give the account an email the server has validated (an address added by an admin counts as validated)."""
        response = httpx.put(
            f"{self.url}/_synapse/admin/v2/users/{quote(user_id)}",
            json={"threepids": [{"medium": "email", "address": email}]},
            headers={"Authorization": f"Bearer {admin.access_token}"},
            timeout=30,
        )
        response.raise_for_status()


class MatrixClient:
    """What a person's Matrix client does, for the tests: join, speak, react, read a room."""

    def __init__(self, server: SynapseServer, user: MatrixUser):
        self.server, self.user = server, user

    @property
    def user_id(self) -> str:
        return self.user.user_id

    def request(self, method: str, path: str, **kwargs) -> dict:
        response = httpx.request(
            method,
            f"{self.server.url}/_matrix/client/v3{path}",
            headers={"Authorization": f"Bearer {self.user.access_token}"},
            timeout=30,
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def create_room(self, *, invite: list[str] = (), name: str = "") -> str:
        body = {"preset": "private_chat", "invite": list(invite)}
        if name:
            body["name"] = name
        return self.request("POST", "/createRoom", json=body)["room_id"]

    def join(self, room_id: str) -> None:
        self.request("POST", f"/join/{quote(room_id)}", json={})

    def invited_rooms(self) -> list[str]:
        data = self.request(
            "GET", "/sync", params={"timeout": 0, "filter": json.dumps({"room": {"timeline": {"limit": 0}}})}
        )
        return list(data.get("rooms", {}).get("invite", {}))

    def joined_rooms(self) -> list[str]:
        return self.request("GET", "/joined_rooms")["joined_rooms"]

    def say(self, room_id: str, text: str) -> str:
        txn = secrets.token_hex(8)
        return self.request(
            "PUT", f"/rooms/{quote(room_id)}/send/m.room.message/{txn}", json={"msgtype": "m.text", "body": text}
        )["event_id"]

    def edit(self, room_id: str, event_id: str, text: str) -> str:
        new = {"msgtype": "m.text", "body": text}
        content = {
            **new,
            "body": f"* {text}",
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        }
        txn = secrets.token_hex(8)
        return self.request("PUT", f"/rooms/{quote(room_id)}/send/m.room.message/{txn}", json=content)["event_id"]

    def react(self, room_id: str, event_id: str, key: str) -> str:
        txn = secrets.token_hex(8)
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return self.request("PUT", f"/rooms/{quote(room_id)}/send/m.reaction/{txn}", json=content)["event_id"]

    def messages(self, room_id: str) -> list[dict]:
        """All the room's events this person may see, oldest first (page by page, as a client scrolls back)."""
        events, token = [], None
        while True:
            params = {"dir": "b", "limit": 200, **({"from": token} if token else {})}
            data = self.request("GET", f"/rooms/{quote(room_id)}/messages", params=params)
            events.extend(data["chunk"])
            token = data.get("end")
            if not data["chunk"] or not token:
                return list(reversed(events))

    def state(self, room_id: str, event_type: str, state_key: str = "") -> dict:
        return self.request("GET", f"/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}")

    def members(self, room_id: str) -> dict[str, str]:
        data = self.request("GET", f"/rooms/{quote(room_id)}/members")
        return {event["state_key"]: event["content"]["membership"] for event in data["chunk"]}


# --- what a person sees in a room ---------------------------------------------------------------------


def lobby(bot, client) -> str:
    """A room the person made and invited the bot to; the bot joins on its next round."""
    room_id = client.create_room(invite=[bot.backend.user_id])
    assert bot.round().joined >= 1
    return room_id


def bot_notices(client, room_id) -> list[dict]:
    """What the bot said in the room, oldest first (edits of the summary left out)."""
    return [
        e["content"]
        for e in client.messages(room_id)
        if e["type"] == "m.room.message"
        and e["sender"].startswith("@fireline:")
        and e["content"].get("msgtype") == "m.notice"
        and (e["content"].get("m.relates_to") or {}).get("rel_type") != "m.replace"
    ]


def last_reply(client, room_id) -> dict:
    return bot_notices(client, room_id)[-1]


def latest_text(client, room_id, event_id) -> str:
    """What a Matrix client shows for a message: its latest edit, or itself."""
    event = client.request("GET", f"/rooms/{room_id}/event/{event_id}")
    edit = (event.get("unsigned", {}).get("m.relations") or {}).get("m.replace")
    if edit is None:
        return event["content"]["body"]
    return client.request("GET", f"/rooms/{room_id}/event/{edit['event_id']}")["content"]["m.new_content"]["body"]
