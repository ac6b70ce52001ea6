"""The chat server goes down during a burst of incident updates: nothing is blocked, everything arrives once.

Synapse is stopped (the process, its data kept) after the first updates of a burst of 100, started again
after the last, and the outbox sweep delivers what waited. Each post is in the room exactly once, and a
post sent again (a worker killed after the server took it, before the row was marked sent) is not shown
twice: its transaction id is the outbox key.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from chatops.constants import ROOM_CHANNEL
from chatops.models import ChatRoom
from chatops.services import room_send
from incidents.constants import ContainmentType, NotificationState, TimelineKind
from incidents.models import Notification
from incidents.services import containment_record, containment_revert
from incidents.services.notifications import notifications_requeue_due
from tests.chatops.matrix.synapse import bot_notices, latest_text

pytestmark = pytest.mark.chat

UPDATES = 100
DOWN_AFTER = 20


def test_chat_down_during_a_burst_of_100_updates_delivers_each_post_exactly_once(
    homeserver, bot, people, committed, open_incident
):
    alice = homeserver.people["alice"]
    commander = people["alice"]
    incident = committed(
        open_incident,
        title="Refund bot promises refunds",
        commander=commander,
        actor=commander,
        severity_override="SEV2",
        severity_override_reason="Money",
    )
    room = ChatRoom.objects.get(incident=incident, backend="matrix")
    alice.join(room.room_id)

    actions = []
    try:
        for n in range(UPDATES):
            if n == DOWN_AFTER:
                homeserver.server.stop()
            # Each update is its own committed change; chat being down never fails it.
            if n % 2 == 0:
                action = committed(
                    containment_record,
                    incident_id=incident.pk,
                    action_type=ContainmentType.STRICTER_MODERATION,
                    parameters={"pattern": f"refund-{n}"},
                    actor=commander,
                )
                actions.append(action)
            else:
                committed(containment_revert, action_id=actions[-1].pk, reason=f"pattern {n - 1} done", actor=commander)
        rows = Notification.objects.filter(incident=incident, channel=ROOM_CHANNEL)
        waiting = rows.filter(state=NotificationState.PENDING).count()
        assert waiting >= UPDATES - DOWN_AFTER  # the posts made while it was down, at least
        assert not rows.filter(state=NotificationState.FAILED).exists()
    finally:
        if homeserver.server.process is None:
            homeserver.server.start()

    # The sweep (every minute, from beat) finds the rows whose backoff has passed and delivers them.
    for minutes in (10, 20, 40):
        with time_machine.travel(timezone.now() + timedelta(minutes=minutes), tick=True):
            committed(notifications_requeue_due)
    assert set(rows.values_list("state", flat=True)) == {NotificationState.SENT}

    posted = incident.timeline.filter(kind=TimelineKind.CONTAINMENT).values_list("text", flat=True)
    assert len(posted) == UPDATES
    shown = Counter(n["body"] for n in bot_notices(alice, room.room_id))
    assert {text: shown[text] for text in posted} == {text: 1 for text in posted}
    assert "Containment: none active" in latest_text(alice, room.room_id, room.summary_message_id)

    # A worker killed after Synapse took a post, before the row said so, sends it again: shown once still.
    for row in rows.filter(subject__endswith=": post").order_by("pk")[:10]:
        room_send(row)
    shown_again = Counter(n["body"] for n in bot_notices(alice, room.room_id))
    assert shown_again == shown
