"""Handoff notices: the incoming and the outgoing person hear once each, with what is open right now."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from incidents.constants import Category, StakeholderRole
from incidents.models import Notification
from oncall.tasks import send_handoff_notices
from tests.incidents.factories import make_contact
from tests.oncall.factories import make_schedule

HANDOFF = datetime(2026, 3, 5, 9, tzinfo=UTC)  # daily 09:00 UTC from 2 March: Alice hands over to Bob


@pytest.fixture
def schedule(people):
    return make_schedule("AI on-call", layers=[{"members": [people["alice"], people["bob"]], "length": "daily"}])


@pytest.fixture
def open_work(open_incident):
    make_contact(name="Static Oncall", role=StakeholderRole.ENGINEERING_ON_CALL, email="s@example.com", verified=True)
    with time_machine.travel(HANDOFF - timedelta(hours=2), tick=False):
        public = open_incident(title="Bot recommends a competitor")
        secret = open_incident(title="Bot leaked Jane Doe's address", category=Category.DATA_LEAK)
    return public, secret


def test_each_person_hears_once_at_the_handoff(schedule, open_work, django_capture_on_commit_callbacks):
    public, secret = open_work
    with time_machine.travel(HANDOFF + timedelta(minutes=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert send_handoff_notices.delay().get() == 2
    by_recipient = {m.to[0]: m for m in mail.outbox if "on call" in m.subject.lower() or "shift" in m.subject}
    incoming, outgoing = by_recipient["bob@example.com"], by_recipient["alice@example.com"]
    assert incoming.subject.startswith("You are on call for AI on-call from 2026-03-05 09:00")
    assert "taking over from Alice" in incoming.body
    assert outgoing.subject.startswith("Your AI on-call shift ended")
    assert "Bob is on call now" in outgoing.body
    for message in (incoming, outgoing):
        assert f"{public.reference} [SEV3] Bot recommends a competitor" in message.body
        assert f"{secret.reference}" in message.body and "Jane Doe" not in message.body  # restricted: no details
        assert "Pages not acknowledged:" in message.body and "Static Oncall (tier 1)" in message.body
    # the beat runs again a minute later, and ten minutes later: nothing more is sent
    sent = len(mail.outbox)
    for minutes in (2, 12):
        with time_machine.travel(HANDOFF + timedelta(minutes=minutes), tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                assert send_handoff_notices.delay().get() == 0
    assert len(mail.outbox) == sent
    assert Notification.objects.filter(dedup_key__startswith="oncall:handoff:").count() == 2


def test_no_notice_between_handoffs_or_for_a_gap_s_empty_side(people):
    schedule = make_schedule("Office", layers=[{"members": [people["carol"]], "length": "weekly"}])
    layer = schedule.layers.get()
    layer.restrict_weekdays, layer.restrict_start, layer.restrict_end = [0, 1, 2, 3, 4], "09:00", "17:00"
    layer.save()
    with time_machine.travel(datetime(2026, 3, 4, 12, tzinfo=UTC), tick=False):
        assert send_handoff_notices.delay().get() == 0
    # at 17:00 Carol's window closes and no one takes over: only Carol hears (she is the outgoing one)
    with time_machine.travel(datetime(2026, 3, 4, 17, 5, tzinfo=UTC), tick=False):
        assert send_handoff_notices.delay().get() == 1
    notice = Notification.objects.get(dedup_key__startswith="oncall:handoff:")
    assert notice.recipient == "carol@example.com" and "no one is on call now" in notice.body
