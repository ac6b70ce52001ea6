"""Fixtures for the Slack side of chat-ops: the Web API stand-in, and correctly signed requests."""

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from django.core.cache import cache

from chatops.backends.base import backend_reset
from tests.chatops.slack_standin import SlackStandIn

SIGNING_SECRET = "test-signing-secret-8f2c"


@pytest.fixture
def slack(settings):
    """A running stand-in, Fireline configured to talk to it (bot token, API URL, signing secret)."""
    standin = SlackStandIn().start()
    settings.SLACK_API_URL = standin.api_url
    settings.SLACK_BOT_TOKEN = standin.token
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    backend_reset()
    cache.clear()
    yield standin
    standin.stop()
    backend_reset()
    cache.clear()


def signature(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts, "HTTP_X_SLACK_SIGNATURE": signature(body, ts, secret)}


@pytest.fixture
def slash(client, django_capture_on_commit_callbacks):
    """POST a signed `/incident <text>` as Slack does; returns the response."""

    def run(user_id: str, text: str, channel_id: str = "D0001", **headers):
        body = urlencode(
            {
                "command": "/incident",
                "text": text,
                "user_id": user_id,
                "channel_id": channel_id,
                "response_url": "https://hooks.slack.com/commands/T1/1/abc",
                "trigger_id": "1.2.3",
            }
        ).encode()
        with django_capture_on_commit_callbacks(execute=True):  # as a committed request: the outbox runs
            return client.post(
                "/chat/slack/commands",
                data=body,
                content_type="application/x-www-form-urlencoded",
                **{**signed_headers(body), **headers},
            )

    return run


@pytest.fixture
def press(client, slack, django_capture_on_commit_callbacks):
    """POST a signed button press (block_actions) as Slack does."""

    def run(user_id: str, action: str, value: str, channel_id: str = "C00001"):
        payload = {
            "type": "block_actions",
            "user": {"id": user_id},
            "channel": {"id": channel_id},
            "response_url": slack.response_url("press"),
            "actions": [{"action_id": f"fireline:{action}:0", "value": f"{action}|{value}"}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/chat/slack/interactions",
                data=body,
                content_type="application/x-www-form-urlencoded",
                **signed_headers(body),
            )

    return run


@pytest.fixture
def event(client, django_capture_on_commit_callbacks):
    """POST a signed Events API callback; extra headers (X-Slack-Retry-Num) as keyword arguments."""

    def run(event_id: str, event_body: dict, **headers):
        body = json.dumps({"type": "event_callback", "event_id": event_id, "event": event_body}).encode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/chat/slack/events", data=body, content_type="application/json", **{**signed_headers(body), **headers}
            )

    return run


@pytest.fixture
def opened(open_incident, committed):
    """Open an incident through the service and let its outbox rows go out, as after a commit."""

    def make(**kwargs):
        return committed(open_incident, **kwargs)

    return make
