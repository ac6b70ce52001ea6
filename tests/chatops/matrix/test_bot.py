"""Responders drive incidents from Matrix: real Synapse users type `!incident ...`, the bot runs one /sync round.

Each test's Fireline users have the emails the homeserver validated for alice, bob and carol; mallory has
none. The bot's position is in the test's database, so each test starts by learning where "now" is.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from chatops.backends.matrix import MatrixBackend
from chatops.commands import NOT_FOUND, UNKNOWN_USER
from chatops.matrix_sync import sync_once
from chatops.models import ChatCursor, ChatRoom, ChatSettings
from incidents.constants import Category, ContainmentType, DetectionSignal, TimelineKind
from incidents.models import ContainmentAction, Incident
from tests.chatops.matrix.synapse import bot_notices, last_reply, latest_text, lobby

pytestmark = pytest.mark.chat


def test_a_responder_declares_and_runs_an_incident_from_matrix(homeserver, bot, people):
    alice, bob = homeserver.people["alice"], homeserver.people["bob"]
    hall = lobby(bot, alice)

    alice.say(hall, "!incident declare SEV2 support-bot: Bot leaks its system prompt")
    assert bot.round().commands == 1

    incident = Incident.objects.get(title="Bot leaks its system prompt")
    assert incident.severity == "SEV2"
    assert incident.commander == people["alice"]
    reply = last_reply(alice, hall)
    assert f"alice declared {incident.reference} (SEV2)" in reply["body"]
    assert reply["m.relates_to"]["m.in_reply_to"]["event_id"]  # answers the command it was given

    room = ChatRoom.objects.get(incident=incident, backend="matrix")
    assert room.room_id in alice.invited_rooms()  # the commander is invited
    alice.join(room.room_id)
    assert alice.state(room.room_id, "m.room.name")["name"].startswith(incident.reference)
    assert alice.state(room.room_id, "m.room.pinned_events")["pinned"] == [room.summary_message_id]
    summary = latest_text(alice, room.room_id, room.summary_message_id)
    assert f"{incident.reference} · SEV2" in summary
    assert "Containment: none active" in summary
    assert "Contain now: !incident contain now " + incident.reference in summary

    alice.say(room.room_id, "!incident contain feature_flag_off")
    bot.round()
    action = ContainmentAction.objects.get(incident=incident)
    assert action.action_type == ContainmentType.FEATURE_FLAG_OFF
    assert action.actor == people["alice"]
    # The pinned summary is edited in place, and the change is posted into the room.
    shown = latest_text(alice, room.room_id, room.summary_message_id)
    assert "Containment: none active" not in shown
    assert f"#{action.pk} Feature flag off (kill switch)" in shown
    assert "Containment: Feature flag off (kill switch)" in [n["body"] for n in bot_notices(alice, room.room_id)]

    alice.say(room.room_id, "!incident note Customer screenshots are in ticket 4411")
    bot.round()
    note = incident.timeline.get(kind=TimelineKind.NOTE, text="Customer screenshots are in ticket 4411")
    assert note.actor == people["alice"]
    reply = last_reply(alice, room.room_id)
    assert reply["m.mentions"] == {"user_ids": [alice.user_id]}  # a private reply is addressed to the person
    assert reply["body"] == f"alice: Noted on {incident.reference}'s timeline."

    alice.say(room.room_id, "!incident next")
    bot.round()
    reply = last_reply(alice, room.room_id)
    assert reply["body"].startswith(f"alice: Next steps for {incident.reference}")
    # A declared incident has no category yet: the step is shown with what blocks it, in the guard's words.
    assert "• Triage: blocked: Set the category first." in reply["body"]

    # Anyone on the server may join a room of an unrestricted incident; a pushpin makes a timeline note.
    bob.join(room.room_id)
    said = alice.say(room.room_id, "Deploy 42 changed the system prompt at 10:02")
    bob.react(room.room_id, said, "📌")
    bob.react(room.room_id, alice.say(room.room_id, "not this one"), "👍")
    assert bot.round().notes == 1
    marked = incident.timeline.get(kind=TimelineKind.NOTE, text="Deploy 42 changed the system prompt at 10:02")
    assert marked.actor == people["alice"]  # the note is its author's, not the marker's
    said_at = alice.request("GET", f"/rooms/{room.room_id}/event/{said}")["origin_server_ts"]
    assert int(marked.occurred_at.timestamp() * 1000) == said_at  # at the time it was said
    answer = last_reply(bob, room.room_id)
    assert answer["body"] == f"bob: Added to {incident.reference}'s timeline."
    assert answer["m.relates_to"]["m.in_reply_to"]["event_id"] == said
    assert not incident.timeline.filter(text="not this one").exists()


def test_the_bots_own_messages_edits_and_old_commands_are_not_run(homeserver, bot, people):
    alice = homeserver.people["alice"]
    hall = lobby(bot, alice)
    said = alice.say(hall, "!incident declare SEV3 support-bot: Replayed twice?")
    bot.round()
    assert Incident.objects.filter(title="Replayed twice?").count() == 1

    # A restarted bot (a new client, the position from the database) does not run the command again,
    # nor an edit of it, nor its own reply that quotes it.
    assert ChatCursor.objects.filter(name=f"matrix:{bot.backend.user_id}").exists()
    alice.edit(hall, said, "!incident declare SEV3 support-bot: Replayed twice?")
    restarted = MatrixBackend()
    assert sync_once(backend=restarted).commands == 0
    assert Incident.objects.filter(title="Replayed twice?").count() == 1
    assert len(bot_notices(alice, hall)) == 1


def test_an_unknown_matrix_user_is_told_they_can_do_nothing(homeserver, bot):
    mallory = homeserver.people["mallory"]
    hall = lobby(bot, mallory)
    mallory.say(hall, "!incident declare SEV1 support-bot: Everything is on fire")
    bot.round()
    assert not Incident.objects.filter(title="Everything is on fire").exists()
    reply = last_reply(mallory, hall)
    assert reply["body"] == f"mallory: {UNKNOWN_USER}"
    assert reply["m.mentions"] == {"user_ids": [mallory.user_id]}


def test_a_restricted_incident_answers_as_unknown_to_someone_without_access(
    homeserver, bot, people, committed, open_incident
):
    incident = committed(
        open_incident,
        title="Customer records in answers",
        category=Category.DATA_LEAK,
        detection_signal=DetectionSignal.USER_REPORT,
        severity_override="SEV1",
        severity_override_reason="Leaked records",
        commander=people["alice"],
        actor=people["alice"],
    )
    assert incident.is_restricted
    room = ChatRoom.objects.get(incident=incident, backend="matrix")
    assert room.is_private and room.room_id
    carol = homeserver.people["carol"]
    hall = lobby(bot, carol)

    carol.say(hall, f"!incident status {incident.reference}")
    bot.round()
    hidden = last_reply(carol, hall)["body"]
    carol.say(hall, "!incident status INC-987654")
    bot.round()
    unknown = last_reply(carol, hall)["body"]
    assert hidden == unknown == "carol: " + NOT_FOUND.format(verb="status")
    carol.say(hall, f"!incident note {incident.reference} I was here")
    bot.round()
    assert last_reply(carol, hall)["body"] == "carol: " + NOT_FOUND.format(verb="note")
    assert not incident.timeline.filter(text__contains="I was here").exists()
    with pytest.raises(Exception, match="403"):
        carol.join(room.room_id)  # the room of a restricted incident is invite-only

    # Its commander asks about it in a room where others listen: no answer there, since Matrix has no message
    # only she would see. In a room with only her and the bot, the answer comes.
    alice, mallory = homeserver.people["alice"], homeserver.people["mallory"]
    crowded = alice.create_room(invite=[bot.backend.user_id, mallory.user_id])
    mallory.join(crowded)
    bot.round()
    alice.say(crowded, f"!incident status {incident.reference}")
    bot.round()
    answer = last_reply(alice, crowded)["body"]
    assert answer.startswith(f"alice: Not answered here: {incident.reference} is restricted")
    assert "Customer records" not in answer
    quiet = lobby(bot, alice)
    alice.say(quiet, f"!incident status {incident.reference}")
    bot.round()
    assert "Customer records in answers" in last_reply(alice, quiet)["body"]


def test_a_drill_gets_its_own_drill_room(homeserver, bot, people, committed, open_incident):
    alice = homeserver.people["alice"]
    hall = lobby(bot, alice)
    alice.say(hall, "!incident declare SEV2 support-bot: Real trouble")
    bot.round()
    real = Incident.objects.get(title="Real trouble")
    real_room = ChatRoom.objects.get(incident=real, backend="matrix").room_id

    drill = committed(
        open_incident,
        title="[DRILL] Prompt injection",
        is_drill=True,
        severity_override="SEV2",
        severity_override_reason="Set by the drill scenario.",
        members=[people["alice"]],
    )
    drill_room = ChatRoom.objects.get(incident=drill, backend="matrix")
    assert drill_room.room_id != real_room
    assert drill_room.room_id in alice.invited_rooms()
    alice.join(drill_room.room_id)
    assert alice.state(drill_room.room_id, "m.room.name")["name"].startswith("drill-")
    assert alice.state(drill_room.room_id, "m.room.topic")["topic"].startswith("DRILL: not a real incident.")
    assert latest_text(alice, drill_room.room_id, drill_room.summary_message_id).startswith(
        f"*DRILL · {drill.reference}"
    )
    alice.join(real_room)
    assert not [n for n in bot_notices(alice, real_room) if drill.reference in n["body"] or "DRILL" in n["body"]]


def test_manage_py_matrix_bot_once_runs_one_round(homeserver, matrix_backend, people):
    out = StringIO()
    call_command("matrix_bot", "--once", stdout=out)
    assert out.getvalue().startswith(f"{homeserver.bot.user_id}: 0 command(s)")
    assert "first round: only the position was stored" in out.getvalue()
    mallory = homeserver.people["mallory"]
    hall = mallory.create_room(invite=[homeserver.bot.user_id])
    call_command("matrix_bot", "--once", stdout=out)
    mallory.say(hall, "!incident help")
    out = StringIO()
    call_command("matrix_bot", "--once", stdout=out)
    assert out.getvalue().startswith(f"{homeserver.bot.user_id}: 1 command(s)")
    assert last_reply(mallory, hall)["body"].startswith("mallory: Fireline commands")


def test_closing_posts_the_postmortem_link_and_archives_the_room(homeserver, bot, people, committed, open_incident):
    from incidents import services
    from tests.incidents.services.test_incidents import prove_fix, send_required_communications, set_fix

    alice, commander = homeserver.people["alice"], people["alice"]
    ChatSettings.objects.update(room_severities=["SEV1", "SEV2", "SEV3", "SEV4"])  # set in the admin
    incident = committed(
        open_incident,
        title="Wrong prices quoted",
        category=Category.CAPABILITY_LOSS,
        commander=commander,
        actor=commander,
    )
    room = ChatRoom.objects.get(incident=incident, backend="matrix")
    alice.join(room.room_id)

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

    said = [n["body"] for n in bot_notices(alice, room.room_id)]
    assert said[-1].startswith(f"{incident.reference} is closed. Post-mortem: http")
    assert alice.state(room.room_id, "m.room.topic")["topic"].startswith(f"Closed: {incident.reference}")
    assert alice.members(room.room_id)[bot.backend.user_id] == "leave"
    assert ChatRoom.objects.get(pk=room.pk).archived_at is not None
    with pytest.raises(Exception, match="403"):
        alice.say(room.room_id, "Can we reopen?")  # read-only, as an archived channel
