import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import Category
from incidents.models import Communication, CommunicationState, Notification
from incidents.services.communications import (
    communication_approve,
    communication_cancel,
    communication_create,
    communication_send,
    communication_submit,
    communication_update,
)
from tests.conftest import fresh
from tests.incidents.factories import UserFactory
from tests.incidents.services.test_incidents import prove_fix, set_fix, write_guidance

S = CommunicationState


@pytest.fixture
def comms(db):
    return fresh(UserFactory(username="pr", role="Communications"))


def draft(incident, actor, audience="affected_users", recipients="a@example.com, b@example.com", written=True):
    """A draft from the template; `written` replaces the template's guidance, as the writer would."""
    c = communication_create(incident_id=incident.pk, audience=audience, recipients=recipients, actor=actor)
    return write_guidance(c, actor) if written else c


def test_a_draft_is_filled_from_the_audience_template(open_incident, commander):
    incident = open_incident(title="Bot gave wrong refund policy")
    c = draft(incident, commander, written=False)
    assert c.state == S.DRAFT and incident.reference in c.body
    assert "The correct information" in c.body and "What we fixed" in c.body
    assert c.recipient_list == ["a@example.com", "b@example.com"]
    assert ActionLogEntry.objects.filter(target_type="incidents.communication", verb="created").exists()


def test_external_text_needs_legal_or_communications(open_incident, commander, responder, viewer, legal, comms):
    c = draft(open_incident(), commander)
    with pytest.raises(PermissionDenied):
        communication_submit(communication_id=c.pk, actor=viewer)
    communication_submit(communication_id=c.pk, actor=commander)
    for actor in (viewer, responder, commander):
        with pytest.raises(PermissionDenied):
            communication_approve(communication_id=c.pk, actor=actor)
    assert communication_approve(communication_id=c.pk, actor=legal).state == S.APPROVED
    c2 = draft(open_incident(), comms, audience="regulator")
    communication_submit(communication_id=c2.pk, actor=comms)
    assert communication_approve(communication_id=c2.pk, actor=comms).approved_by == comms


def test_the_commander_may_approve_internal_updates(open_incident, commander, viewer):
    c = draft(open_incident(), commander, audience="internal", recipients="team@example.com")
    communication_submit(communication_id=c.pk, actor=commander)
    with pytest.raises(PermissionDenied):
        communication_approve(communication_id=c.pk, actor=viewer)
    assert communication_approve(communication_id=c.pk, actor=commander).state == S.APPROVED


def test_guards_and_illegal_transitions(open_incident, commander, legal):
    c = draft(open_incident(), commander, recipients="")
    with pytest.raises(ValidationError, match="recipients"):
        communication_submit(communication_id=c.pk, actor=commander)
    with pytest.raises(ValidationError, match="Not an email"):
        communication_update(communication_id=c.pk, changes={"recipients": "nope"}, actor=commander)
    with pytest.raises(ValidationError, match="Not possible while the communication is draft"):
        communication_send(communication_id=c.pk, actor=commander)
    with pytest.raises(ValidationError, match="status page"):
        draft(open_incident(), commander, audience="public", recipients="x@example.com")
    communication_update(communication_id=c.pk, changes={"recipients": "x@example.com"}, actor=commander)
    communication_submit(communication_id=c.pk, actor=commander)
    with pytest.raises(ValidationError, match="Only a draft"):
        communication_update(communication_id=c.pk, changes={"body": "changed"}, actor=commander)
    assert communication_cancel(communication_id=c.pk, reason="superseded", actor=commander).state == S.CANCELLED
    with pytest.raises(ValidationError):
        communication_approve(communication_id=c.pk, actor=legal)


def test_sending_freezes_the_text_and_enqueues_each_email_once(
    open_incident, commander, legal, django_capture_on_commit_callbacks
):
    c = draft(open_incident(), commander, recipients="a@example.com\nb@example.com\nA@example.com")
    communication_submit(communication_id=c.pk, actor=commander)
    communication_approve(communication_id=c.pk, actor=legal)
    with django_capture_on_commit_callbacks() as callbacks:
        sent = communication_send(communication_id=c.pk, actor=commander)
    assert sent.state == S.SENT and sent.sent_by == commander and sent.sent_at
    assert sent.sent_recipients == ["a@example.com", "b@example.com"]
    assert sent.sent_body == c.body and sent.sent_subject == c.subject
    mails = Notification.objects.filter(dedup_key__startswith=f"comm:{c.pk}:")
    assert sorted(mails.values_list("recipient", flat=True)) == ["a@example.com", "b@example.com"]
    assert len(callbacks) == 2
    with pytest.raises(ValidationError):
        communication_send(communication_id=c.pk, actor=commander)
    assert mails.count() == 2
    assert "sent to 2 recipient(s)" in sent.incident.timeline.last().text


