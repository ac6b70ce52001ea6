"""Every PDF read back as its reader gets it: what each audience may read, its marking, the organisation.

The public and regulator versions carry no internal reason, review step, draft, paging or login name;
internal documents carry the confidential marking, public ones "Public", regulator reports the marking
Legal set for the regime; the reporting organisation is the organisation profile, never "Fireline"; a
variant a document does not have is a 400.
"""

import re

import pytest
from django.urls import reverse

from incidents.constants import Audience
from incidents.models import Communication

from .conftest import (
    DECISION_REASON,
    GDPR_MARKING,
    INTERNAL_MARKING,
    INTERNAL_ONLY,
    NOTE,
    ORGANISATION,
    REGULATOR_MARKING,
    REVIEW_NOTE,
    pdf_text,
)

USERNAMES = ["cmdr", "lawyer", "pr", "resp"]


def get_pdf(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    return pdf_text(response.content)


def has_login_name(text: str) -> str | None:
    """A login name printed as a word (not inside an email address)."""
    for name in USERNAMES:
        if re.search(rf"(?<![\w@.-]){name}(?![\w@-])", text):
            return name
    return None


def outside_urls(incident):
    """Every document an outside reader gets: (what, url, params, the marking it must carry)."""
    email = incident.email
    return [
        ("public post-mortem", reverse("postmortem-pdf", args=[incident.pk]), {"variant": "public"}, "Public"),
        ("public summary", reverse("summary-pdf", args=[incident.pk]), {"variant": "public"}, "Public"),
        (
            "customer email",
            reverse("communication-pdf", args=[incident.pk, email.pk]),
            {},
            "Public",
        ),
        ("AI Act report", reverse("regulator-pdf", args=[incident.pk, "eu-ai-act-73"]), {}, REGULATOR_MARKING),
        ("GDPR report", reverse("regulator-pdf", args=[incident.pk, "gdpr-33"]), {}, GDPR_MARKING),
        (
            "GDPR report (PDF/A)",
            reverse("regulator-pdf", args=[incident.pk, "gdpr-33"]),
            {"archive": "1"},
            GDPR_MARKING,
        ),
    ]


@pytest.fixture
def reader(client, documented, people):
    client.force_login(people["legal"])
    return client


def test_public_and_regulator_documents_carry_nothing_internal(reader, documented):
    for what, url, params, marking in outside_urls(documented):
        text = get_pdf(reader, url, **params)
        for internal in INTERNAL_ONLY:
            assert internal not in text, f"{what}: {internal!r}"
        assert has_login_name(text) is None, f"{what}: login name {has_login_name(text)!r}"
        assert marking in text, f"{what}: marking {marking!r}"
        assert "Confidential — prepared at the direction of counsel" not in text, what
        assert INTERNAL_MARKING not in text, what
        assert "Fireline" not in text, f"{what} names the product as the organisation"
        assert ORGANISATION in text, f"{what}: the organisation is not printed"


def test_internal_documents_carry_the_confidential_marking_and_people_by_name_and_role(reader, documented):
    summary = get_pdf(reader, reverse("summary-pdf", args=[documented.pk]))
    assert INTERNAL_MARKING in summary and NOTE in summary and DECISION_REASON in summary
    assert "Cam Mander (Incident Commander)" in summary
    assert has_login_name(summary) is None
    postmortem = get_pdf(reader, reverse("postmortem-pdf", args=[documented.pk]))
    # the post-mortem's internal version prints its own marking (the template's), as before
    assert documented.pm.classification_marking in postmortem
    assert "Incident commander Cam Mander" in postmortem and "Legal Lee Gal" in postmortem
    assert "Communications Pia Rell" in postmortem
    # its own paperwork is not the incident's story, even internally
    assert REVIEW_NOTE not in postmortem and "sent back for changes" not in postmortem
    assert has_login_name(postmortem) is None


def test_regulator_report_prints_the_organisation_profile_and_no_reasons(reader, documented):
    text = get_pdf(reader, reverse("regulator-pdf", args=[documented.pk, "eu-ai-act-73"]))
    assert "Reporting organisation" in text and ORGANISATION in text
    assert "1 Harbour Road, Dublin D02 XY45, Ireland" in text and "Company number: 654321" in text
    assert "Dana Protect (Data Protection Officer)" in text and "dpo@example-assist.test" in text
    assert "Containment: Feature flag off" in text
    assert "Not ready to send" not in text
    # the customer email went out once; its trip back to the writer is no "sent" at all
    assert text.count("Affected users communication sent") == 1


def test_public_post_mortem_names_roles_only_and_keeps_the_reviewed_story(reader, documented):
    text = get_pdf(reader, reverse("postmortem-pdf", args=[documented.pk]), variant="public")
    assert "Scope retrieval to the signed-in customer" in text and "Responder" in text
    assert "Rhea Sponder" not in text and "Lee Gal" not in text
    assert "Incident commander" in text and "Incident Commander Incident Commander" not in text
    assert "Legal, Legal" not in text
    assert "Published" in text and "Content SHA-256" in text


VARIANTS_REFUSED = [
    ("postmortem-pdf", {"variant": "regulator"}),
    ("postmortem-pdf", {"variant": "press"}),
    ("summary-pdf", {"variant": "regulator"}),
    ("regulator-pdf", {"variant": "public"}),
    ("regulator-pdf", {"variant": "internal"}),
    ("communication-pdf", {"variant": "internal"}),
    ("postmortem-pdf", {"revision": "first"}),
]


@pytest.mark.parametrize("name,params", VARIANTS_REFUSED)
def test_a_variant_the_document_does_not_have_is_a_400(reader, documented, name, params):
    args = {
        "postmortem-pdf": [documented.pk],
        "summary-pdf": [documented.pk],
        "regulator-pdf": [documented.pk, "eu-ai-act-73"],
        "communication-pdf": [documented.pk, documented.email.pk],
    }[name]
    response = reader.get(reverse(name, args=args), params)
    assert response.status_code == 400
    text = response.content.decode()
    assert "version" in text or "whole number" in text


def test_markings_follow_the_audience_of_a_message(reader, documented, people):
    internal = Communication.objects.create(
        incident=documented,
        audience=Audience.INTERNAL,
        state="approved",
        subject="All hands",
        body="Status for the team.",
        recipients="team@example.com",
    )
    text = get_pdf(reader, reverse("communication-pdf", args=[documented.pk, internal.pk]))
    assert INTERNAL_MARKING in text and "team@example.com" in text
    email = get_pdf(reader, reverse("communication-pdf", args=[documented.pk, documented.email.pk]))
    assert "Public" in email and INTERNAL_MARKING not in email
    assert "ana@example.com" not in email and "individually to 1 recipient" in email
    assert "Approved" in email and "by Lee Gal (Legal)" in email and "by Pia Rell (Communications)" in email


def test_the_affected_users_draft_takes_no_internal_text(documented, people):
    from incidents.services import incident_update
    from incidents.services.communications import communication_create

    incident_update(
        incident_id=documented.pk,
        actor=people["commander"],
        changes={"fix_description": "Hotfix 4411 to the retriever; Priya rolled back prompt v12"},
    )
    draft = communication_create(
        incident_id=documented.pk, audience=Audience.AFFECTED_USERS, actor=people["comms"], recipients="bo@example.com"
    )
    text = f"{draft.subject}\n{draft.body}"
    assert "order numbers to 40 users" not in text  # the incident's internal summary
    assert "Hotfix 4411" not in text and "Priya" not in text  # the internal fix text
    assert "What you saw" in text and "The correct information" in text and "What you can do" in text
    internal = communication_create(
        incident_id=documented.pk, audience=Audience.INTERNAL, actor=people["comms"], recipients="t@example.com"
    )
    assert "order numbers to 40 users" in internal.body  # the team's own update may use it
