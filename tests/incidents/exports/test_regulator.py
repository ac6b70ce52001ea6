"""The regulator report PDF per regime, read back with pypdf: what a regulator asks for, nothing internal."""

import io

import pypdf
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from incidents.constants import Category, ContainmentType, StakeholderRole, TimelineKind
from incidents.exports import NoObligation, regulator_pdf
from incidents.models import OrganisationProfile, Regime, TimelineEntry
from incidents.services import timeline_add_note
from incidents.services.containment import containment_record
from incidents.services.regulatory import reportability_decide
from tests.conftest import fresh
from tests.incidents.factories import UserFactory, make_contact

SECTIONS = [
    "Reporting organisation",
    "AI system",
    "Description",
    "Timeline",
    "Harm",
    "Affected persons",
    "Measures taken",
    "Obligation under",
]
NOTE = "Internal note: blame the night shift"


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def reported(open_incident, commander, responder, feature):
    """A restricted incident under the AI Act, with a manual note and employees named in its timeline."""
    feature.model_provider = "Acme Models"
    feature.current_model_version = "acme-large-2026-01"
    feature.current_prompt_version = "support-v42"
    feature.save()
    make_contact(name="Lee Gal", role=StakeholderRole.LEGAL, email="legal@example.com")
    incident = open_incident(
        title="Leaked addresses",
        category=Category.DATA_LEAK,
        summary="The assistant **quoted** other customers' addresses.",
        users_affected=1234,
    )
    assert incident.is_restricted
    incident.members.add(responder)
    timeline_add_note(incident_id=incident.pk, text=NOTE, actor=commander)
    TimelineEntry.objects.create(
        incident=incident,
        kind=TimelineKind.CHANGE,
        text=f"Escalated to {commander.get_username()} and {responder.email}",
        actor=commander,
        occurred_at=incident.detected_at,
    )
    containment_record(
        incident_id=incident.pk,
        action_type=ContainmentType.FEATURE_FLAG_OFF,
        actor=responder,
        approved_by=commander,
    )
    reportability_decide(
        incident_id=incident.pk,
        regimes=[Regime.objects.get(code="eu-ai-act-73")],
        reason="Serious incident under the AI Act.",
        actor=commander,
    )
    return incident


@pytest.fixture
def profile(db):
    return OrganisationProfile.objects.update_or_create(
        pk=1,
        defaults={
            "legal_name": "Example Corp Ltd",
            "address": "1 Main Street\nDublin D02 XY45",
            "registration_numbers": "Company number: 123456\nLEI: 5493001KJTIIGC8Y1R12",
            "contact_name": "Lee Gal",
            "contact_role": "Data Protection Officer",
            "contact_email": "dpo@example.com",
            "contact_phone": "+353 1 555 0100",
        },
    )[0]


def test_regulator_pdf_has_the_sections_the_citation_and_the_facts(reported, profile):
    text = text_of(regulator_pdf(reported, Regime.objects.get(code="eu-ai-act-73")))
    for heading in SECTIONS:
        assert heading in text, heading
    assert "AI Act Art. 73" in text
    assert "Example Corp Ltd" in text and "Dublin D02 XY45" in text and "Company number: 123456" in text
    assert "Lee Gal (Data Protection Officer)" in text and "dpo@example.com" in text and "+353 1 555 0100" in text
    assert "Not ready to send" not in text
    assert "Fireline" not in text  # the product is never the reporting organisation
    assert "Support assistant" in text and "Acme Models" in text
    assert "acme-large-2026-01" in text and "support-v42" in text
    assert "quoted" in text and "1234" in text
    assert "Feature flag off" in text
    assert reported.reference in text


def test_a_profile_not_filled_in_says_so_instead_of_naming_fireline(reported):
    text = " ".join(text_of(regulator_pdf(reported, Regime.objects.get(code="eu-ai-act-73"))).split())
    assert "Not ready to send: the organisation profile has no legal name, address" in text
    assert "Fireline" not in text


def test_regulator_pdf_leaves_out_notes_reasons_and_named_employees(reported, commander, responder):
    assert reported.timeline.filter(text=NOTE).exists()
    assert reported.timeline.filter(text__contains=commander.get_username()).exists()
    text = " ".join(text_of(regulator_pdf(reported, Regime.objects.get(code="eu-ai-act-73"))).split())
    assert "night shift" not in text
    for name in (commander.get_username(), responder.get_username(), responder.email):
        assert name not in text, name
    # staff's chatter and reasons stay inside: the escalation line, the decision's reason, the proposal
    assert "Escalated to" not in text
    assert "Serious incident under the AI Act." not in text and "Reportability decided" not in text
    assert "Legal to confirm or reject" not in text and "Legal treats" not in text
    # what a regulator does get: the measures, by type
    assert "Containment: Feature flag off" in text


def test_regulator_pdf_needs_an_obligation_under_the_regime(reported):
    with pytest.raises(NoObligation):
        regulator_pdf(reported, Regime.objects.get(code="nis2-23"))


def test_view_serves_members_and_404s_outsiders_and_regimes_without_obligation(client, reported, commander):
    url = reverse("regulator-pdf", args=[reported.pk, "eu-ai-act-73"])
    client.force_login(commander)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "AI Act Art. 73" in text_of(response.content)
    assert client.get(reverse("regulator-pdf", args=[reported.pk, "nis2-23"])).status_code == 404
    assert client.get(reverse("regulator-pdf", args=[reported.pk, "no-such-regime"])).status_code == 404
    client.force_login(fresh(UserFactory(username="outsider", role="Viewer")))
    assert client.get(url).status_code == 404
    client.force_login(fresh(UserFactory(username="nobody")))
    assert client.get(url).status_code == 404  # cannot see the restricted incident: 404 before 403
    client.logout()
    assert client.get(url).status_code == 302


def test_view_403_without_the_permission_on_a_visible_incident(client, reported):
    user = fresh(UserFactory(username="no-perms"))
    reported.members.add(user)
    client.force_login(user)
    assert client.get(reverse("regulator-pdf", args=[reported.pk, "eu-ai-act-73"])).status_code == 403


def test_export_pdf_command_writes_the_regulator_pdf(reported, tmp_path):
    target = tmp_path / "ai-act.pdf"
    call_command("export_pdf", "regulator", str(reported.pk), "-o", str(target), "--regime", "eu-ai-act-73")
    assert target.read_bytes().startswith(b"%PDF")
    assert "AI Act Art. 73" in text_of(target.read_bytes())


def test_export_pdf_command_needs_a_regime_with_an_obligation(reported, tmp_path):
    target = str(tmp_path / "x.pdf")
    with pytest.raises(CommandError, match="--regime"):
        call_command("export_pdf", "regulator", str(reported.pk), "-o", target)
    with pytest.raises(CommandError, match="no obligation"):
        call_command("export_pdf", "regulator", str(reported.pk), "-o", target, "--regime", "nis2-23")
