"""Every blocked step on the incident page links to where it is unblocked; the guards' own words stay plain."""

import pytest
from django.urls import reverse

from incidents import services
from incidents.admin.blockers import blocker_place
from incidents.models import guards
from incidents.services.evals import evalcase_create
from tests.incidents.services.test_incidents import fixed, set_fix


@pytest.fixture
def logged_in(client, commander):
    client.force_login(commander)
    return client


def html_of(client, incident):
    return client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()


def test_containment_blocker_links_to_the_ledger(logged_in, open_incident, commander):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    html = html_of(logged_in, incident)
    assert '<li><a href="#containment">Record an active containment action first' in html
    assert 'id="containment"' in html  # the place exists


def test_fix_blockers_link_to_the_fields(logged_in, open_incident, commander):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.incident_investigate_without_containment(
        incident_id=incident.pk, reason="SEV3, low reach", actor=commander
    )
    html = html_of(logged_in, incident)
    assert '<a href="#id_root_cause_layer">Record the root cause and its layer.</a>' in html
    assert '<a href="#id_fix_layer">Describe the fix and its layer.</a>' in html
    assert 'id="id_root_cause_layer"' in html and 'id="id_fix_layer"' in html
    set_fix(incident, commander, fix_layer="moderation")
    html = html_of(logged_in, incident)
    assert '<a href="#id_fix_layer_justification">The fix is at another layer' in html


def test_eval_blockers_link_to_the_evals_card(logged_in, open_incident, commander):
    incident = fixed(open_incident, commander)
    html = html_of(logged_in, incident)
    assert '<a href="#evals">Link at least one eval case' in html and 'id="evals"' in html
    case = evalcase_create(
        feature=incident.feature, input="x", expected_behaviour="y", actor=commander, source_incident=incident
    )
    assert f'<a href="#evals">EV-{case.pk}: no run reported yet</a>' in html_of(logged_in, incident)


def test_every_guard_with_a_fixed_text_has_a_place_and_the_texts_stay_plain():
    for guard in [
        guards.has_category,
        guards.has_commander,
        guards.has_active_containment,
        guards.has_root_cause,
        guards.has_fix,
        guards.evals_prove_the_fix,
        guards.regulatory_obligations_submitted_or_waived,
    ]:
        assert blocker_place(guard.failure).startswith("#"), guard.__name__
        assert "<" not in guard.failure and "#" not in guard.failure  # still plain for the API
    assert blocker_place(guards.has_published_postmortem_if_required.failure, postmortem_url="/pm/1/") == "/pm/1/"
    assert blocker_place("The triage matrix requires communications: send … to internal first.") == "#communications"
    assert blocker_place("Pages still waiting for an answer (Ana): acknowledge or cancel them.") == "#pages"
    assert blocker_place("Something nobody can fix here.") == ""
