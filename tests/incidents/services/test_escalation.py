"""Paging and escalation: who is paged for what, acknowledgement by link and in the admin, escalation."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import Category, PageState, StakeholderRole, TimelineKind
from incidents.models import Notification, Page, StakeholderContact
from incidents.services.escalation import ack_token, escalations_due, page_from_token
from tests.incidents.factories import make_contact

R = StakeholderRole


def contact(name, role, tier=1, **kwargs):
    kwargs.setdefault("email", f"{name.lower()}@example.com")
    return make_contact(name=name, role=role, escalation_tier=tier, verified=True, **kwargs)


@pytest.fixture
def roster(db):
    return {
        "oncall": contact("Oncall", R.ENGINEERING_ON_CALL),
        "oncall2": contact("Oncall2", R.ENGINEERING_ON_CALL, tier=2),
        "boss": contact("Boss", R.LEADERSHIP),
        "lawyer": contact("Lawyer", R.LEGAL, chat="https://chat.example/hook"),
        "pr": contact("Pr", R.PR),
        "privacy": contact("Privacy", R.PRIVACY_OFFICER),
        "support": contact("Support", R.CUSTOMER_SUPPORT),
    }


def paged(incident):
    return set(Page.objects.filter(incident=incident).values_list("contact__name", flat=True))


def test_sev1_pages_leadership_legal_pr_and_on_call_from_the_start(roster, open_incident):
    incident = open_incident(is_public=True)  # harmful output in public: SEV1
    assert incident.severity == "SEV1"
    assert paged(incident) == {"Oncall", "Boss", "Lawyer", "Pr"}
    lawyer_channels = set(Notification.objects.filter(contact=roster["lawyer"]).values_list("channel", flat=True))
    assert lawyer_channels == {"email", "chat"}
    assert incident.timeline.filter(kind=TimelineKind.PAGE).count() == 4


def test_sev3_pages_only_on_call(roster, open_incident):
    assert paged(open_incident()) == {"Oncall"}


def test_privacy_incidents_always_page_the_privacy_officer(roster, open_incident):
    assert "Privacy" in paged(open_incident(category=Category.FACTUAL_MISINFORMATION, involves_privacy=True))
    assert "Privacy" in paged(open_incident(category=Category.DATA_LEAK))


def test_triage_with_the_same_severity_pages_no_one_twice(roster, open_incident, commander):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    assert Page.objects.filter(incident=incident).count() == 1
    assert Notification.objects.filter(incident=incident).count() == 1


def test_raising_severity_pages_the_new_roles(roster, open_incident, commander):
    incident = open_incident()
    services.incident_update(incident_id=incident.pk, actor=commander, changes={"is_public": True})
    assert paged(incident) == {"Oncall", "Boss", "Lawyer", "Pr"}
    # lowering it again pages no one
    count = Page.objects.count()
    services.incident_update(incident_id=incident.pk, actor=commander, changes={"is_public": False})
    assert Page.objects.count() == count


def test_retired_contacts_are_not_paged(roster, open_incident):
    c = StakeholderContact.objects.get(pk=roster["oncall"].pk)
    c.retire()
    c.save()
    assert paged(open_incident()) == set()


def test_no_contact_for_a_role_is_said_on_the_timeline(db, open_incident):
    incident = open_incident()
    entry = incident.timeline.get(kind=TimelineKind.DELIVERY_FAILED)
    assert "No one to page for SEV3" in entry.text and "Engineering on-call" in entry.text


def test_drill_incidents_page_only_participants(roster, open_incident, commander, responder):
    roster["oncall"].user = responder
    roster["oncall"].save()
    drill = open_incident(is_public=True, is_drill=True, members=[responder])
    assert paged(drill) == {"Oncall"}
    assert Notification.objects.get(incident=drill).subject.startswith("[DRILL]")


def test_restricted_incident_details_stay_out_of_messages(roster, open_incident):
    incident = open_incident(category=Category.DATA_LEAK, title="Leaked customer addresses")
    for n in Notification.objects.filter(incident=incident):
        assert "Leaked customer addresses" not in n.subject + n.body
        assert "restricted" in n.subject


def test_the_page_email_is_delivered_with_an_ack_link(roster, open_incident, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        incident = open_incident()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    page = Page.objects.get(incident=incident)
    assert message.to == ["oncall@example.com"]
    link = next(line for line in message.body.splitlines() if "/ack/" in line).split()[-1]
    token = link.rstrip("/").rsplit("/", 1)[-1]
    assert page_from_token(token).pk == page.pk
    page.refresh_from_db()
    assert page.state == PageState.SENT


def test_ack_link_get_does_not_acknowledge_but_post_does(roster, open_incident, client):
    incident = open_incident()
    page = Page.objects.get(incident=incident)
    url = reverse("page-ack", args=[ack_token(page)])
    preview = client.get(url)
    assert preview.status_code == 200 and b"acknowledge" in preview.content
    page.refresh_from_db()
    assert page.state == PageState.PENDING
    client.post(url)
    page.refresh_from_db()
    assert page.state == PageState.ACKNOWLEDGED and page.acknowledged_via == "link"
    assert incident.timeline.filter(kind=TimelineKind.ACKNOWLEDGEMENT).exists()
    assert ActionLogEntry.objects.filter(verb="transition:acknowledge", incident=incident).exists()
    # acknowledged pages do not escalate
    Page.objects.filter(pk=page.pk).update(ack_due_at=timezone.now() - timedelta(minutes=1))
    assert escalations_due() == 0


def test_forged_or_altered_ack_link_is_refused(roster, open_incident, client):
    open_incident()
    page = Page.objects.get()
    token = ack_token(page)
    assert client.post(reverse("page-ack", args=[token[:-2] + "xx"])).status_code == 400
    page.refresh_from_db()
    assert page.state == PageState.PENDING


def test_ack_in_the_admin(roster, open_incident, client, commander, viewer):
    incident = open_incident()
    page = Page.objects.get(incident=incident)
    url = reverse("admin:incidents_incident_page_ack", args=[incident.pk, page.pk])
    client.force_login(viewer)
    client.post(url)
    page.refresh_from_db()
    assert page.state == PageState.PENDING
    client.force_login(commander)
    html = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert 'id="pages"' in html and "Oncall" in html
    client.post(url)
    page.refresh_from_db()
    assert page.state == PageState.ACKNOWLEDGED and page.acknowledged_by == commander


def test_unacknowledged_page_escalates_to_backup_and_next_tier(roster, open_incident):
    roster["oncall"].backup_contact = roster["support"]
    roster["oncall"].save()
    incident = open_incident()
    page = Page.objects.get(incident=incident)
    assert escalations_due() == 0  # not due yet
    Page.objects.filter(pk=page.pk).update(ack_due_at=timezone.now() - timedelta(seconds=1))
    assert escalations_due() == 1
    page.refresh_from_db()
    assert page.state == PageState.ESCALATED
    new = Page.objects.filter(escalated_from=page)
    assert {p.contact.name for p in new} == {"Oncall2", "Support"} and {p.tier for p in new} == {2}
    entry = incident.timeline.get(kind=TimelineKind.ESCALATION)
    assert "did not acknowledge" in entry.text and "Oncall2" in entry.text
    # running the sweep again escalates nothing twice
    assert escalations_due() == 0


def test_escalation_with_no_one_left_is_shown(roster, open_incident):
    incident = open_incident()
    page = Page.objects.get(incident=incident)
    Page.objects.filter(pk=page.pk).update(ack_due_at=timezone.now() - timedelta(seconds=1))
    escalations_due()
    tier2 = Page.objects.get(escalated_from=page)
    Page.objects.filter(pk=tier2.pk).update(ack_due_at=timezone.now() - timedelta(seconds=1))
    escalations_due()
    assert "no one left to escalate to" in incident.timeline.filter(kind=TimelineKind.DELIVERY_FAILED).last().text


def test_closed_incidents_do_not_escalate(roster, open_incident, commander):
    incident = open_incident()
    pages = incident.pages.all()
    assert pages, "the roster pages someone"
    with pytest.raises(ValidationError, match="Pages still waiting"):  # nobody is left being paged silently
        services.incident_dismiss(incident_id=incident.pk, reason="false_alarm", actor=commander)
    services.incident_dismiss_settled(
        incident_id=incident.pk, reason="false_alarm", actor=commander, pages={p.pk: "cancel" for p in pages}
    )
    assert set(incident.pages.values_list("state", flat=True)) == {PageState.CANCELLED}
    Page.objects.update(ack_due_at=timezone.now() - timedelta(seconds=1))
    assert escalations_due() == 0


def test_state_change_named_by_policy_sends_an_update(roster, open_incident, commander):
    incident = open_incident(is_public=True)  # SEV1 policy notifies on contained
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.containment_record(incident_id=incident.pk, action_type="feature_flag_off", actor=commander)
    services.incident_contain(incident_id=incident.pk, actor=commander)
    updates = Notification.objects.filter(incident=incident, page__isnull=True)
    assert updates.count() == 4 and all("is now contained" in n.subject for n in updates)
