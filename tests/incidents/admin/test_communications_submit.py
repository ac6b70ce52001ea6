"""'Submit for approval' on a communication saves what was typed first, then submits it; a refusal
quotes the template's guidance as words, not as raw Markdown underscores."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from incidents.models import Communication, CommunicationState
from incidents.services.communications import GUIDANCE, communication_create

S = CommunicationState


def said(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def logged_in(client, commander):
    client.force_login(commander)
    return client


def drafted(open_incident, commander):
    return communication_create(
        incident_id=open_incident().pk, audience="affected_users", recipients="a@example.com", actor=commander
    )


def post_form(client, communication, *, body, submit=True):
    data = {"subject": communication.subject, "body": body, "recipients": communication.recipients}
    if submit:
        data["_save_and_submit"] = "1"
    return client.post(reverse("admin:incidents_communication_change", args=[communication.pk]), data)


def test_the_button_submits_the_edit_form(logged_in, open_incident, commander):
    c = drafted(open_incident, commander)
    html = logged_in.get(reverse("admin:incidents_communication_change", args=[c.pk])).content.decode()
    assert 'form="communication_form" name="_save_and_submit"' in html and "Submit for approval" in html
    assert 'id="communication_form"' in html


def test_typed_text_is_saved_then_submitted(logged_in, open_incident, commander):
    c = drafted(open_incident, commander)
    body = GUIDANCE.sub("Our assistant told one user to mix two cleaners. Never do that.", c.body)
    response = post_form(logged_in, c, body=body)
    stored = Communication.objects.get(pk=c.pk)
    assert stored.body == body.strip()
    assert stored.state == S.PENDING_APPROVAL
    assert any("Saved and submitted for approval." in m for m in said(response))


def test_a_refused_submit_keeps_the_typed_text_and_quotes_the_guidance_plainly(logged_in, open_incident, commander):
    c = drafted(open_incident, commander)
    # the writer replaced one passage, and left "State the correct information here ..." in
    body = c.body.replace("_What we changed so it does not happen again._", "We rewrote the safety prompt.")
    body = body.replace("_Anything the reader should check or do, and how to reach us._", "Write to us.")
    response = post_form(logged_in, c, body=body)
    stored = Communication.objects.get(pk=c.pk)
    assert stored.state == S.DRAFT
    assert "We rewrote the safety prompt." in stored.body and "Write to us." in stored.body  # not thrown away
    (message,) = [m for m in said(response) if "guidance" in m]
    assert message.startswith("Your text is saved, but not submitted.")
    assert "“State the correct information here" in message
    assert "_State" not in message and "_" not in message.split("approval:")[1]
