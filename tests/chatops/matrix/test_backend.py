"""The Matrix backend's outbound calls against a real Synapse: what a person in the room sees."""

from __future__ import annotations

import httpx
import pytest

from chatops.backends.base import Button, ChatMessage, ChatRejected, ChatUnavailable
from chatops.backends.matrix import MatrixBackend

pytestmark = pytest.mark.chat


def texts(client, room_id, msgtype=None):
    return [
        e["content"].get("body")
        for e in client.messages(room_id)
        if e["type"] == "m.room.message" and (msgtype is None or e["content"].get("msgtype") == msgtype)
    ]


def test_a_private_room_is_invite_only_and_invited_people_can_join(homeserver, matrix_backend):
    alice, mallory = homeserver.people["alice"], homeserver.people["mallory"]
    room_id = matrix_backend.room_open(name="INC-1 Bot leaks prompts", topic="SEV2, triage", private=True)
    matrix_backend.room_invite(room_id, [alice.user_id])
    matrix_backend.room_invite(room_id, [alice.user_id])  # again: nothing new, no error
    alice.join(room_id)
    matrix_backend.room_invite(room_id, [alice.user_id])  # already joined: still fine

    assert alice.state(room_id, "m.room.join_rules")["join_rule"] == "invite"
    assert alice.state(room_id, "m.room.name")["name"] == "INC-1 Bot leaks prompts"
    assert alice.state(room_id, "m.room.topic")["topic"] == "SEV2, triage"
    with pytest.raises(httpx.HTTPStatusError) as refused:
        mallory.join(room_id)
    assert refused.value.response.status_code == 403
    with pytest.raises(httpx.HTTPStatusError) as refused:  # only the bot invites into a private room
        alice.request("POST", f"/rooms/{room_id}/invite", json={"user_id": mallory.user_id})
    assert refused.value.response.status_code == 403


def test_a_public_room_is_open_to_join_but_not_listed_in_the_directory(homeserver, matrix_backend):
    room_id = matrix_backend.room_open(name="INC-2 Wrong answers", topic="", private=False)
    bob = homeserver.people["bob"]
    bob.join(room_id)
    assert bob.user_id in bob.request("GET", f"/rooms/{room_id}/joined_members")["joined"]
    listed = bob.request("GET", "/publicRooms")["chunk"]
    assert room_id not in [room["room_id"] for room in listed]


def test_a_retried_post_with_the_same_key_is_shown_once(homeserver, matrix_backend):
    alice = homeserver.people["alice"]
    room_id = matrix_backend.room_open(name="INC-3", topic="", private=True)
    matrix_backend.room_invite(room_id, [alice.user_id])
    alice.join(room_id)

    first = matrix_backend.message_post(room_id, ChatMessage(text="Contained: kill switch on"), key="notify:42")
    again = matrix_backend.message_post(room_id, ChatMessage(text="Contained: kill switch on"), key="notify:42")
    other = matrix_backend.message_post(room_id, ChatMessage(text="Contained: kill switch on"), key="notify:43")

    assert first == again != other
    assert texts(alice, room_id).count("Contained: kill switch on") == 2


def test_a_message_renders_text_html_context_and_buttons_as_commands(homeserver, matrix_backend):
    alice = homeserver.people["alice"]
    room_id = matrix_backend.room_open(name="INC-4", topic="", private=True)
    matrix_backend.room_invite(room_id, [alice.user_id])
    alice.join(room_id)
    message = ChatMessage(
        text="INC-4 <b>SEV1</b>\nState: triage",
        context="Updated just now",
        buttons=(Button(label="Acknowledge", action="ack"), Button(label="Next step", action="next")),
    )
    event_id = matrix_backend.message_post(room_id, message, key="summary:4")

    content = alice.request("GET", f"/rooms/{room_id}/event/{event_id}")["content"]
    assert content["body"].splitlines()[:3] == ["INC-4 <b>SEV1</b>", "State: triage", "Updated just now"]
    assert "Acknowledge: !incident ack" in content["body"]
    assert "Next step: !incident next" in content["body"]
    assert "&lt;b&gt;SEV1&lt;/b&gt;" in content["formatted_body"]  # the title is text, never markup
    assert "<b>SEV1</b>" not in content["formatted_body"]


