"""The seeded triage matrix gives every category a severity and a response at every impact level."""

import pytest

from incidents import services
from incidents.constants import Category, DetectionSignal, Impact
from incidents.models import TriageRule

EXPECTED = {
    # category: (limited, widespread, public, regulatory)
    Category.HARMFUL_OUTPUT: ("SEV3", "SEV2", "SEV1", "SEV1"),
    Category.DATA_LEAK: ("SEV2", "SEV1", "SEV1", "SEV1"),
    Category.FACTUAL_MISINFORMATION: ("SEV4", "SEV3", "SEV2", "SEV2"),
    Category.UNAUTHORIZED_ACTION: ("SEV2", "SEV1", "SEV1", "SEV1"),
    Category.SCALE_DEGRADATION: ("SEV4", "SEV3", "SEV2", "SEV2"),
    Category.CAPABILITY_LOSS: ("SEV4", "SEV2", "SEV2", "SEV2"),
}
IMPACT_INPUTS = {
    Impact.LIMITED: {"users_affected": 10},
    Impact.WIDESPREAD: {"users_affected": 5000},
    Impact.PUBLIC: {"users_affected": 10, "is_public": True},
    Impact.REGULATORY: {"users_affected": 10, "involves_privacy": True},
}


def test_matrix_is_seeded_for_all_categories_and_impacts(db):
    assert TriageRule.objects.count() == len(Category) * len(Impact)
    for rule in TriageRule.objects.all():
        assert rule.default_containment, rule
        assert "internal" in rule.required_communications


@pytest.mark.parametrize("category", list(Category))
@pytest.mark.parametrize("impact", list(Impact))
def test_incident_gets_the_matrix_severity(open_incident, category, impact):
    incident = open_incident(category=category, **IMPACT_INPUTS[impact])
    expected = EXPECTED[category][list(Impact).index(impact)]
    assert (incident.impact, incident.severity) == (impact, expected)
    assert incident.triage_rule.category == category


def test_external_attention_makes_an_incident_public(open_incident):
    incident = open_incident(category=Category.HARMFUL_OUTPUT, detection_signal=DetectionSignal.EXTERNAL_ATTENTION)
    assert incident.impact == Impact.PUBLIC and incident.severity == "SEV1"


def test_sev1_pages_leadership_legal_and_pr_and_privacy_pages_the_privacy_officer(db):
    sev1 = TriageRule.objects.get(category=Category.HARMFUL_OUTPUT, impact=Impact.PUBLIC)
    assert {"leadership", "legal", "pr"} <= set(sev1.required_stakeholders)
    privacy = TriageRule.objects.get(category=Category.FACTUAL_MISINFORMATION, impact=Impact.REGULATORY)
    assert "privacy_officer" in privacy.required_stakeholders
    assert "regulator" in privacy.required_communications


def test_editing_the_matrix_changes_new_incidents(open_incident, commander):
    rule = TriageRule.objects.get(category=Category.HARMFUL_OUTPUT, impact=Impact.LIMITED)
    rule.severity = "SEV1"
    services.record_save(instance=rule, actor=commander, fields=["severity"])
    assert open_incident().severity == "SEV1"


def test_raising_impact_on_an_open_incident_raises_severity_and_says_so(open_incident, commander):
    incident = open_incident()
    assert incident.severity == "SEV3"
    incident = services.incident_update(incident_id=incident.pk, actor=commander, changes={"is_public": True})
    assert incident.severity == "SEV1"
    assert incident.timeline.filter(kind="change").last().text == "Severity SEV3 → SEV1"


def test_override_needs_a_reason(open_incident, commander):
    from django.core.exceptions import ValidationError

    incident = open_incident()
    with pytest.raises(ValidationError) as exc:
        services.incident_update(incident_id=incident.pk, actor=commander, changes={"severity_override": "SEV1"})
    assert "severity_override_reason" in exc.value.message_dict
    incident.refresh_from_db()
    assert incident.severity == "SEV3"
    incident = services.incident_update(
        incident_id=incident.pk,
        actor=commander,
        changes={"severity_override": "SEV1", "severity_override_reason": "CEO's account affected"},
    )
    assert incident.severity == "SEV1"


def test_data_leaks_start_restricted(open_incident):
    assert open_incident(category=Category.DATA_LEAK).is_restricted
    assert not open_incident(category=Category.HARMFUL_OUTPUT).is_restricted


def test_occurred_after_detected_is_refused(open_incident):
    from datetime import timedelta

    from django.core.exceptions import ValidationError
    from django.utils import timezone

    now = timezone.now()
    with pytest.raises(ValidationError) as exc:
        open_incident(detected_at=now - timedelta(hours=1), occurred_at=now)
    assert "occurred_at" in exc.value.message_dict
