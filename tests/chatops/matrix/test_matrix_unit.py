"""The Matrix backend's error mapping and the bot's parsing, without a homeserver (these run in every pass).

The homeserver's answers are played by httpx's MockTransport: a 429 with retry_after_ms, a 502, a refused
token that a password login renews. Everything a real server does is in the Synapse tests beside this file.
"""

from __future__ import annotations

import json

import httpx
import pytest
from django.core.management import CommandError, call_command

from chatops.backends.base import Button, ChatMessage, ChatRejected, ChatUnavailable
from chatops.backends.matrix import MatrixBackend, render
from chatops.matrix_sync import _command_text, note_key_matches
from chatops.models import ChatSettings
from tests.integration.harness import free_port


def backend_answering(*answers, password=None):
    """A backend whose homeserver gives these (status, body) answers in turn; returns it and the requests."""
    seen, queue = [], list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = queue.pop(0)
        return httpx.Response(status, json=body)

    backend = MatrixBackend(
        homeserver_url="https://matrix.example.test",
        token=None if password else "tok-1",
        user="fireline" if password else None,
        password=password,
        transport=httpx.MockTransport(handle),
    )
    return backend, seen


def test_a_rate_limited_post_is_transient_and_says_when_to_retry():
    backend, _ = backend_answering((429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 1500}))
    with pytest.raises(ChatUnavailable) as raised:
        backend.message_post("!r:example.test", ChatMessage(text="x"), key="k")
    assert raised.value.retry_after == 1.5


def test_a_429_without_a_body_honours_its_retry_after_header():
    def handle(request):
        return httpx.Response(429, text="slow down", headers={"Retry-After": "7"})

    backend = MatrixBackend(homeserver_url="https://m.example.test", token="t", transport=httpx.MockTransport(handle))
    with pytest.raises(ChatUnavailable) as raised:
        backend.message_post("!r:example.test", ChatMessage(text="x"), key="k")
    assert raised.value.retry_after == 7.0


def test_a_url_that_is_not_a_homeserver_is_a_configuration_error():
    def handle(request):
        return httpx.Response(200, text="<html>Welcome to nginx</html>")

    backend = MatrixBackend(homeserver_url="https://m.example.test", token="t", transport=httpx.MockTransport(handle))
    with pytest.raises(ChatRejected, match="not JSON; check MATRIX_HOMESERVER_URL"):
        backend.room_open(name="x", topic="", private=True)


def test_a_server_error_is_transient_and_a_refusal_is_permanent():
    backend, _ = backend_answering((502, {}), (403, {"errcode": "M_FORBIDDEN", "error": "not in room"}))
    with pytest.raises(ChatUnavailable):
        backend.message_post("!r:example.test", ChatMessage(text="x"), key="k")
    with pytest.raises(ChatRejected, match="M_FORBIDDEN not in room"):
        backend.message_post("!r:example.test", ChatMessage(text="x"), key="k")


def test_the_outbox_key_is_the_transaction_id_and_the_token_stays_out_of_errors():
    backend, seen = backend_answering((200, {"event_id": "$e1"}), (400, {"errcode": "M_BAD_JSON", "error": "bad"}))
    assert backend.message_post("!r:example.test", ChatMessage(text="x"), key="room:matrix:7:timeline:9") == "$e1"
    assert seen[0].method == "PUT"
    assert seen[0].url.raw_path.decode().endswith("/send/m.room.message/room%3Amatrix%3A7%3Atimeline%3A9")
    with pytest.raises(ChatRejected) as raised:
        backend.message_post("!r:example.test", ChatMessage(text="x"), key="k")
    assert "tok-1" not in str(raised.value)