def test_template_rendering_is_sandboxed(open_incident, commander):
    from incidents.models import CommunicationTemplate

    CommunicationTemplate.objects.filter(audience="internal").update(
        subject="{{ reference }}", body="{% include '/etc/passwd' %}"
    )
    with pytest.raises(Exception, match="passwd"):
        draft(open_incident(), commander, audience="internal", recipients="t@example.com", written=False)
    CommunicationTemplate.objects.filter(audience="internal").update(body="{{ incident.commander.password }}")
    c = draft(open_incident(), commander, audience="internal", recipients="t@example.com", written=False)
    assert c.body == ""


def test_close_waits_for_every_required_audience(open_incident, commander, legal):
    incident = open_incident(category=Category.CAPABILITY_LOSS)
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.incident_investigate_without_containment(incident_id=incident.pk, reason="minor", actor=commander)
    set_fix(incident, commander)
    services.incident_mark_fixed(incident_id=incident.pk, actor=commander)
    prove_fix(incident, commander)
    services.incident_verify(incident_id=incident.pk, actor=commander)
    incident.refresh_from_db()
    incident.required_communications = ["internal", "affected_users"]
    incident.save(update_fields=["required_communications"])
    with pytest.raises(ValidationError, match="internal, affected users"):
        services.incident_close(incident_id=incident.pk, actor=commander)
    c = draft(incident, commander, audience="internal", recipients="t@example.com")
    communication_submit(communication_id=c.pk, actor=commander)
    communication_approve(communication_id=c.pk, actor=commander)
    with pytest.raises(ValidationError, match="internal"):
        services.incident_close(incident_id=incident.pk, actor=commander)  # approved is not sent
    communication_send(communication_id=c.pk, actor=commander)
    with pytest.raises(ValidationError) as exc:
        services.incident_close(incident_id=incident.pk, actor=commander)
    assert "affected users" in str(exc.value) and "internal," not in str(exc.value)
    c = draft(incident, commander)
    communication_submit(communication_id=c.pk, actor=commander)
    communication_approve(communication_id=c.pk, actor=legal)
    communication_send(communication_id=c.pk, actor=commander)
    assert services.incident_close(incident_id=incident.pk, actor=commander).state == "closed"


def test_admin_buttons_are_permission_checked(client, open_incident, commander, responder, legal):
    incident = open_incident()
    client.force_login(commander)
    response = client.post(
        reverse("admin:incidents_communication_draft", args=[incident.pk]),
        {"audience": "affected_users", "recipients": "a@example.com"},
    )
    c = Communication.objects.get(incident=incident)
    assert response.status_code == 302
    refused = client.post(reverse("admin:incidents_communication_action", args=[c.pk, "submit"]), follow=True)
    assert b"Replace the template&#x27;s guidance in italics" in refused.content  # the writer is told why
    assert Communication.objects.get(pk=c.pk).state == S.DRAFT
    write_guidance(c, commander)
    client.post(reverse("admin:incidents_communication_action", args=[c.pk, "submit"]))
    client.post(reverse("admin:incidents_communication_action", args=[c.pk, "approve"]), follow=True)
    assert Communication.objects.get(pk=c.pk).state == S.PENDING_APPROVAL
    page = client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))
    assert b'id="communications"' in page.content and b'fl-state fl-amber">Pending approval' in page.content
    listing = client.get(reverse("admin:incidents_communication_changelist"))
    assert b'fl-state fl-amber">Pending approval' in listing.content  # a coloured badge, readable at a glance
    client.force_login(legal)
    page = client.get(reverse("admin:incidents_communication_change", args=[c.pk]))
    assert b"Approve" in page.content
    client.post(reverse("admin:incidents_communication_action", args=[c.pk, "approve"]))
    assert Communication.objects.get(pk=c.pk).state == S.APPROVED
    client.force_login(responder)
    assert client.get(reverse("admin:incidents_communication_changelist")).status_code == 200


def test_a_draft_with_the_templates_guidance_left_in_is_not_submitted(open_incident, commander):
    c = draft(open_incident(), commander, written=False)
    with pytest.raises(ValidationError) as refused:
        communication_submit(communication_id=c.pk, actor=commander)
    message = refused.value.message_dict["body"][0]
    assert "Replace the template's guidance in italics" in message and "_State the correct information here" in message
    assert Communication.objects.get(pk=c.pk).state == S.DRAFT
    # the writer's own emphasis is not guidance: only the template's passages, word for word, are refused
    body = write_guidance(c, commander).body + "\n\n_Please Read This Carefully Before Acting_"
    communication_update(communication_id=c.pk, changes={"body": body}, actor=commander)
    assert communication_submit(communication_id=c.pk, actor=commander).state == S.PENDING_APPROVAL


def test_a_public_update_speaks_the_status_page_words_not_the_internal_state(open_incident, commander):
    incident = open_incident()  # triaged inside Fireline
    c = draft(incident, commander, audience="public", recipients="", written=False)
    assert c.subject.endswith(": Investigating") and "**Current status:** Investigating." in c.body
    internal = draft(incident, commander, audience="internal", recipients="team@example.com", written=False)
    assert incident.get_state_display() in internal.subject
