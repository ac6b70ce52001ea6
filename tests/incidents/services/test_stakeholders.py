"""Stakeholder contacts: verified by a signed link, stale after a quarter, retired, never deleted."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audit.models import ActionLogEntry
from incidents.constants import ContactState, StakeholderRole
from incidents.models import Notification, StakeholderContact
from incidents.services.stakeholders import (
    contact_request_verification,
    contacts_mark_stale,
    verification_url,
)
from tests.incidents.factories import make_contact


@pytest.fixture
def lawyer(db):
    return make_contact(name="Lee", role=StakeholderRole.LEGAL, email="lee@example.com")


def test_verification_link_marks_the_contact_verified(lawyer, client):
    contact_request_verification(contact_id=lawyer.pk)
    lawyer.refresh_from_db()
    message = Notification.objects.get(contact=lawyer)
    assert message.recipient == "lee@example.com" and "/contacts/verify/" in message.body
    path = "/" + message.body.split("/contacts/verify/", 1)[1].split()[0]
    response = client.get("/contacts/verify/" + path.lstrip("/"))
    assert response.status_code == 200 and b"confirmed" in response.content
    lawyer.refresh_from_db()
    assert lawyer.state == ContactState.VERIFIED and lawyer.verified_at is not None
    assert ActionLogEntry.objects.filter(verb="transition:verify", target_id=str(lawyer.pk)).exists()


def test_tampered_or_superseded_links_are_refused(lawyer, client):
    contact_request_verification(contact_id=lawyer.pk)
    lawyer.refresh_from_db()
    old = verification_url(lawyer)
    token = old.rstrip("/").rsplit("/", 1)[-1]
    assert client.get(reverse("contact-verify", args=[token[:-3] + "abc"])).status_code == 400
    StakeholderContact.objects.filter(pk=lawyer.pk).update(verification_sent_at=timezone.now() + timedelta(seconds=5))
    response = client.get(reverse("contact-verify", args=[token]))
    assert response.status_code == 400 and b"newer verification link" in response.content
    lawyer.refresh_from_db()
    assert lawyer.state == ContactState.UNVERIFIED


def test_verified_contacts_go_stale_after_a_quarter_and_are_asked_again(lawyer):
    lawyer.verify()
    lawyer.verified_at = timezone.now() - timedelta(days=92)
    lawyer.save()
    fresh = make_contact(name="Fresh", role=StakeholderRole.PR, email="pr@example.com", verified=True)
    assert contacts_mark_stale() == 1
    lawyer.refresh_from_db()
    fresh.refresh_from_db()
    assert lawyer.state == ContactState.STALE and fresh.state == ContactState.VERIFIED
    assert Notification.objects.filter(contact=lawyer, dedup_key__startswith="verify:").count() == 1
    assert contacts_mark_stale() == 0  # stale stays stale; no second reminder in the same run


def test_a_contact_needs_a_real_time_zone(db):
    contact = StakeholderContact(name="Nobody", role=StakeholderRole.LEGAL, time_zone="Mars/Olympus")
    with pytest.raises(ValidationError) as exc:
        contact.full_clean(exclude=["state"])
    assert "time_zone" in exc.value.message_dict


def test_admin_add_sends_a_verification_link_and_refuses_bad_input(client, commander):
    client.force_login(commander)
    url = reverse("admin:incidents_stakeholdercontact_add")
    rows = {
        "channel_rows-TOTAL_FORMS": "1",
        "channel_rows-INITIAL_FORMS": "0",
        "channel_rows-0-kind": "email",
        "channel_rows-0-address": "ana@example.com",
    }
    bad = client.post(url, {"name": "X", "role": "legal", "time_zone": "Nowhere/Else", "escalation_tier": 1, **rows})
    assert bad.status_code == 200 and not StakeholderContact.objects.exists()
    good = client.post(
        url,
        {"name": "Ana", "role": "legal", "time_zone": "Europe/Lisbon", "escalation_tier": 2, **rows},
    )
    assert good.status_code == 302
    ana = StakeholderContact.objects.get(name="Ana")
    assert ana.state == ContactState.UNVERIFIED and ana.verification_sent_at is not None
    assert Notification.objects.filter(contact=ana).exists()
    assert ActionLogEntry.objects.filter(verb="created", target_id=str(ana.pk)).exists()


def test_retire_needs_permission_and_contacts_are_never_deleted(client, commander, viewer, lawyer):
    client.force_login(commander)
    assert client.get(reverse("admin:incidents_stakeholdercontact_delete", args=[lawyer.pk])).status_code == 403
    client.post(
        reverse("admin:incidents_stakeholdercontact_changelist"), {"action": "retire", "_selected_action": [lawyer.pk]}
    )
    lawyer.refresh_from_db()
    assert lawyer.state == ContactState.RETIRED
    with pytest.raises(ValidationError):
        contact_request_verification(contact_id=lawyer.pk)
