"""Rooms through the outbox: paging and acknowledging from chat, drills in their own room, closing archives,
a 429 honours Retry-After, and a failed chat delivery shows on the incident page like any failed notification."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from chatops.models import ChatRoom, ChatSettings
from incidents import services
from incidents.constants import Category, NotificationState, PageState, StakeholderRole
from incidents.models import Notification, Page
from incidents.services.notifications import notification_deliver, notifications_requeue_due
from tests.incidents.factories import make_contact
from tests.incidents.services.test_incidents import prove_fix, send_required_communications, set_fix

pytestmark = pytest.mark.django_db


@pytest.fixture
def cmdr_id(slack, commander, feature):
    return slack.add_user(commander.email)


def on_call(user, name="Oncall"):
    return make_contact(name=name, role=StakeholderRole.ENGINEERING_ON_CALL, email=user.email, user=user, verified=True)


def test_paged_responders_are_invited_and_ack_from_chat_acknowledges_their_page(
    slack, slash, cmdr_id, responder, opened
):
    on_call(responder)
    resp_id = slack.add_user(responder.email)
    incident = opened(severity_override="SEV2", severity_override_reason="many users")
    room = ChatRoom.objects.get(incident=incident)
    page = Page.objects.get(incident=incident)
    assert resp_id in slack.channels[room.room_id].members
    assert any(t.startswith("Paged Oncall") for t in slack.posts(room.room_id))
    assert "Waiting for: Oncall" in slack.channels[room.room_id].messages[0]["text"]

    reply = json.loads(slash(resp_id, "ack", channel_id=room.room_id).content)

    page.refresh_from_db()
    assert page.state == PageState.ACKNOWLEDGED and page.acknowledged_via == "slack"
    assert page.acknowledged_by == responder
    assert "acknowledged 1 page" in reply["text"]
    assert "Waiting for" not in slack.channels[room.room_id].messages[0]["text"]
    again = json.loads(slash(resp_id, f"ack {incident.reference}").content)
    assert again["response_type"] == "ephemeral" and "no open page" in again["text"]


def test_page_a_role_from_chat(slack, slash, cmdr_id, responder, opened):
    incident = opened(severity_override="SEV2", severity_override_reason="many users")
    room = ChatRoom.objects.get(incident=incident).room_id
    legal = make_contact(name="Lawyer", role=StakeholderRole.LEGAL, email="lawyer@example.com", verified=True)

    reply = json.loads(slash(cmdr_id, "page legal", channel_id=room).content)

    assert Page.objects.filter(incident=incident, contact=legal).exists()
    assert "paged Lawyer" in reply["text"]
    unknown = json.loads(slash(cmdr_id, "page astrologer", channel_id=room).content)
    assert unknown["response_type"] == "ephemeral" and "legal" in unknown["text"]


def test_a_drill_runs_in_its_own_room_marked_drill(slack, cmdr_id, opened):
    real = opened(severity_override="SEV1", severity_override_reason="real")
    drill = opened(
        title="Practice: bot leaks", severity_override="SEV1", severity_override_reason="drill", is_drill=True
    )

    real_room = ChatRoom.objects.get(incident=real).room_id
    drill_room = ChatRoom.objects.get(incident=drill).room_id
    assert real_room != drill_room
    assert slack.channels[drill_room].name.startswith("drill-")
    assert slack.channels[drill_room].topic.startswith("DRILL")
    assert slack.channels[drill_room].messages[0]["text"].startswith("*DRILL · ")
    assert not any(drill.reference in t for t in slack.posts(real_room))
    assert not any(real.reference in t for t in slack.posts(drill_room))


def test_closing_posts_the_postmortem_link_then_archives(slack, cmdr_id, commander, open_incident, committed):
    ChatSettings.objects.create(room_severities=["SEV1", "SEV2", "SEV3", "SEV4"])  # set in the admin
    incident = committed(open_incident, category=Category.CAPABILITY_LOSS)
    assert incident.severity == "SEV4"
    room = ChatRoom.objects.get(incident=incident).room_id

    def close():
        services.incident_triage(incident_id=incident.pk, actor=commander)
        services.incident_investigate_without_containment(incident_id=incident.pk, reason="minor", actor=commander)
        set_fix(incident, commander)
        services.incident_mark_fixed(incident_id=incident.pk, actor=commander)
        send_required_communications(incident, commander)
        prove_fix(incident, commander)
        services.incident_verify(incident_id=incident.pk, actor=commander)
        services.incident_close(incident_id=incident.pk, actor=commander)

    committed(close)

    channel = slack.channels[room]
    assert channel.is_archived
    assert "is closed. Post-mortem: http" in slack.posts(room)[-1]
    assert ChatRoom.objects.get(incident=incident).archived_at is not None


def test_a_429_is_retried_after_its_retry_after(slack, cmdr_id, opened):
    slack.rate_limited, slack.retry_after = 1, 120

    incident = opened(severity_override="SEV2", severity_override_reason="many users")

    waiting = Notification.objects.get(incident=incident, channel="room", state=NotificationState.PENDING)
    assert "429" in waiting.last_error
    assert waiting.next_attempt_at >= timezone.now() + timedelta(seconds=110)  # not the 5 s backoff
    with time_machine.travel(timezone.now() + timedelta(seconds=130)):
        assert notification_deliver(notification_id=waiting.pk).status == "sent"


def test_a_failed_chat_delivery_shows_on_the_incident_page(slack, cmdr_id, opened, client, superuser, settings):
    settings.FIRELINE_NOTIFY_MAX_ATTEMPTS = 1
    slack.stop()

    incident = opened(severity_override="SEV2", severity_override_reason="many users")

    failed = Notification.objects.filter(incident=incident, channel="room", state=NotificationState.FAILED)
    assert failed.exists()
    client.force_login(superuser)
    page = client.get(f"/admin/incidents/incident/{incident.pk}/change/").content.decode()
    assert "incident chat room after 1 attempts" in page.lower()
    assert "Could not reach" in page  # the timeline says so too


def test_the_manifest_names_fireline_request_urls(capsys, settings):
    call_command("slack_manifest", "--base-url", "https://fireline.example.com")
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["features"]["slash_commands"][0]["command"] == "/incident"
    assert manifest["features"]["slash_commands"][0]["url"] == "https://fireline.example.com/chat/slack/commands"
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/chat/slack/interactions")
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["reaction_added"]
    assert "users:read.email" in manifest["oauth_config"]["scopes"]["bot"]


def test_a_requeue_after_an_outage_sends_what_was_waiting(slack, cmdr_id, opened):
    slack.stop()
    incident = opened(severity_override="SEV2", severity_override_reason="many users")
    assert Notification.objects.filter(incident=incident, channel="room", state=NotificationState.PENDING).exists()
    slack.start()
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        notifications_requeue_due()
    assert not Notification.objects.filter(channel="room").exclude(state=NotificationState.SENT).exists()
