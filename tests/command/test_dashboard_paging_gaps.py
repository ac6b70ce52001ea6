"""A fresh install has escalation policies but no contacts: a SEV2 pages nobody. The incident page's
Paging card, the command centre and the readiness scorecard say so, name the roles without a contact
and link to where a contact is added."""

import io
import re
from html import unescape

import pytest
from django.urls import reverse

from incidents.constants import Category, ContactState, StakeholderRole
from incidents.services.escalation import incident_page
from tests.incidents.factories import IncidentFactory, make_contact

pytestmark = pytest.mark.django_db

ADD_CONTACT = reverse("admin:incidents_stakeholdercontact_add")


def contact(role, *, tier=1, **kwargs):
    return make_contact(
        name=f"{role} {tier}", role=role, escalation_tier=tier, email=f"{role}.{tier}@example.com", **kwargs
    )


def card(body: str, element_id: str) -> str | None:
    match = re.search(rf'<div class="[^"]*" id="{element_id}"[^>]*>(.*?)</div>', body, re.S)
    # the words a reader sees: tags dropped, spaces folded
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1)))).strip() if match else None


def incident_page_body(client, user, incident) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_sev2_on_a_fresh_install_warns_that_no_one_can_be_paged(client, superuser, feature):
    incident = IncidentFactory(feature=feature, severity="SEV2", state="triaged", commander=superuser)
    assert incident_page(incident=incident, reason="triaged") == []  # what the warning is about
    body = incident_page_body(client, superuser, incident)
    warning = card(body, "paging-gap")
    assert warning and "No one can be paged for this SEV2 incident" in warning
    assert "Engineering on-call, Leadership" in warning
    assert f'href="{ADD_CONTACT}?role=engineering_on_call&amp;escalation_tier=1"' in body
    assert f'href="{ADD_CONTACT}?role=leadership&amp;escalation_tier=1"' in body
    # the warning is on the first screen, above the next steps, not folded away in the Paging card
    assert body.index('id="paging-gap"') < body.index('id="transitions"') < body.index('id="card-pages"')


def test_the_link_opens_the_contact_form_with_the_role_filled_in(client, superuser):
    client.force_login(superuser)
    response = client.get(ADD_CONTACT, {"role": "leadership", "escalation_tier": 1})
    assert response.status_code == 200
    assert response.context["adminform"].form.initial["role"] == "leadership"


def test_the_warning_names_only_the_roles_still_missing_and_goes_when_all_are_covered(client, superuser, feature):
    incident = IncidentFactory(feature=feature, severity="SEV2", state="triaged", commander=superuser)
    contact(StakeholderRole.ENGINEERING_ON_CALL)
    contact(StakeholderRole.LEADERSHIP, tier=2)  # tier 2 is paged only on escalation
    contact(StakeholderRole.LEADERSHIP, state=ContactState.RETIRED)
    warning = card(incident_page_body(client, superuser, incident), "paging-gap")
    assert warning and "Not everyone can be paged" in warning
    assert "Leadership" in warning and "Engineering on-call" not in warning
    contact(StakeholderRole.LEADERSHIP)
    assert card(incident_page_body(client, superuser, incident), "paging-gap") is None


def test_a_privacy_incident_needs_the_privacy_officer_too(client, superuser, feature):
    contact(StakeholderRole.ENGINEERING_ON_CALL)
    contact(StakeholderRole.LEADERSHIP)
    leak = IncidentFactory(feature=feature, severity="SEV2", state="triaged", category=Category.DATA_LEAK)
    warning = card(incident_page_body(client, superuser, leak), "paging-gap")
    assert warning and "Privacy officer" in warning and "Leadership" not in warning


def test_no_warning_on_a_closed_incident_or_before_triage(client, superuser, feature):
    closed = IncidentFactory(feature=feature, severity="SEV2", state="closed")
    assert card(incident_page_body(client, superuser, closed), "paging-gap") is None
    untriaged = IncidentFactory(feature=feature, severity="", state="detected")
    assert card(incident_page_body(client, superuser, untriaged), "paging-gap") is None


def test_command_centre_and_readiness_name_each_severity_that_pages_nobody(client, superuser):
    client.force_login(superuser)
    for url in ("/admin/", reverse("command:readiness")):
        body = client.get(url).content.decode()
        warning = card(body, "paging-gaps")
        assert warning, url
        assert "SEV2 pages nobody: no contact for Engineering on-call, Leadership." in warning
        assert "SEV4 pages nobody: no contact for Engineering on-call." in warning
        assert f'href="{ADD_CONTACT}?role=leadership&amp;escalation_tier=1"' in body
        assert 'class="fl-card fl-alarm" id="paging-gaps"' in body


def test_command_centre_says_which_roles_are_missing_once_some_are_covered(client, superuser):
    contact(StakeholderRole.ENGINEERING_ON_CALL)
    contact(StakeholderRole.LEADERSHIP)
    client.force_login(superuser)
    warning = card(client.get("/admin/").content.decode(), "paging-gaps")
    assert warning and "SEV1 pages only some roles: no contact for Legal, PR / communications." in warning
    assert "SEV2" not in warning and "pages nobody" not in warning
    contact(StakeholderRole.LEGAL)
    contact(StakeholderRole.PR)
    assert card(client.get("/admin/").content.decode(), "paging-gaps") is None
    assert card(client.get(reverse("command:readiness")).content.decode(), "paging-gaps") is None


def test_the_readiness_pdf_for_leadership_says_who_cannot_be_paged(client, superuser):
    from pypdf import PdfReader

    contact(StakeholderRole.ENGINEERING_ON_CALL)
    client.force_login(superuser)
    response = client.get(reverse("command:readiness-pdf"))
    assert response.status_code == 200
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(response.content)).pages)
    assert "Who cannot be paged" in text
    assert "SEV2 pages only some roles: no contact for Leadership." in text
