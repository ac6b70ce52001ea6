"""Gaps become action items on the drill incident; stale contacts in the escalation path are gaps."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from drills import services
from drills.selectors import features_with_completed_drill, upcoming_drills
from incidents.models import ActionItem, ActionItemSource


def test_a_gap_becomes_a_drill_action_item(running_drill, facilitator, commander):
    drill = running_drill()
    services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    item = services.drill_add_gap(
        drill_id=drill.pk,
        title="No runbook for the kill switch",
        kind="process",
        owner=commander,
        due_date=timezone.localdate() + datetime.timedelta(days=7),
        actor=facilitator,
    )
    assert (item.incident, item.source, item.owner) == (drill.incident, ActionItemSource.DRILL, commander)


def test_a_gap_without_owner_or_title_is_refused_and_nothing_is_stored(running_drill, facilitator):
    drill = running_drill()
    with pytest.raises(ValidationError) as exc:
        services.drill_add_gap(
            drill_id=drill.pk, title=" ", kind="process", owner=None, due_date=None, actor=facilitator
        )
    assert set(exc.value.message_dict) == {"title", "owner", "due_date"}
    assert not ActionItem.objects.exists()


def test_stale_contacts_in_the_escalation_path_become_gaps_once(running_drill, facilitator, contacts, stale_contact):
    drill = running_drill()
    services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    gaps = ActionItem.objects.filter(incident=drill.incident, source=ActionItemSource.DRILL)
    assert [g.title for g in gaps] == ["Re-verify stale contact Jo Stale (Legal, tier 2)"]
    assert gaps.get().owner == facilitator
    services.drill_record_contact_gaps(drill=drill, actor=facilitator)
    assert gaps.count() == 1


def test_contract_selectors(running_drill, scheduled_drill, facilitator, feature, django_assert_max_num_queries):
    later = scheduled_drill()
    done = running_drill()
    services.drill_end_exercise(drill_id=done.pk, actor=facilitator)
    services.drill_complete(drill_id=done.pk, actor=facilitator)
    with django_assert_max_num_queries(1):
        upcoming = list(upcoming_drills(facilitator))
        assert [d.scenario.name for d in upcoming] == [later.scenario.name]
        assert upcoming[0].feature == feature
    now = timezone.now()
    assert features_with_completed_drill(now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=1)) == {
        feature.pk
    }
    assert features_with_completed_drill(now + datetime.timedelta(hours=1), now + datetime.timedelta(hours=2)) == set()
