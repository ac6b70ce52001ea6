"""The communication PDF: one approved or sent message, as approved and as it went out.

A sent message prints its frozen copy (subject, body, recipients, when and by whom); an approved one
prints the approved text and the recipients it will go to. Drafts and messages waiting for approval
are not exported: a PDF of text nobody approved would circulate as if it were the company's word.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.models import Communication, CommunicationState
from incidents.models.postmortems import DEFAULT_MARKING
from incidents.text import render_markdown

from .pdf import html_to_pdf

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
    return {
        "communication": communication,
        "incident": communication.incident,
        "is_sent": is_sent,
        "marking": getattr(settings, "FIRELINE_PDF_MARKING", DEFAULT_MARKING),
        "subject": communication.sent_subject if is_sent else communication.subject,
        "body": render_markdown(communication.sent_body if is_sent else communication.body),
        "recipients": communication.sent_recipients if is_sent else communication.recipient_list,
        "generated_at": timezone.now(),
    }


def communication_html(communication: Communication) -> str:
    with timezone.override(datetime.UTC):  # the PDF is a record: one zone for every reader
        return render_to_string("exports/communication.html", communication_context(communication))


def communication_pdf(communication: Communication) -> bytes:
    """The PDF of an approved or sent communication; NotExportable for anything else."""
    return html_to_pdf(communication_html(communication))