def test_a_refused_login_token_is_renewed_once_with_the_password():
    backend, seen = backend_answering(
        (200, {"access_token": "old", "user_id": "@fireline:example.test"}),
        (401, {"errcode": "M_UNKNOWN_TOKEN", "error": "expired"}),
        (200, {"access_token": "new", "user_id": "@fireline:example.test"}),
        (200, {"event_id": "$e2"}),
        password="s3cret",
    )
    assert backend.message_post("!r:example.test", ChatMessage(text="x"), key="k") == "$e2"
    login = json.loads(seen[0].content)
    assert login["device_id"] == "FIRELINE"  # one device: transaction ids hold across logins
    assert seen[3].headers["Authorization"] == "Bearer new"


def test_a_refused_token_without_a_password_is_a_configuration_error():
    backend, _ = backend_answering((401, {"errcode": "M_UNKNOWN_TOKEN", "error": "gone"}))
    with pytest.raises(ChatRejected):
        backend.room_open(name="x", topic="", private=True)


def test_render_escapes_text_keeps_emphasis_and_names_the_person():
    content = render(
        ChatMessage(text="*INC-3 · SEV1*\n<script>x</script> `code`", buttons=(Button("Acknowledge", "ack", "INC-3"),)),
        mention="@alice:example.test",
    )
    assert content["body"].startswith("alice: *INC-3 · SEV1*")
    assert content["formatted_body"].startswith('<a href="https://matrix.to/#/@alice:example.test">alice</a>: <b>')
    assert "&lt;script&gt;x&lt;/script&gt; <code>code</code>" in content["formatted_body"]
    assert "Acknowledge: !incident ack INC-3" in content["body"]
    assert content["m.mentions"] == {"user_ids": ["@alice:example.test"]}
    assert render(ChatMessage(text="hi"))["m.mentions"] == {}  # a room post pings nobody


@pytest.mark.parametrize(
    "body, expected",
    [
        ("!incident declare SEV2: Bot leaks", "declare SEV2: Bot leaks"),
        ("  !INCIDENT   status INC-4 ", "status INC-4"),
        ("!incident", ""),
        ("!incidents status", None),
        ("please !incident status", None),
        ("status", None),
    ],
)
def test_only_messages_that_start_with_the_command_are_commands(body, expected):
    assert _command_text(body) == expected


@pytest.mark.django_db
def test_the_note_reaction_is_the_configured_one():
    assert note_key_matches("📌") == "pushpin"  # the default
    assert note_key_matches("📌\ufe0f") == "pushpin"
    assert note_key_matches("👍") is None
    ChatSettings.objects.create(backend="matrix", note_reaction="memo")
    assert note_key_matches("📝") == "memo"
    assert note_key_matches("📌") is None


@pytest.mark.django_db
def test_the_bot_command_says_why_it_cannot_reach_the_homeserver(settings):
    from chatops.backends.base import backend_reset

    settings.MATRIX_HOMESERVER_URL = f"http://127.0.0.1:{free_port()}"
    settings.MATRIX_BOT_TOKEN = "tok"
    backend_reset()
    try:
        with pytest.raises(CommandError, match="Matrix: Matrix GET /_matrix/client/v3/account/whoami: ConnectError"):
            call_command("matrix_bot", "--once")
        with pytest.raises(CommandError, match="--timeout"):
            call_command("matrix_bot", "--timeout", "9999")
    finally:
        backend_reset()


@pytest.mark.django_db
def test_the_bot_loop_waits_for_a_homeserver_that_is_down_and_stops_when_asked():
    import threading

    from chatops.matrix_sync import run_forever

    stop, waits = threading.Event(), []

    class Down:
        homeserver_url = "https://matrix.example.test"

        @property
        def user_id(self):
            raise ChatUnavailable("down", retry_after=0.01)

    real_wait = stop.wait

    def wait(seconds):
        waits.append(seconds)
        if len(waits) == 4:
            stop.set()
        return real_wait(0)

    stop.wait = wait
    run_forever(stop=stop, backend=Down())
    assert waits == [1.0, 2.0, 4.0, 8.0]  # backing off, not hammering the homeserver
