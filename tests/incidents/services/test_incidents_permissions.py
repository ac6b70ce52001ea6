"""Every transition checks a permission; each role holds what it needs and no more."""

import pytest
from django.core.exceptions import PermissionDenied

from incidents import services
from incidents.constants import ContainmentType, DismissReason
from incidents.services import transition_options
from tests.conftest import fresh
from tests.incidents.factories import UserFactory

ROLE_TRANSITIONS = {
    # role: transitions it may fire
    "Incident Commander": {
        "triage",
        "contain",
        "investigate",
        "investigate_without_containment",
        "mark_fixed",
        "verify",
        "start_postmortem",
        "close",
        "dismiss",
        "reopen",
    },
    "Responder": {"contain", "investigate", "investigate_without_containment", "mark_fixed", "verify"},
    "Legal": set(),
    "Communications": set(),
    "Drill Facilitator": set(),
    "Viewer": set(),
}
PERMS = {
    "triage": "triage_incident",
    "contain": "contain_incident",
    "investigate": "investigate_incident",
    "investigate_without_containment": "investigate_incident",
    "mark_fixed": "fix_incident",
    "verify": "verify_incident",
    "start_postmortem": "start_postmortem_incident",
    "close": "close_incident",
    "dismiss": "dismiss_incident",
    "reopen": "reopen_incident",
}


@pytest.mark.parametrize("role", list(ROLE_TRANSITIONS))
def test_role_holds_exactly_its_transition_permissions(db, role):
    user = fresh(UserFactory(username=f"u-{role}", role=role))
    allowed = {name for name, perm in PERMS.items() if user.has_perm(f"incidents.{perm}")}
    assert allowed == ROLE_TRANSITIONS[role]


@pytest.mark.parametrize("role", ["Legal", "Communications", "Drill Facilitator", "Viewer", "Responder"])
def test_roles_without_triage_are_refused_and_nothing_changes(open_incident, role):
    user = fresh(UserFactory(username=f"u-{role}", role=role))
    incident = open_incident()
    incident.members.add(user)
    with pytest.raises(PermissionDenied):
        services.incident_triage(incident_id=incident.pk, actor=user)
    incident.refresh_from_db()
    assert incident.state == "detected"


def test_responder_cannot_dismiss_or_close(open_incident, responder):
    incident = open_incident()
    with pytest.raises(PermissionDenied):
        services.incident_dismiss(incident_id=incident.pk, reason=DismissReason.FALSE_ALARM, actor=responder)


def test_viewer_cannot_record_containment(open_incident, commander, viewer):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    with pytest.raises(PermissionDenied):
        services.containment_record(incident_id=incident.pk, action_type=ContainmentType.FEATURE_FLAG_OFF, actor=viewer)
    assert not incident.containment_actions.exists()


def test_page_offers_only_permitted_transitions_with_reasons(open_incident, commander, responder):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    incident.refresh_from_db()
    as_commander = {o.name: o for o in transition_options(incident, commander)}
    assert set(as_commander) == {"contain", "investigate_without_containment", "dismiss"}
    assert not as_commander["contain"].is_allowed
    assert any("containment" in b for b in as_commander["contain"].blockers)
    # SEV3 may skip containment: only the reason is missing, and the user types it with the button
    assert as_commander["investigate_without_containment"].is_allowed
    assert as_commander["investigate_without_containment"].needs_reason
    as_responder = {o.name for o in transition_options(incident, responder)}
    assert as_responder == {"contain", "investigate_without_containment"}
