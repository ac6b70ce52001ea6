"""Fireline's Slack endpoints refuse anything Slack did not sign, answer a replay from the first answer, and
handle an event Slack retries once."""

import json
import time
from urllib.parse import urlencode

import pytest

from chatops.models import ChatRoom, SlackRequest
from incidents.models import Incident, TimelineEntry
from tests.chatops.conftest import signed_headers

pytestmark = pytest.mark.django_db

PATHS = ["/chat/slack/commands", "/chat/slack/interactions", "/chat/slack/events"]


@pytest.fixture
def cmdr_id(slack, commander, feature):
    return slack.add_user(commander.email)


def declare_body(user_id: str) -> bytes:
    return urlencode({"command": "/incident", "text": "declare SEV1 support-bot: Forged", "user_id": user_id}).encode()


@pytest.mark.parametrize("path", PATHS)
def test_unsigned_forged_and_stale_requests_are_refused_and_run_nothing(client, slack, cmdr_id, path):
    body = declare_body(cmdr_id)
    form = "application/x-www-form-urlencoded"
    good = signed_headers(body)
    attempts = {
        "unsigned": {},
        "no timestamp": {"HTTP_X_SLACK_SIGNATURE": good["HTTP_X_SLACK_SIGNATURE"]},
        "wrong secret": signed_headers(body, secret="not-the-secret"),
        "altered body": {**good},
        "stale": signed_headers(body, timestamp=int(time.time()) - 6 * 60),
        "from the future": signed_headers(body, timestamp=int(time.time()) + 6 * 60),
    }
    for name, headers in attempts.items():
        sent = body + b"x" if name == "altered body" else body
        response = client.post(path, data=sent, content_type=form, **headers)
        assert response.status_code == 401, name
    assert not Incident.objects.exists()
    assert not SlackRequest.objects.exists()
    assert slack.calls == []


def test_no_signing_secret_configured_refuses_everything(client, slack, cmdr_id, settings):
    body = declare_body(cmdr_id)
    headers = signed_headers(body)
    settings.SLACK_SIGNING_SECRET = ""

    response = client.post(
        "/chat/slack/commands", data=body, content_type="application/x-www-form-urlencoded", **headers
    )

    assert response.status_code == 401
    assert not Incident.objects.exists()


def test_a_replayed_command_runs_once_and_gets_the_first_answer(
    client, slack, cmdr_id, django_capture_on_commit_callbacks
):
    body = declare_body(cmdr_id)
    headers = signed_headers(body)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(
            "/chat/slack/commands", data=body, content_type="application/x-www-form-urlencoded", **headers
        )
        again = client.post(
            "/chat/slack/commands", data=body, content_type="application/x-www-form-urlencoded", **headers
        )

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert Incident.objects.count() == 1
    assert len(slack.called("conversations.create")) == 1


def test_commands_are_csrf_exempt(slack, cmdr_id):
    from django.test import Client

    body = urlencode({"text": "help", "user_id": cmdr_id}).encode()
    response = Client(enforce_csrf_checks=True).post(
        "/chat/slack/commands", data=body, content_type="application/x-www-form-urlencoded", **signed_headers(body)
    )
    assert response.status_code == 200
    assert "declare" in json.loads(response.content)["text"]


def test_url_verification_answers_the_challenge(client, slack):
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aB"}).encode()
    response = client.post("/chat/slack/events", data=body, content_type="application/json", **signed_headers(body))
    assert json.loads(response.content) == {"challenge": "3eZbrw1aB"}


def test_a_pushpin_reaction_makes_a_timeline_note_once_even_when_slack_retries(
    slack, cmdr_id, commander, responder, event, opened
):
    incident = opened(severity_override="SEV2", severity_override_reason="many users")
    room = ChatRoom.objects.get(incident=incident).room_id
    author_id = slack.add_user(responder.email)
    incident.members.add(responder)
    ts = slack.post_user_message(room, author_id, "Canary traffic is back to normal at 14:02")
    reaction = {
        "type": "reaction_added",
        "user": cmdr_id,
        "reaction": "pushpin",
        "item_user": author_id,
        "item": {"type": "message", "channel": room, "ts": ts},
        "event_ts": ts,
    }

    assert event("Ev01", reaction).status_code == 200
    assert (
        event("Ev01", reaction, HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="http_timeout").status_code == 200
    )

    note = TimelineEntry.objects.get(incident=incident, kind="note")
    assert note.text == "Canary traffic is back to normal at 14:02"
    assert note.actor == responder  # the message's author, at the message's time
    assert abs(note.occurred_at.timestamp() - float(ts)) < 0.001


def test_other_reactions_and_unknown_markers_make_no_note(slack, cmdr_id, event, opened):
    incident = opened(severity_override="SEV2", severity_override_reason="many users")
    room = ChatRoom.objects.get(incident=incident).room_id
    ts = slack.post_user_message(room, cmdr_id, "Just chatting")
    stranger = slack.add_user("stranger@elsewhere.example")

    base = {"type": "reaction_added", "item_user": cmdr_id, "item": {"type": "message", "channel": room, "ts": ts}}
    event("Ev10", {**base, "user": cmdr_id, "reaction": "thumbsup"})
    event("Ev11", {**base, "user": stranger, "reaction": "pushpin"})

    assert not TimelineEntry.objects.filter(kind="note").exists()


@pytest.mark.parametrize(
    "path,body,content_type",
    [
        ("/chat/slack/interactions", urlencode({"payload": "{not json"}).encode(), "application/x-www-form-urlencoded"),
        (
            "/chat/slack/interactions",
            urlencode({"payload": json.dumps({"type": "block_actions", "actions": ["x"], "user": "U1"})}).encode(),
            "application/x-www-form-urlencoded",
        ),
        ("/chat/slack/events", b"[1, 2]", "application/json"),
        (
            "/chat/slack/events",
            json.dumps({"type": "event_callback", "event_id": "E1", "event": [1]}).encode(),
            "application/json",
        ),
    ],
)
def test_signed_but_malformed_bodies_are_a_400_naming_the_part(client, slack, path, body, content_type):
    response = client.post(path, data=body, content_type=content_type, **signed_headers(body))
    assert response.status_code == 400
    assert json.loads(response.content)["error"].split(":")[0] in ("payload", "body", "event")