def test_an_edit_replaces_the_pinned_summary(homeserver, matrix_backend):
    alice = homeserver.people["alice"]
    room_id = matrix_backend.room_open(name="INC-5", topic="", private=True)
    matrix_backend.room_invite(room_id, [alice.user_id])
    alice.join(room_id)
    event_id = matrix_backend.message_post(room_id, ChatMessage(text="State: triage"), key="summary:5")
    matrix_backend.message_pin(room_id, event_id)
    matrix_backend.message_pin(room_id, event_id)  # twice: pinned once
    matrix_backend.message_update(room_id, event_id, ChatMessage(text="State: contained"))

    assert alice.state(room_id, "m.room.pinned_events")["pinned"] == [event_id]
    original = alice.request("GET", f"/rooms/{room_id}/event/{event_id}")
    latest = original["unsigned"]["m.relations"]["m.replace"]
    edit = alice.request("GET", f"/rooms/{room_id}/event/{latest['event_id']}")
    assert edit["content"]["m.new_content"]["body"] == "State: contained"


def test_archiving_closes_the_topic_makes_the_room_read_only_and_the_bot_leaves(homeserver, matrix_backend):
    alice = homeserver.people["alice"]
    room_id = matrix_backend.room_open(name="INC-6", topic="SEV3, resolved", private=True)
    matrix_backend.room_invite(room_id, [alice.user_id])
    alice.join(room_id)

    matrix_backend.room_archive(room_id)
    matrix_backend.room_archive(room_id)  # again: nothing to do, no error

    assert alice.state(room_id, "m.room.topic")["topic"] == "Closed: SEV3, resolved"
    assert alice.members(room_id)[homeserver.bot.user_id] == "leave"
    with pytest.raises(httpx.HTTPStatusError) as refused:
        alice.say(room_id, "one more thing")
    assert refused.value.response.status_code == 403
    with pytest.raises(ChatRejected):  # the bot is gone: a late post is refused for good, not retried
        matrix_backend.message_post(room_id, ChatMessage(text="late"), key="late:6")


def test_identities_come_from_validated_emails_on_the_server(homeserver, matrix_backend):
    alice, mallory = homeserver.people["alice"], homeserver.people["mallory"]
    assert matrix_backend.user_for_email("Alice@Fireline.test") == alice.user_id
    assert matrix_backend.user_for_email("nobody@fireline.test") is None
    assert matrix_backend.email_for_user(alice.user_id) == "alice@fireline.test"
    assert matrix_backend.email_for_user(mallory.user_id) is None  # an account without an email
    assert matrix_backend.email_for_user("@ghost:localhost") is None
    assert matrix_backend.email_for_user("@alice:elsewhere.example") is None


def test_a_password_login_reuses_one_device(homeserver, monkeypatch):
    first = MatrixBackend(homeserver_url=homeserver.url, user="fireline", password=homeserver.bot_user.password)
    second = MatrixBackend(homeserver_url=homeserver.url, user="fireline", password=homeserver.bot_user.password)
    assert first.user_id == second.user_id == homeserver.bot.user_id
    room_id = first.room_open(name="INC-7", topic="", private=True)
    # A retry from another process (a restarted worker logs in again) is still the same transaction.
    assert first.message_post(room_id, ChatMessage(text="once"), key="k:7") == second.message_post(
        room_id, ChatMessage(text="once"), key="k:7"
    )


def test_errors_are_transient_or_permanent(homeserver, matrix_backend):
    with pytest.raises(ChatRejected):  # a room the bot is not in
        matrix_backend.message_post("!nowhere:localhost", ChatMessage(text="x"), key="k:1")
    with pytest.raises(ChatRejected):  # a bad token is a configuration error, not an outage
        MatrixBackend(homeserver_url=homeserver.url, token="not-a-token").room_open(name="x", topic="", private=True)
    from tests.integration.harness import free_port

    down = MatrixBackend(homeserver_url=f"http://127.0.0.1:{free_port()}", token="t")
    with pytest.raises(ChatUnavailable):
        down.message_post("!r:localhost", ChatMessage(text="x"), key="k:2")
    with pytest.raises(ChatRejected, match="MATRIX_HOMESERVER_URL"):
        MatrixBackend(homeserver_url="", token="t").room_open(name="x", topic="", private=True)
