"""The quarterly beat: exactly one drill per policy per quarter, the facilitator told once."""

import threading

import pytest
import time_machine
from django.db import connection

from drills import services
from drills.constants import DrillState
from drills.models import Drill, DrillPolicy
from drills.tasks import propose_quarterly_drills
from incidents.models import Notification


def test_beat_twice_proposes_one_planned_drill_and_notifies_the_facilitator_once(
    policy, scenario, facilitator, django_capture_on_commit_callbacks
):
    with time_machine.travel("2026-11-10 09:00:00+00:00", tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert propose_quarterly_drills.delay().get() == 1
            assert propose_quarterly_drills.delay().get() == 0
    drill = Drill.objects.get(policy=policy)
    assert (drill.state, drill.quarter, drill.facilitator) == (DrillState.PLANNED, "2026-Q4", facilitator)
    assert set(drill.participants.all()) == set(policy.participants.all())
    notes = Notification.objects.filter(recipient=facilitator.email)
    assert notes.count() == 1
    assert "proposed" in notes.get().subject


def test_next_quarter_gets_its_own_drill(policy, scenario):
    with time_machine.travel("2026-12-15 12:00:00+00:00", tick=False):
        services.drills_propose_due()
    # 2027-01-01 03:00 UTC is still 2026 in New York (the policy's zone): no second drill yet.
    with time_machine.travel("2027-01-01 03:00:00+00:00", tick=False):
        assert services.drills_propose_due() == 0
    with time_machine.travel("2027-01-01 06:00:00+00:00", tick=False):
        assert services.drills_propose_due() == 1
    assert sorted(Drill.objects.values_list("quarter", flat=True)) == ["2026-Q4", "2027-Q1"]


def test_inactive_policy_gets_no_drill(policy, scenario):
    DrillPolicy.objects.filter(pk=policy.pk).update(is_active=False)
    assert services.drills_propose_due() == 0
    assert not Drill.objects.exists()


def test_a_concurrent_run_that_loses_the_race_proposes_nothing(policy, scenario, monkeypatch):
    """The other beat inserted between our check and our insert: the unique constraint decides."""
    real_filter = Drill.objects.filter

    def racing_filter(*args, **kwargs):
        qs = real_filter(*args, **kwargs)
        if kwargs.get("quarter") and not Drill.objects.all().exists():
            Drill.objects.create(policy=policy, scenario=scenario, quarter=kwargs["quarter"], feature=policy.feature)
        return qs

    with time_machine.travel("2026-11-10 09:00:00+00:00", tick=False):
        monkeypatch.setattr(Drill.objects, "filter", racing_filter)
        result = services.drill_propose(policy=policy)
        monkeypatch.undo()
    assert result is None
    assert Drill.objects.filter(policy=policy, quarter="2026-Q4").count() == 1


# serialized_rollback: the flush after a transactional test would delete the seeded scenarios and roles.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_beats_at_the_same_time_propose_one_drill(settings):
    if connection.vendor != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL (SQLite serialises writers)")
    from drills.models import Scenario
    from tests.incidents.factories import AIFeatureFactory, UserFactory

    feature = AIFeatureFactory()
    policy = DrillPolicy.objects.create(feature=feature, facilitator=UserFactory(), time_zone="UTC")
    assert Scenario.objects.exists()
    barrier = threading.Barrier(2)
    results = []

    def run():
        barrier.wait()
        try:
            results.append(services.drill_propose(policy=DrillPolicy.objects.get(pk=policy.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Drill.objects.filter(policy=policy).count() == 1
    assert sum(r is not None for r in results) == 1


def test_rotation_uses_another_scenario_next_quarter(policy, scenario):
    with time_machine.travel("2026-11-10 09:00:00+00:00", tick=False):
        first = services.drill_propose(policy=policy)
    with time_machine.travel("2027-02-10 09:00:00+00:00", tick=False):
        second = services.drill_propose(policy=policy)
    assert first.scenario_id != second.scenario_id
    assert second.quarter == "2027-Q1"
