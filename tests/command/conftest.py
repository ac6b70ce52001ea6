import pytest
from django.utils import timezone


@pytest.fixture
def facilitator_drill(db):
    """A drill of a feature in a given state, written directly (the drills app's services are its own)."""
    from drills.models import Drill, Scenario

    def make(feature, *, state="completed", completed_at=None, scheduled_for=None):
        scenario, _ = Scenario.objects.get_or_create(
            name=f"Scenario for {feature.key}", defaults={"category": "harmful_output", "bad_output": "bad"}
        )
        return Drill.objects.create(
            scenario=scenario,
            feature=feature,
            state=state,
            quarter="2026-Q4",
            completed_at=completed_at,
            scheduled_for=scheduled_for or timezone.now(),
        )

    return make
