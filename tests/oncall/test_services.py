"""Who may change who is on call: editors add any override; anyone hands over their own shift, and the
person taking it must accept first."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import ActionLogEntry
from incidents.models import Notification
from oncall import services
from oncall.constants import SCHEDULE_MANAGER, OverrideState
from oncall.models import Override
from oncall.selectors import who_is_on_call
from tests.conftest import fresh
from tests.incidents.factories import UserFactory
from tests.oncall.factories import make_schedule

# Weekly Monday 09:00 UTC handoffs from 2 March 2026: Alice (2-9 March), Bob (9-16 March), ...
ALICE_WEEK = datetime(2026, 3, 3, 12, tzinfo=UTC)
BOB_WEEK = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def schedule(people):
    return make_schedule(layers=[{"members": [people["alice"], people["bob"]]}])


def test_the_seeded_schedule_manager_and_incident_commander_edit_schedules(db, commander, responder):
    manager = fresh(UserFactory(username="sm", role=SCHEDULE_MANAGER))
    assert services.may_edit_schedules(manager)
    assert services.may_edit_schedules(commander)
    assert not services.may_edit_schedules(responder)
    assert responder.has_perm("oncall.view_schedule")


def test_an_editor_s_override_counts_at_once(schedule, people, commander):
    override = services.override_create(
        schedule=schedule,
        user=people["carol"],
        starts_at=ALICE_WEEK,
        ends_at=ALICE_WEEK + timedelta(hours=4),
        reason="Alice's holiday",
        actor=commander,
    )
    assert override.state == OverrideState.ACTIVE
    assert who_is_on_call(schedule_id=schedule.pk, at=ALICE_WEEK + timedelta(hours=1)) == people["carol"].pk
    assert who_is_on_call(schedule_id=schedule.pk, at=ALICE_WEEK + timedelta(hours=5)) == people["alice"].pk
    assert ActionLogEntry.objects.filter(target_type="oncall.override", target_id=str(override.pk)).exists()


def test_handing_over_your_own_shift_waits_for_the_other_person(schedule, people):
    alice, carol = fresh(people["alice"]), fresh(people["carol"])
    override = services.override_create(
        schedule=schedule,
        user=carol,
        starts_at=ALICE_WEEK,
        ends_at=ALICE_WEEK + timedelta(days=1),
        reason="swap: I take her Saturday",
        actor=alice,
    )
    assert override.state == OverrideState.PENDING and override.replaces == alice
    at = ALICE_WEEK + timedelta(hours=1)
    assert who_is_on_call(schedule_id=schedule.pk, at=at) == alice.pk  # not yet
    ask = Notification.objects.get(dedup_key=f"oncall:swap:{override.pk}")
    assert ask.recipient == "carol@example.com" and "Accept or decline" in ask.body
    with pytest.raises(PermissionDenied):
        services.override_accept(override_id=override.pk, actor=alice)  # only Carol can say yes
    services.override_accept(override_id=override.pk, actor=carol)
    assert who_is_on_call(schedule_id=schedule.pk, at=at) == carol.pk
    with pytest.raises(ValidationError):
        services.override_decline(override_id=override.pk, actor=carol)  # already decided


def test_a_declined_swap_changes_nothing(schedule, people):
    alice, bob = fresh(people["alice"]), fresh(people["bob"])
    override = services.override_create(
        schedule=schedule, user=bob, starts_at=ALICE_WEEK, ends_at=ALICE_WEEK + timedelta(hours=2), reason="x",
        actor=alice,
    )  # fmt: skip
    services.override_decline(override_id=override.pk, actor=bob)
    assert Override.objects.get(pk=override.pk).state == OverrideState.DECLINED
    assert who_is_on_call(schedule_id=schedule.pk, at=ALICE_WEEK + timedelta(hours=1)) == alice.pk


def test_no_one_may_give_away_someone_else_s_shift(schedule, people):
    alice = fresh(people["alice"])
    with pytest.raises(ValidationError) as err:
        services.override_create(
            schedule=schedule, user=people["carol"], starts_at=BOB_WEEK, ends_at=BOB_WEEK + timedelta(hours=2),
            reason="not mine", actor=alice,
        )  # fmt: skip
    assert "only for your own shifts: Bob is on call" in err.value.message_dict["starts_at"][0]
    # a period that runs past the end of her own shift is refused too
    with pytest.raises(ValidationError):
        services.override_create(
            schedule=schedule, user=people["carol"], starts_at=ALICE_WEEK, ends_at=BOB_WEEK, reason="too long",
            actor=alice,
        )  # fmt: skip
    assert not Override.objects.exists()


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("ends_at", {"ends_at": ALICE_WEEK - timedelta(hours=1)}),
        ("reason", {"reason": "  "}),
        ("user", {"user": None}),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(schedule, people, commander, field, changes):
    kwargs = dict(
        schedule=schedule, user=people["carol"], starts_at=ALICE_WEEK, ends_at=ALICE_WEEK + timedelta(hours=1),
        reason="cover", actor=commander,
    )  # fmt: skip
    kwargs.update(changes)
    with pytest.raises(ValidationError) as err:
        services.override_create(**kwargs)
    assert field in err.value.message_dict
    assert not Override.objects.exists()


def test_only_the_asker_or_an_editor_cancels(schedule, people, commander):
    alice, carol, dave = fresh(people["alice"]), fresh(people["carol"]), fresh(people["dave"])
    override = services.override_create(
        schedule=schedule, user=carol, starts_at=ALICE_WEEK, ends_at=ALICE_WEEK + timedelta(hours=2), reason="x",
        actor=alice,
    )  # fmt: skip
    with pytest.raises(PermissionDenied):
        services.override_cancel(override_id=override.pk, actor=dave)
    services.override_cancel(override_id=override.pk, actor=alice)
    assert Override.objects.get(pk=override.pk).state == OverrideState.CANCELLED


def test_rotation_editing_needs_the_permission(schedule, people, responder, commander):
    layer = schedule.layers.get()
    with pytest.raises(PermissionDenied):
        services.layer_set_rotation(layer=layer, users=[people["dave"]], actor=responder)
    services.layer_set_rotation(layer=layer, users=[people["dave"], people["alice"]], actor=commander)
    assert who_is_on_call(schedule_id=schedule.pk, at=ALICE_WEEK) == people["dave"].pk
    with pytest.raises(ValidationError) as err:
        services.parse_rotation("dave, nobody-here")
    assert "nobody-here" in err.value.message_dict["rotation"][0]
