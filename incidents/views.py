"""Pages reached from links in messages: acknowledging a page, verifying a contact.

The signed link is the credential, so neither needs a login. Acknowledging takes a POST: chat tools
and mail scanners open links to preview them, and a preview must not acknowledge a page for a person
who never saw it. Verification only confirms the address receives mail, so opening the link is enough.
"""

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from incidents.constants import PageState
from incidents.models import Page, StakeholderContact
from incidents.services.escalation import page_acknowledge, page_from_token
from incidents.services.stakeholders import contact_verify_from_link


@require_http_methods(["GET", "POST"])
def page_ack(request, token):
    try:
        page = page_from_token(token)
    except (ValidationError, Page.DoesNotExist) as exc:
        message = exc.messages[0] if isinstance(exc, ValidationError) else "This page no longer exists."
        return render(
            request, "incidents/link_result.html", {"title": "Link not valid", "message": message}, status=400
        )
    error = None
    if request.method == "POST":
        try:
            page = page_acknowledge(page_id=page.pk, via="link")
        except ValidationError as exc:
            error = exc.messages[0]
    return render(
        request,
        "incidents/page_ack.html",
        {
            "page": page,
            "incident": page.incident,
            "error": error,
            "acknowledged": page.state == PageState.ACKNOWLEDGED,
        },
    )


@require_http_methods(["GET"])
def contact_verify(request, token):
    try:
        contact = contact_verify_from_link(token=token)
    except (ValidationError, StakeholderContact.DoesNotExist) as exc:
        message = exc.messages[0] if isinstance(exc, ValidationError) else "This contact no longer exists."
        return render(
            request, "incidents/link_result.html", {"title": "Link not valid", "message": message}, status=400
        )
    return render(
        request,
        "incidents/link_result.html",
        {
            "title": "Thank you",
            "message": f"{contact.name}, your details as {contact.get_role_display()} are confirmed.",
        },
    )
