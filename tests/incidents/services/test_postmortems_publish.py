"""Publishing a post-mortem tells the distribution list of the incident's severity, with the PDF link;
a drill tells only its participants; a restricted incident is announced by its reference only."""

import pytest
from django.test import override_settings

from incidents.constants import StakeholderRole
from incidents.models import DistributionList, Notification, PostMortemState
from incidents.services.postmortems import (
    postmortem_approve,
    postmortem_create,
    postmortem_publish,
    postmortem_update,
)
from tests.incidents.factories import make_contact
from tests.incidents.postmortem_text import submit_written

BASE = "https://fireline.example.org"


def publish(incident, commander, legal):
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    postmortem_update(postmortem_id=pm.pk, changes={"root_cause": "The prompt."}, actor=commander)
    submit_written(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=legal)
    return postmortem_publish(postmortem_id=pm.pk, actor=commander)


def contact(name, role, tier=1, **kwargs):
    kwargs.setdefault("email", f"{name.lower()}@example.com")
    return make_contact(name=name, role=role, escalation_tier=tier, **kwargs)


@pytest.fixture
def people(db):
    return {
        "oncall": contact("Oncall", StakeholderRole.ENGINEERING_ON_CALL),
        "oncall2": contact("Backup", StakeholderRole.ENGINEERING_ON_CALL, tier=2),
        "boss": contact("Boss", StakeholderRole.LEADERSHIP),
        "named": contact("Named", StakeholderRole.CUSTOMER_SUPPORT, tier=3),
    }


def recipients():
    return set(Notification.objects.filter(dedup_key__startswith="pm-published").values_list("recipient", flat=True))


@override_settings(FIRELINE_BASE_URL=BASE)
def test_publishing_tells_the_severitys_list_with_the_pdf_link(
    open_incident, commander, legal, people, django_capture_on_commit_callbacks
):
    incident = open_incident(title="Bot insulted a customer")
    dlist = DistributionList.objects.get(severity=incident.severity)
    dlist.roles = [StakeholderRole.ENGINEERING_ON_CALL]
    dlist.emails = "ai-quality@example.com\nOncall@example.com"
    dlist.save()
    dlist.contacts.add(people["named"])
    with django_capture_on_commit_callbacks(execute=True):
        pm = publish(incident, commander, legal)
    assert pm.state == PostMortemState.PUBLISHED
    # tier-1 on-call, the named contact, the extra address, the commander; no duplicates, no leadership
    assert recipients() == {"oncall@example.com", "named@example.com", "ai-quality@example.com", "cmdr@example.com"}
    message = Notification.objects.filter(recipient="ai-quality@example.com").get()
    assert "Bot insulted a customer" in message.subject and incident.reference in message.subject
    assert f"{BASE}/incidents/{incident.pk}/postmortem.pdf" in message.body
    assert message.state == "sent"  # delivered through the outbox once the transaction committed
    assert incident.timeline.filter(text__contains=f"the {incident.severity} distribution list: 4").exists()


def test_the_commander_can_be_left_off(open_incident, commander, legal, people):
    incident = open_incident()
    DistributionList.objects.filter(severity=incident.severity).update(
        roles=[StakeholderRole.LEADERSHIP], include_commander=False
    )
    publish(incident, commander, legal)
    assert recipients() == {"boss@example.com"}


def test_a_restricted_incident_is_announced_by_reference_only(open_incident, commander, legal, people):
    incident = open_incident(title="Customer emails leaked into answers", is_restricted=True)
    DistributionList.objects.filter(severity=incident.severity).update(roles=[StakeholderRole.ENGINEERING_ON_CALL])
    publish(incident, commander, legal)
    messages = list(Notification.objects.filter(dedup_key__startswith="pm-published"))
    assert messages
    for message in messages:
        assert incident.reference in message.subject
        assert "leaked" not in message.subject and "leaked" not in message.body
        assert "restricted" in message.body and f"/incidents/{incident.pk}/postmortem.pdf" in message.body


def test_a_drill_tells_only_its_participants(open_incident, commander, legal, responder, people):
    drill = open_incident(title="Drill: harmful output", is_drill=True, members=[responder])
    make_contact(
        name="Resp",
        role=StakeholderRole.ENGINEERING_ON_CALL,
        chat="https://chat.example.com/hook/r",
        user=responder,
    )
    DistributionList.objects.update(roles=list(StakeholderRole.values))
    publish(drill, commander, legal)
    # the commander by email (no contact), the responder through their own contact; no one from the list
    assert recipients() == {"cmdr@example.com", "https://chat.example.com/hook/r"}
    assert all(n.subject.startswith("[DRILL] ") for n in Notification.objects.filter(dedup_key__startswith="pm-pub"))


def test_an_empty_list_is_said_on_the_timeline(open_incident, commander, legal):
    incident = open_incident()
    DistributionList.objects.filter(severity=incident.severity).update(roles=[], include_commander=False)
    publish(incident, commander, legal)
    assert not recipients()
    assert incident.timeline.filter(kind="delivery_failed", text__contains="reached no one").exists()


def test_distribution_lists_are_seeded_for_every_severity(db):
    lists = {d.severity: d.roles for d in DistributionList.objects.all()}
    assert set(lists) == {"SEV1", "SEV2", "SEV3", "SEV4"}
    assert "leadership" in lists["SEV1"] and "legal" in lists["SEV1"] and "leadership" not in lists["SEV4"]


def test_a_bad_address_in_the_list_is_a_field_error(db):
    dlist = DistributionList.objects.get(severity="SEV1")
    dlist.emails = "ok@example.com\nnot-an-address"
    with pytest.raises(Exception, match="not-an-address"):
        dlist.full_clean()
