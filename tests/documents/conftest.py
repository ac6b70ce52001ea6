"""An incident worked the way a team works one, with every kind of internal material a document could leak.

Staff have login names and full names; the commander typed a reason on a transition, Legal decided
reportability with a reason and sent the post-mortem back with a note, a customer email went through
draft, review and sending, the pager ran, a note was written, and the post-mortem was published.
"""

import shutil
import subprocess
from datetime import timedelta

import pypdf
import pytest
from django.utils import timezone

from incidents import services
from incidents.constants import Audience, Category, ContainmentType, DetectionSignal, StakeholderRole, TimelineKind
from incidents.models import OrganisationProfile, PostMortem, Regime, TimelineEntry
from incidents.services.action_items import action_item_create
from incidents.services.communications import (
    communication_approve,
    communication_create,
    communication_send,
    communication_send_back,
    communication_submit,
    communication_update,
)
from incidents.services.containment import containment_record
from incidents.services.postmortems import (
    postmortem_approve,
    postmortem_create,
    postmortem_publish,
    postmortem_request_changes,
    postmortem_submit,
)
from incidents.services.regulatory import reportability_decide, reportability_propose_for_privacy
from tests.conftest import fresh
from tests.incidents.factories import UserFactory, make_contact
from tests.incidents.postmortem_text import write_sections

NOTE = "Internal note: the night shift ignored the first alert"
TRANSITION_REASON = "low risk, Priya says we can skip containment for now"
DECISION_REASON = "Legal treats as serious incident pending review"
REVIEW_NOTE = "Impact and 'why not caught' still hold the template guidance"
SEND_BACK_NOTE = "Too defensive; say sorry first"
PAGING = "Paged"
ORGANISATION = "Example Assist Ltd"
INTERNAL_MARKING = "Strictly confidential — legal privilege"
GDPR_MARKING = "Confidential — GDPR Art. 33 notification"
REGULATOR_MARKING = "Confidential — regulatory submission"

# What must never reach a public or regulator document.
INTERNAL_ONLY = [
    NOTE,
    "night shift",
    "Priya says",
    DECISION_REASON,
    "Legal to confirm or reject",
    "sent back for changes",
    REVIEW_NOTE,
    SEND_BACK_NOTE,
    "submitted for approval",
    "drafted",
    "Post-mortem started",
    "Paged ",
    "No one to page",
    "recipient(s)",
    "Escalat",
]


def pdf_text(data: bytes) -> str:
    """The PDF's text as a reader's tool extracts it (pdftotext where installed, else pypdf), spaces folded."""
    tool = shutil.which("pdftotext")
    if tool:
        out = subprocess.run(  # noqa: S603 - a fixed local tool reading our own bytes
            [tool, "-enc", "UTF-8", "-", "-"], input=data, capture_output=True, check=True, timeout=60
        ).stdout.decode()
    else:
        import io

        out = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)
    return " ".join(out.split())


def person(username, first, last, role):
    user = UserFactory(username=username, role=role, first_name=first, last_name=last)
    return fresh(user)


@pytest.fixture
def people(db):
    return {
        "commander": person("cmdr", "Cam", "Mander", "Incident Commander"),
        "legal": person("lawyer", "Lee", "Gal", "Legal"),
        "comms": person("pr", "Pia", "Rell", "Communications"),
        "responder": person("resp", "Rhea", "Sponder", "Responder"),
    }


@pytest.fixture
def profile(db):
    profile, _ = OrganisationProfile.objects.update_or_create(
        pk=1,
        defaults={
            "legal_name": ORGANISATION,
            "address": "1 Harbour Road, Dublin D02 XY45, Ireland",
            "registration_numbers": "Company number: 654321",
            "contact_name": "Dana Protect",
            "contact_role": "Data Protection Officer",
            "contact_email": "dpo@example-assist.test",
            "contact_phone": "+353 1 555 0100",
            "marking_internal": INTERNAL_MARKING,
            "marking_regulator": REGULATOR_MARKING,
        },
    )
    Regime.objects.filter(code="gdpr-33").update(report_marking=GDPR_MARKING)
    return profile


@pytest.fixture
def documented(people, profile, feature):
    """A data leak worked from detection to a published post-mortem, leaving internal material everywhere."""
    commander, legal, comms, responder = (people[k] for k in ("commander", "legal", "comms", "responder"))
    make_contact(name="Lee Gal", role=StakeholderRole.LEGAL, email="legal@example.com")
    incident = services.incident_open(
        actor=commander,
        title="Assistant showed other customers' orders",
        summary="The assistant quoted other customers' order numbers to 40 users.",
        category=Category.DATA_LEAK,
        detection_signal=DetectionSignal.USER_REPORT,
        feature=feature,
        commander=commander,
        users_affected=40,
        involves_privacy=True,
    )
    incident.members.add(responder, legal, comms)
    reportability_propose_for_privacy(incident_id=incident.pk)  # "Legal to confirm or reject"
    services.timeline_add_note(incident_id=incident.pk, text=NOTE, actor=commander)
    TimelineEntry.objects.create(
        incident=incident,
        kind=TimelineKind.PAGE,
        text=f"Paged {commander.get_username()} and {responder.email}: 2 recipient(s)",
        occurred_at=timezone.now(),
    )
    services.incident_triage(incident_id=incident.pk, actor=commander)
    containment_record(
        incident_id=incident.pk,
        action_type=ContainmentType.FEATURE_FLAG_OFF,
        actor=responder,
        approved_by=commander,
        description="support-bot-enabled off, Priya says we can skip the cohort",
    )
    reportability_decide(
        incident_id=incident.pk, regimes=[Regime.objects.get(code="eu-ai-act-73")], reason=DECISION_REASON, actor=legal
    )
    # a customer email: drafted, sent back, written, approved, sent
    email = communication_create(
        incident_id=incident.pk, audience=Audience.AFFECTED_USERS, actor=comms, recipients="ana@example.com"
    )
    communication_update(
        communication_id=email.pk,
        changes={"body": "We are sorry: the assistant showed you another customer's order. Nothing to do."},
        actor=comms,
    )
    communication_submit(communication_id=email.pk, actor=comms)
    communication_send_back(communication_id=email.pk, note=SEND_BACK_NOTE, actor=legal)
    communication_submit(communication_id=email.pk, actor=comms)
    communication_approve(communication_id=email.pk, actor=legal)
    communication_send(communication_id=email.pk, actor=comms)
    # the post-mortem: written, sent back with a note, approved by everyone, published
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    action_item_create(
        incident_id=incident.pk,
        title="Scope retrieval to the signed-in customer",
        kind="prevent",
        owner=responder,
        due_date=timezone.now().date() + timedelta(days=30),
        actor=commander,
    )
    write_sections(pm.pk, commander, is_public=True)  # going to customers: Communications reviews it too
    postmortem_submit(postmortem_id=pm.pk, actor=commander)
    postmortem_request_changes(postmortem_id=pm.pk, note=REVIEW_NOTE, actor=legal)
    postmortem_submit(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=legal)
    postmortem_approve(postmortem_id=pm.pk, actor=comms)
    postmortem_publish(postmortem_id=pm.pk, actor=legal)
    incident.refresh_from_db()
    incident.pm = PostMortem.objects.get(pk=pm.pk)
    incident.email = email
    return incident
