"""Escalation policies that name schedules: the page goes to whoever is on call when it is sent, and
escalation asks the schedules again when it fires."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.constants import PageState, TimelineKind
from incidents.models import EscalationPolicy, Notification, Page
from incidents.services.escalation import escalations_due
from oncall import services
from oncall.models import PolicyTier
from tests.oncall.factories import make_schedule

# Daily handoffs at 09:00 UTC from Monday 2 March 2026: index 2 (4-5 March) and 3 (5-6 March).
SENT_AT = datetime(2026, 3, 5, 8, 30, tzinfo=UTC)  # primary: Alice; secondary: Carol
ESCALATES_AT = SENT_AT + timedelta(hours=5)  # after the 09:00 handoff: primary Bob, secondary Dave


@pytest.fixture
def policy_with_schedules(people):
    primary = make_schedule("AI on-call", layers=[{"members": [people["alice"], people["bob"]], "length": "daily"}])
    secondary = make_schedule(
        "AI secondary", layers=[{"members": [people["carol"], people["dave"]], "length": "daily"}]
    )
    policy = EscalationPolicy.objects.get(severity="SEV3")
    PolicyTier.objects.create(policy=policy, tier=1, schedule=primary)
    PolicyTier.objects.create(policy=policy, tier=2, schedule=secondary)
    return primary, secondary


def pages(incident):
    return {(p.contact.user.username, p.tier) for p in Page.objects.filter(incident=incident).select_related("contact")}


def test_the_page_goes_to_whoever_is_on_call_when_it_is_sent(policy_with_schedules, open_incident):
    with time_machine.travel(SENT_AT, tick=False):
        incident = open_incident()
    assert incident.severity == "SEV3"
    assert pages(incident) == {("alice", 1)}
    email = Notification.objects.get(page__incident=incident)
    assert email.recipient == "alice@example.com"
    assert "on call for AI on-call" in incident.timeline.get(kind=TimelineKind.PAGE).text
    assert not incident.timeline.filter(kind=TimelineKind.DELIVERY_FAILED).exists()


def test_escalation_resolves_the_schedules_again_when_it_fires(policy_with_schedules, open_incident):
    with time_machine.travel(SENT_AT, tick=False):
        incident = open_incident()
    with time_machine.travel(ESCALATES_AT, tick=False):
        assert escalations_due() == 1
    # Alice did not answer: tier 2's schedule now says Dave (not Carol, on call when Alice was paged), and
    # the tier-1 schedule handed over to Bob in the meantime, so he is paged as well.
    assert pages(incident) == {("alice", 1), ("bob", 2), ("dave", 2)}
    assert Page.objects.get(contact__user__username="alice").state == PageState.ESCALATED
    escalation = incident.timeline.get(kind=TimelineKind.ESCALATION).text
    assert "Bob" in escalation and "Dave" in escalation


def test_an_override_at_send_time_is_who_gets_paged(policy_with_schedules, open_incident, people, commander):
    primary, _ = policy_with_schedules
    with time_machine.travel(SENT_AT - timedelta(days=1), tick=False):
        services.override_create(
            schedule=primary,
            user=people["dave"],
            starts_at=SENT_AT - timedelta(hours=1),
            ends_at=SENT_AT + timedelta(hours=1),
            reason="Alice at the dentist",
            actor=commander,
        )
    with time_machine.travel(SENT_AT, tick=False):
        incident = open_incident()
    assert pages(incident) == {("dave", 1)}


def test_a_drill_pages_its_participants_only_never_the_schedule(policy_with_schedules, open_incident, responder):
    with time_machine.travel(SENT_AT, tick=False):
        drill = open_incident(is_drill=True, members=[responder])
    assert not Page.objects.filter(incident=drill).exists()


def test_a_gap_in_the_schedule_is_said_on_the_timeline(people, open_incident):
    schedule = make_schedule(
        "Starts next year", layers=[{"members": [people["alice"]], "rotation_start": "2027-01-01"}]
    )
    PolicyTier.objects.create(policy=EscalationPolicy.objects.get(severity="SEV3"), tier=1, schedule=schedule)
    with time_machine.travel(SENT_AT, tick=False):
        incident = open_incident()
    assert not Page.objects.filter(incident=incident).exists()
    failures = list(incident.timeline.filter(kind=TimelineKind.DELIVERY_FAILED).values_list("text", flat=True))
    assert "Tier 1: no one is on call for Starts next year right now." in failures


def test_someone_on_call_without_an_email_is_named_not_skipped(policy_with_schedules, open_incident, people):
    people["alice"].email = ""
    people["alice"].save()
    with time_machine.travel(SENT_AT, tick=False):
        incident = open_incident()
    assert pages(incident) == set()
    failures = list(incident.timeline.filter(kind=TimelineKind.DELIVERY_FAILED).values_list("text", flat=True))
    assert "Tier 1: Alice is on call for AI on-call but has no email address to page." in failures


def test_the_contact_made_for_a_user_is_never_paged_by_role_alone(policy_with_schedules, open_incident, people):
    contact = services.contact_for_user(people["alice"])
    assert contact.escalation_tier == 0 and contact.user == people["alice"]
    # outside the schedule: a policy naming the role only does not reach Alice's schedule contact
    PolicyTier.objects.all().delete()
    with time_machine.travel(SENT_AT, tick=False):
        incident = open_incident()
    assert pages(incident) == set()


def test_triage_at_the_same_severity_after_a_handoff_pages_no_one_new(policy_with_schedules, open_incident, commander):
    from incidents import services as incident_services

    with time_machine.travel(SENT_AT, tick=False):
        incident = open_incident()
    with time_machine.travel(SENT_AT + timedelta(hours=1), tick=False):  # Bob is on call now
        incident_services.incident_triage(incident_id=incident.pk, actor=commander)
    assert pages(incident) == {("alice", 1)}


def test_a_severity_a_schedule_covers_is_not_reported_as_paging_nobody(policy_with_schedules, open_incident):
    from incidents.paging_gaps import incident_paging_gap, paging_gap_list

    with time_machine.travel(SENT_AT, tick=False):
        sev3 = next(g for g in paging_gap_list() if g.severity == "SEV3")  # no stakeholder contacts at all
        assert sev3.pages_nobody is False and sev3.scheduled == ["AI on-call"]
        sev2 = next(g for g in paging_gap_list() if g.severity == "SEV2")  # no schedule there: still nobody
        assert sev2.pages_nobody is True and sev2.scheduled == []
        incident = open_incident()
        gap = incident_paging_gap(incident=incident)
        assert gap is not None and gap.pages_nobody is False and gap.scheduled == ["AI on-call"]
