"""The communication PDF: one approved or sent message, as approved and as it went out.

A sent message prints its frozen copy (subject, body, recipients, when and by whom); an approved one
prints the approved text and the recipients it will go to. Drafts and messages waiting for approval
are not exported: a PDF of text nobody approved would circulate as if it were the company's word.
"""

from __future__ import annotations

import datetime

from django.template.loader import render_to_string
from django.utils import timezone

from incidents.constants import Audience
from incidents.models import Communication, CommunicationState
from incidents.text import render_markdown

from .audience import Redactor, Variant, incident_people, people_table
from .pdf import html_to_pdf, organisation_context

# The document's variant is its audience's: a message to customers or the public is a public document,
# a message to a regulator a regulator document, an internal update internal.
AUDIENCE_VARIANT = {
    Audience.INTERNAL: Variant.INTERNAL,
    Audience.AFFECTED_USERS: Variant.PUBLIC,
    Audience.PUBLIC: Variant.PUBLIC,
    Audience.REGULATOR: Variant.REGULATOR,
}


def communication_variant(communication: Communication) -> Variant:
    return AUDIENCE_VARIANT.get(communication.audience, Variant.INTERNAL)


EXPORTABLE_STATES = (CommunicationState.APPROVED, CommunicationState.SENT)


class NotExportable(LookupError):
    """The communication is not approved or sent yet."""


def communication_context(communication: Communication) -> dict:
    if communication.state not in EXPORTABLE_STATES:
        raise NotExportable(
            f"Communication {communication.pk} is {communication.get_state_display().lower()}: "
            "only approved or sent communications can be exported."
        )
    is_sent = communication.state == CommunicationState.SENT
    variant = communication_variant(communication)
    # Approvers and senders are named in full with their role (never by username); the message itself
    # is printed exactly as approved or sent.
    people = Redactor(people_table(incident_people(communication.incident)), hide_names=False)
    context = organisation_context(variant)
    context.update(
        {
            "communication": communication,
            "incident": communication.incident,
            "is_sent": is_sent,
            "approved_by": people.person(communication.approved_by) if communication.approved_by_id else "",
            "sent_by": people.person(communication.sent_by) if communication.sent_by_id else "",
            "subject": communication.sent_subject if is_sent else communication.subject,
            "body": render_markdown(communication.sent_body if is_sent else communication.body),
            "recipients": communication.sent_recipients if is_sent else communication.recipient_list,
            "generated_at": timezone.now(),
        }
    )
    return context


def communication_html(communication: Communication) -> str:
    with timezone.override(datetime.UTC):  # the PDF is a record: one zone for every reader
        return render_to_string("exports/communication.html", communication_context(communication))


def communication_pdf(communication: Communication) -> bytes:
    """The PDF of an approved or sent communication; NotExportable for anything else."""
    return html_to_pdf(communication_html(communication))
