"""Chat settings in the admin: which severities open a room, the note reaction, on or off."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from chatops.models import ChatRoom, ChatSettings, SlackRequest
from chatops.tasks import forget_slack_requests
from incidents import services

pytestmark = pytest.mark.django_db


def test_settings_are_edited_in_the_admin(client, superuser):
    client.force_login(superuser)
    # A fresh install has no row: the menu link goes straight to the form, severities as checkboxes.
    first = client.get("/admin/chatops/chatsettings/", follow=True)
    assert first.redirect_chain[-1][0] == "/admin/chatops/chatsettings/add/"
    page = first.content.decode()
    assert 'type="checkbox" name="room_severities" value="SEV1"' in page
    ticked = first.context["adminform"].form["room_severities"].value()
    assert sorted(ticked) == ["SEV1", "SEV2"]  # the defaults start ticked
    response = client.post(
        "/admin/chatops/chatsettings/add/",
        {"backend": "slack", "room_severities": ["SEV1"], "note_reaction": ":memo:", "is_enabled": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = ChatSettings.objects.get()
    assert row.room_severities == ["SEV1"] and row.note_reaction == "memo"
    assert client.get("/admin/chatops/chatsettings/add/").status_code == 403  # one row only
    # From then on the link opens that one row.
    again = client.get("/admin/chatops/chatsettings/")
    assert again.status_code == 302 and again.url == f"/admin/chatops/chatsettings/{row.pk}/change/"


def test_an_unknown_severity_in_the_admin_names_the_field(client, superuser):
    client.force_login(superuser)
    response = client.post(
        "/admin/chatops/chatsettings/add/",
        {"backend": "slack", "room_severities": ["SEV9"], "note_reaction": "pushpin", "is_enabled": "on"},
    )
    assert response.status_code == 200
    assert "room_severities" in response.context["adminform"].form.errors
    assert not ChatSettings.objects.exists()


@pytest.mark.parametrize("severities", [["SEV9"], "SEV1", [1]])
def test_severities_must_be_a_list_of_known_ones(severities):
    with pytest.raises(ValidationError) as error:
        ChatSettings(room_severities=severities).full_clean()
    assert "room_severities" in error.value.message_dict


def test_raising_the_severity_to_a_chosen_one_opens_the_room(slack, commander, opened, committed):
    slack.add_user(commander.email)
    incident = opened(severity_override="SEV3", severity_override_reason="few users")
    assert not ChatRoom.objects.exists()

    committed(
        services.incident_update,
        incident_id=incident.pk,
        changes={"severity_override": "SEV1", "severity_override_reason": "it went public"},
        actor=commander,
    )

    room = ChatRoom.objects.get(incident=incident)
    assert any("Severity SEV3 → SEV1" in t for t in slack.posts(room.room_id))
    assert "· SEV1 ·" in slack.channels[room.room_id].messages[0]["text"]


def test_chat_switched_off_opens_and_posts_nothing(slack, commander, opened):
    ChatSettings.objects.create(is_enabled=False)
    opened(severity_override="SEV1", severity_override_reason="public")
    assert not ChatRoom.objects.exists()
    assert slack.calls == []


def test_answered_requests_are_forgotten_after_an_hour():
    SlackRequest.objects.create(key="sig:v0=old")
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        SlackRequest.objects.create(key="sig:v0=new")
        assert forget_slack_requests() == 1
    assert list(SlackRequest.objects.values_list("key", flat=True)) == ["sig:v0=new"]


def test_without_a_bot_token_no_room_is_opened_and_nothing_fails(slack, commander, opened, settings):
    settings.SLACK_BOT_TOKEN = ""
    incident = opened(severity_override="SEV1", severity_override_reason="public")
    assert not ChatRoom.objects.exists()
    assert not incident.notifications.filter(channel="room").exists()
