"""Slack end to end through Fireline's endpoints: correctly signed requests in, the real slack-sdk client out
to the Web API stand-in."""

import json

import pytest

from chatops.models import ChatRoom
from incidents.constants import Category, ContainmentType
from incidents.models import ContainmentAction, Incident, TimelineEntry
from tests.incidents.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(slack, commander, responder, feature):
    """The commander and a responder have Slack accounts with their verified emails."""
    return {
        "cmdr": slack.add_user(commander.email),
        "resp": slack.add_user(responder.email),
    }


def answer(response) -> dict:
    assert response.status_code == 200, response.content[:300]
    return json.loads(response.content)


def test_declare_opens_a_room_invites_the_commander_and_pins_a_summary(slack, slash, people, commander):
    reply = answer(slash(people["cmdr"], "declare SEV2 support-bot: Bot leaks order numbers"))

    incident = Incident.objects.get()
    assert reply["response_type"] == "in_channel"
    assert incident.reference in reply["text"]
    assert incident.commander == commander and incident.severity == "SEV2"
    room = ChatRoom.objects.get(incident=incident)
    channel = slack.channels[room.room_id]
    assert channel.name == f"{incident.reference.lower()}-bot-leaks-order-numbers"
    assert not channel.is_private
    assert people["cmdr"] in channel.members
    summary = channel.messages[0]
    assert channel.pins == [summary["ts"]]
    assert f"{incident.reference} · SEV2" in summary["text"]
    labels = [e["text"]["text"] for e in summary["blocks"][-1]["elements"]]
    assert labels == ["Acknowledge", "Contain now", "Next step"]
    assert any("Incident opened" in text for text in slack.posts(room.room_id))


def test_a_restricted_incident_gets_a_private_room(slack, people, opened):
    incident = opened(category=Category.DATA_LEAK, severity_override="SEV1", severity_override_reason="leak")

    assert incident.is_restricted
    room = ChatRoom.objects.get(incident=incident)
    assert slack.channels[room.room_id].is_private
    assert slack.called("conversations.create")[0]["is_private"] in (True, "1", "true")


def test_a_low_severity_incident_gets_no_room(slack, people, opened):
    opened(severity_override="SEV4", severity_override_reason="minor")

    assert not ChatRoom.objects.exists()
    assert slack.called("conversations.create") == []


def test_an_unknown_chat_user_can_do_nothing_and_is_told_why(slack, slash, people):
    stranger = slack.add_user("nobody@elsewhere.example")
    unverified = slack.add_user(UserFactory(username="unverified").email, confirmed=False)

    for user_id in (stranger, unverified, "U9999"):
        reply = answer(slash(user_id, "declare SEV1 support-bot: Someone else's incident"))
        assert reply["response_type"] == "ephemeral"
        assert "Fireline does not know you" in reply["text"]
    assert not Incident.objects.exists()


def test_a_restricted_incident_answers_like_an_unknown_one(slack, slash, people, opened):
    hidden = opened(category=Category.DATA_LEAK, severity_override="SEV1", severity_override_reason="leak")
    outsider = UserFactory(username="outsider", role="Responder")
    outsider_id = slack.add_user(outsider.email)

    for text in (
        f"status {hidden.reference}",
        f"note {hidden.reference} leaked rows",
        f"contain feature_flag_off {hidden.reference}",
    ):
        hidden_reply = answer(slash(outsider_id, text))
        missing_reply = answer(slash(outsider_id, text.replace(hidden.reference, "INC-987654")))
        assert hidden_reply == missing_reply
        assert hidden_reply["response_type"] == "ephemeral"
    assert not ContainmentAction.objects.exists()
    assert not TimelineEntry.objects.filter(kind="note").exists()


def test_commands_in_the_room_call_the_services(slack, slash, people, commander, opened):
    incident = opened(severity_override="SEV2", severity_override_reason="many users")
    room = ChatRoom.objects.get(incident=incident).room_id

    status = answer(slash(people["cmdr"], "status", channel_id=room))
    assert status["response_type"] == "in_channel" and incident.reference in status["text"]

    contained = answer(slash(people["cmdr"], "contain feature_flag_off", channel_id=room))
    action = ContainmentAction.objects.get(incident=incident)
    assert action.action_type == ContainmentType.FEATURE_FLAG_OFF and action.actor == commander
    assert f"#{action.pk}" in contained["text"]
    assert any("Containment: Feature flag off" in t for t in slack.posts(room))
    summary = slack.channels[room].messages[0]
    assert f"#{action.pk} Feature flag off" in summary["text"]  # the pinned summary was kept up to date

    bad = answer(slash(people["cmdr"], "contain unplug", channel_id=room))
    assert bad["response_type"] == "ephemeral" and "feature_flag_off" in bad["text"]

    lifted = answer(slash(people["cmdr"], f"lift {action.pk} traffic is clean again", channel_id=room))
    action.refresh_from_db()
    assert action.reverted_at is not None and action.revert_reason == "traffic is clean again"
    assert "lifted" in lifted["text"]

    note = answer(slash(people["cmdr"], "note Rolled the canary back by hand", channel_id=room))
    assert note["response_type"] == "ephemeral"
    assert TimelineEntry.objects.get(kind="note").text == "Rolled the canary back by hand"


def test_a_viewer_is_told_the_guard_words(slack, slash, viewer, opened):
    incident = opened(severity_override="SEV2", severity_override_reason="many users")
    viewer_id = slack.add_user(viewer.email)

    reply = answer(slash(viewer_id, f"contain feature_flag_off {incident.reference}"))

    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == "You may not record containment actions."
    assert not ContainmentAction.objects.exists()


def test_next_shows_buttons_and_a_button_takes_the_step(slack, slash, press, people, opened):
    incident = opened(severity_override="SEV2", severity_override_reason="many users")
    room = ChatRoom.objects.get(incident=incident).room_id

    reply = answer(slash(people["cmdr"], "next", channel_id=room))
    assert reply["response_type"] == "ephemeral"
    buttons = {e["text"]["text"]: e["value"] for e in reply["blocks"][-1]["elements"]}
    assert buttons["Triage"] == f"transition|step triage {incident.reference}"

    response = press(people["cmdr"], "transition", f"step triage {incident.reference}", channel_id=room)

    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.state == "triaged"
    assert slack.responses[-1]["text"].endswith(f"{incident.reference} is now triaged.")
    assert any("Detected → Triaged" in t for t in slack.posts(room))


def test_assign_makes_a_mentioned_user_commander(slack, slash, people, responder, opened):
    incident = opened(severity_override="SEV2", severity_override_reason="many users")
    room = ChatRoom.objects.get(incident=incident).room_id

    reply = answer(slash(people["cmdr"], f"assign <@{people['resp']}|resp> commander", channel_id=room))

    incident.refresh_from_db()
    assert incident.commander == responder, reply
    assert "Commander: resp" in slack.channels[room].messages[0]["text"]


def test_help_lists_the_commands(slack, slash, people):
    reply = answer(slash(people["cmdr"], "help"))
    for verb in ("declare", "status", "ack", "contain", "lift", "note", "page", "next", "assign"):
        assert f"`{verb}" in reply["text"]


def test_slack_unable_to_say_who_you_are_is_not_unknown(slack, slash, people):
    slack.rate_limited = 1

    reply = answer(slash(people["cmdr"], "declare SEV1 support-bot: Bot leaks order numbers"))

    assert reply["response_type"] == "ephemeral"
    assert "could not say who you are" in reply["text"]
    assert not Incident.objects.exists()
