"""Fault test: Slack down during a burst of 100 incident updates, then back. Nothing blocks the updates, and once
it returns the outbox sweep delivers every post exactly once."""

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from chatops.models import ChatRoom
from incidents.constants import ContainmentType, NotificationState
from incidents.models import ContainmentAction, Notification
from incidents.services import containment_record
from incidents.services.notifications import notifications_requeue_due

pytestmark = pytest.mark.django_db

BURST = 100


def test_slack_down_during_a_burst_of_100_updates_then_every_post_once(slack, commander, opened, committed):
    slack.add_user(commander.email)
    incident = opened(severity_override="SEV2", severity_override_reason="many users")
    room = ChatRoom.objects.get(incident=incident).room_id
    before = len(slack.posts(room))

    slack.stop()
    for n in range(BURST):
        committed(
            containment_record,
            incident_id=incident.pk,
            action_type=ContainmentType.RESTRICT_COHORT,
            parameters={"cohort": f"tenant=t{n:03d}"},
            actor=commander,
        )
    assert ContainmentAction.objects.filter(incident=incident).count() == BURST  # chat down blocked nothing
    waiting = Notification.objects.filter(channel="room", state=NotificationState.PENDING)
    assert waiting.count() >= 2 * BURST  # a post and a summary refresh per update
    assert all(n.attempts == 1 and n.last_error for n in waiting)

    slack.start()  # back, on the same port
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        notifications_requeue_due()
        notifications_requeue_due()  # a second sweep finds nothing left to send

    assert not Notification.objects.filter(channel="room").exclude(state=NotificationState.SENT).exists()
    posts = slack.posts(room)[before:]
    cohorts = Counter(
        text.split("tenant=")[1][:4] for text in posts if text.startswith("Containment: Restrict the affected cohort")
    )
    assert len(cohorts) == BURST
    assert set(cohorts.values()) == {1}  # each delivered exactly once
    last = ContainmentAction.objects.filter(incident=incident).latest("pk")
    summary = slack.channels[room].messages[0]["text"]
    assert f"Containment ({BURST} active)" in summary and f"#{last.pk} " in summary  # the pinned summary caught up
