"""Factories of the drills app's models, for the tests of other apps that only need a drill row to exist.

The drills app's own tests go through its services (tests/drills/conftest.py: scheduled_drill, running_drill)."""

from django.utils import timezone

from drills.models import Drill, Scenario


def make_drill(feature, *, state="completed", completed_at=None, scheduled_for=None) -> Drill:
    """A drill of a feature in a given state, written directly, with a scenario of its own for the feature."""
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
