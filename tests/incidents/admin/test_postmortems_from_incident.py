"""The post-mortem is written from the incident page: no dead end between "Start post-mortem" and Close."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from incidents import services
from incidents.models import PostMortem, PostMortemState
from tests.incidents.services.test_incidents import verified


def said(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def incident_page(incident):
    return reverse("admin:incidents_incident_change", args=[incident.pk])


def write(client, incident):
    return client.post(reverse("admin:incidents_postmortem_write", args=[incident.pk]))


@pytest.fixture
def logged_in(client, commander):
    client.force_login(commander)
    return client


@pytest.fixture
def in_postmortem(open_incident, commander):
    incident = verified(open_incident, commander)  # SEV3: the triage matrix requires a post-mortem
    assert incident.requires_postmortem
    return services.incident_start_postmortem(incident_id=incident.pk, actor=commander)


def test_the_incident_page_offers_to_write_the_missing_post_mortem(logged_in, in_postmortem):
    html = logged_in.get(incident_page(in_postmortem)).content.decode()
    assert 'id="postmortem-write"' in html and "Write the post-mortem" in html
    # Close is blocked on it, and the blocker leads to the button
    assert '<a href="#postmortem-write">The triage matrix requires a post-mortem: publish it first' in html


def test_writing_it_lands_on_the_editable_post_mortem_and_the_incident_links_to_it(logged_in, in_postmortem):
    response = write(logged_in, in_postmortem)
    postmortem = PostMortem.objects.get(incident=in_postmortem)
    assert postmortem.state == PostMortemState.DRAFT
    assert postmortem.root_cause.startswith("Persona prompt allowed it.")  # filled from the investigation
    assert response["Location"] == reverse("admin:incidents_postmortem_change", args=[postmortem.pk])
    assert any("Post-mortem started" in m for m in said(response))
    assert in_postmortem.timeline.filter(text="Post-mortem started (draft)").exists()

    edit = logged_in.get(response["Location"]).content.decode()
    assert 'name="what_happened"' in edit and "Submit for review" in edit  # editable, with its buttons

    html = logged_in.get(incident_page(in_postmortem)).content.decode()
    pm_url = reverse("admin:incidents_postmortem_change", args=[postmortem.pk])
    assert 'id="postmortem-write"' not in html
    assert f'id="postmortem-link" href="{pm_url}"' in html
    assert f'<a href="{pm_url}">The triage matrix requires a post-mortem: publish it first' in html


def test_a_second_click_opens_the_same_post_mortem(logged_in, in_postmortem):
    write(logged_in, in_postmortem)
    response = write(logged_in, in_postmortem)
    assert PostMortem.objects.filter(incident=in_postmortem).count() == 1
    assert response["Location"] == reverse(
        "admin:incidents_postmortem_change", args=[PostMortem.objects.get(incident=in_postmortem).pk]
    )


def test_who_may_not_write_post_mortems_gets_no_button_and_no_post_mortem(client, viewer, in_postmortem):
    client.force_login(viewer)
    assert "Write the post-mortem" not in client.get(incident_page(in_postmortem)).content.decode()
    write(client, in_postmortem)
    assert not PostMortem.objects.exists()


def test_no_button_where_no_post_mortem_is_required(logged_in, open_incident):
    incident = open_incident(category="factual_misinformation")  # limited impact: SEV4, none required
    assert not incident.requires_postmortem
    assert "Write the post-mortem" not in logged_in.get(incident_page(incident)).content.decode()


def test_a_restricted_incident_stays_invisible(client, responder, open_incident):
    incident = open_incident(category="data_leak")  # restricted by default
    client.force_login(responder)
    assert write(client, incident).status_code == 404
    assert not PostMortem.objects.exists()


SECTIONS = {
    "what_happened": "The bot told users to mix cleaners.",
    "impact": "Three users.",
    "root_cause": "The persona prompt.",
    "why_not_caught": "No eval case for it.",
    "what_is_changing": "Safety rules on every topic.",
}


def post_sections(client, postmortem, sections):
    data = {
        "is_public": "",
        "classification_marking": postmortem.classification_marking,
        **sections,
        "_save_and_submit": "1",
        "learnings-TOTAL_FORMS": "0",
        "learnings-INITIAL_FORMS": "0",
        "learnings-MIN_NUM_FORMS": "0",
        "learnings-MAX_NUM_FORMS": "1000",
    }
    return client.post(reverse("admin:incidents_postmortem_change", args=[postmortem.pk]), data)


def test_submit_for_review_saves_the_typed_sections_first(logged_in, in_postmortem):
    write(logged_in, in_postmortem)
    postmortem = PostMortem.objects.get(incident=in_postmortem)
    html = logged_in.get(reverse("admin:incidents_postmortem_change", args=[postmortem.pk])).content.decode()
    assert 'form="postmortem_form" name="_save_and_submit"' in html
    response = post_sections(logged_in, postmortem, SECTIONS)
    postmortem.refresh_from_db()
    assert postmortem.what_happened == SECTIONS["what_happened"]
    assert postmortem.state == PostMortemState.IN_REVIEW
    assert any("Saved and submitted for review." in m for m in said(response))


def test_a_refused_submit_for_review_keeps_what_was_typed(logged_in, in_postmortem):
    write(logged_in, in_postmortem)
    postmortem = PostMortem.objects.get(incident=in_postmortem)
    response = post_sections(logged_in, postmortem, {**SECTIONS, "impact": ""})
    postmortem.refresh_from_db()
    assert postmortem.state == PostMortemState.DRAFT
    assert postmortem.what_happened == SECTIONS["what_happened"]  # not thrown away
    assert any(m.startswith("Your text is saved, but not submitted.") and "Impact" in m for m in said(response))
