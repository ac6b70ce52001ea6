"""The schedule pages in the admin, the on-call card on the command centre and gaps on the scorecard."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from audit.models import ActionLogEntry
from oncall.constants import OverrideState
from oncall.models import LayerMember, Override, Schedule
from oncall.selectors import who_is_on_call
from tests.conftest import fresh
from tests.oncall.factories import make_schedule

NOW = datetime(2026, 3, 5, 12, tzinfo=UTC)  # Thursday; daily 09:00 UTC handoffs from 2 March: Bob today


@pytest.fixture
def rotation(people):
    return make_schedule("AI on-call", layers=[{"members": [people["alice"], people["bob"]], "length": "daily"}])


def _inline_management(prefix, total=0, initial=0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_a_commander_creates_a_schedule_with_a_restricted_layer(client, commander, people):
    client.force_login(commander)
    data = {
        "name": "Office hours",
        "description": "",
        "time_zone": "Europe/Berlin",
        **_inline_management("layers", total=1),
        "layers-0-name": "weekdays",
        "layers-0-priority": "1",
        "layers-0-time_zone": "Europe/Berlin",
        "layers-0-rotation_start": "2026-03-02",
        "layers-0-handoff_time": "09:00",
        "layers-0-length": "weekly",
        "layers-0-interval": "1",
        "layers-0-rotation": "carol, dave",
        "layers-0-restrict_weekdays": ["0", "1", "2", "3", "4"],
        "layers-0-restrict_start": "09:00",
        "layers-0-restrict_end": "18:00",
        "layers-0-ical_url": "",
        **_inline_management("policy_tiers"),
    }
    response = client.post(reverse("admin:oncall_schedule_add"), data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    schedule = Schedule.objects.get(name="Office hours")
    layer = schedule.layers.get()
    assert layer.restrict_weekdays == [0, 1, 2, 3, 4]
    assert list(LayerMember.objects.filter(layer=layer).values_list("user__username", flat=True)) == ["carol", "dave"]
    logged = set(ActionLogEntry.objects.filter(actor=commander).values_list("target_type", "verb"))
    assert {("oncall.schedule", "created"), ("oncall.layer", "created"), ("oncall.layer", "changed")} <= logged
    # Tuesday 3 March 10:00 Berlin (09:00 UTC): Carol; 19:00 Berlin: no one
    assert who_is_on_call(schedule_id=schedule.pk, at=datetime(2026, 3, 3, 9, tzinfo=UTC)) == people["carol"].pk
    assert who_is_on_call(schedule_id=schedule.pk, at=datetime(2026, 3, 3, 18, tzinfo=UTC)) is None


def test_an_unknown_user_in_a_rotation_is_named_and_nothing_is_saved(client, commander, people):
    client.force_login(commander)
    data = {
        "name": "Broken",
        "time_zone": "Mars/Olympus",
        **_inline_management("layers", total=1),
        "layers-0-name": "l",
        "layers-0-priority": "1",
        "layers-0-time_zone": "UTC",
        "layers-0-rotation_start": "2026-03-02",
        "layers-0-handoff_time": "09:00",
        "layers-0-length": "weekly",
        "layers-0-interval": "1",
        "layers-0-rotation": "carol, zed",
        **_inline_management("policy_tiers"),
    }
    response = client.post(reverse("admin:oncall_schedule_add"), data)
    assert response.status_code == 200
    text = response.content.decode()
    assert "No active user named zed.</li></ul>" in text and "is not a time zone name" in text
    assert not Schedule.objects.exists()


def test_a_responder_reads_the_schedule_but_may_not_edit_it(client, responder, rotation):
    client.force_login(responder)
    url = reverse("admin:oncall_schedule_change", args=[rotation.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert "alice, bob" in response.content.decode()  # the rotation, read-only
    assert client.post(url, {"name": "Renamed"}).status_code == 403
    assert Schedule.objects.get(pk=rotation.pk).name == "AI on-call"


def test_the_schedule_page_shows_who_is_on_call_and_a_two_week_timeline(
    client, commander, rotation, people, django_assert_max_num_queries
):
    client.force_login(commander)
    url = reverse("admin:oncall_schedule_change", args=[rotation.pk])
    with time_machine.travel(NOW, tick=False):
        with django_assert_max_num_queries(40) as small:
            response = client.get(url)
    html = response.content.decode()
    assert re.search(r"On call now: <b>Bob</b>", html)
    final = html.split('class="oc-track oc-final"')[1].split('class="oc-label')[0]
    # today (from midnight) is Alice until 09:00 then Bob: 14 days of daily shifts in the top row
    assert final.count('class="oc-bar') == 15
    assert "Thu 05 Mar" in html and "Wed 18 Mar" in html
    assert "oc-gap" not in final  # no gap from the first handoff on
    # more people and overrides: the page costs the same number of queries
    for n in range(6):
        Override.objects.create(
            schedule=rotation, user=people["carol"], starts_at=NOW + timedelta(days=n), ends_at=NOW + timedelta(days=n,
            hours=2), reason="cover", state=OverrideState.ACTIVE,
        )  # fmt: skip
    with time_machine.travel(NOW, tick=False):
        with django_assert_max_num_queries(len(small.captured_queries)):
            html = client.get(url).content.decode()
    assert "Carol" in html


def test_a_responder_hands_over_their_shift_in_the_admin_and_it_waits(client, rotation, people):
    bob = fresh(people["bob"])
    client.force_login(bob)
    data = {
        "schedule": rotation.pk,
        "user": people["carol"].pk,
        "starts_at_0": "2026-03-05",
        "starts_at_1": "13:00",
        "ends_at_0": "2026-03-05",
        "ends_at_1": "15:00",
        "reason": "dentist",
    }
    with time_machine.travel(NOW, tick=False):
        response = client.post(reverse("admin:oncall_override_add"), data)
    assert response.status_code == 302
    override = Override.objects.get()
    assert override.state == OverrideState.PENDING and override.replaces == bob
    # not his shift: refused with the reason on the field, nothing saved
    data.update({"starts_at_0": "2026-03-06", "ends_at_0": "2026-03-06", "starts_at_1": "10:00"})
    response = client.post(reverse("admin:oncall_override_add"), data)
    assert response.status_code == 200
    assert "only for your own shifts: Alice is on call" in response.content.decode()
    assert Override.objects.count() == 1
    # Carol accepts from the overrides list
    client.force_login(fresh(people["carol"]))
    response = client.post(
        reverse("admin:oncall_override_changelist"), {"action": "accept", "_selected_action": [override.pk]}
    )
    assert response.status_code == 302
    assert Override.objects.get().state == OverrideState.ACTIVE


def test_command_centre_shows_who_is_on_call_and_the_gaps(client, commander, rotation, people):
    office = make_schedule(
        "Office hours", layers=[{"members": [people["carol"]], "restrict_weekdays": [0, 1, 2, 3, 4],
                                 "restrict_start": "09:00", "restrict_end": "17:00"}],
    )  # fmt: skip
    client.force_login(commander)
    with time_machine.travel(NOW, tick=False):
        html = client.get(reverse("admin:index")).content.decode()
    card = html.split('id="oncall-now"')[1].split('<div class="fl-card')[0]
    assert "AI on-call" in card and "<b>Bob</b>" in card and "until Fri 06 Mar 09:00" in card
    assert "Office hours" in card and "<b>Carol</b>" in card
    assert "No one on call in the next 7 days" in card and "Thu 05 Mar 17:00" in card
    with time_machine.travel(NOW, tick=False):
        html = client.get(reverse("command:readiness")).content.decode()
    assert "No one on call in the next 7 days" in html
    assert (
        f'href="{reverse("admin:oncall_schedule_change", args=[office.pk])}">Office hours</a>: Thu 05 Mar 17:00' in html
    )


def test_no_schedules_no_card(client, commander):
    client.force_login(commander)
    assert 'id="oncall-now"' not in client.get(reverse("admin:index")).content.decode()


def test_the_timeline_places_a_handoff_after_the_clocks_change_where_it_happens(client, commander, people):
    from oncall.timeline import schedule_timeline_get

    schedule = make_schedule(
        "Berlin", zone="Europe/Berlin", layers=[{"members": [people["alice"], people["bob"]], "length": "daily"}]
    )
    # two weeks from Thursday 26 March 2026, 00:00 Berlin: the clocks go forward on Sunday 29 March
    timeline = schedule_timeline_get(schedule=schedule, now=datetime(2026, 3, 26, 10, tzinfo=UTC))
    total_hours = 14 * 24 - 1
    final = timeline.rows[0].bars
    # the handoff on Monday 30 March 09:00 CEST is 07:00 UTC: 4 days + 8 hours after midnight CET (23:00 UTC)
    monday = next(b for b in final if abs(b.left - 100 * (4 * 24 + 8) / total_hours) < 0.01)
    assert monday.label in ("Alice", "Bob")
    assert abs(sum(b.width for b in final) - 100) < 0.01
    assert [t.label for t in timeline.ticks][3:5] == ["Sun 29 Mar", "Mon 30 Mar"]
    assert abs(timeline.ticks[4].left - 100 * (4 * 24 - 1) / total_hours) < 0.01  # Sunday was 23 hours long


def test_the_escalation_policy_page_names_the_schedules_it_pages(client, superuser, rotation):
    from incidents.models import EscalationPolicy
    from oncall.models import PolicyTier

    policy = EscalationPolicy.objects.get(severity="SEV2")
    client.force_login(superuser)
    url = reverse("admin:incidents_escalationpolicy_change", args=[policy.pk])
    assert "on-call schedules paged at each tier" in client.get(url).content.decode().lower()
    data = {
        "roles": policy.roles,
        "channels": policy.channels,
        "ack_timeout_minutes": policy.ack_timeout_minutes,
        "max_tier": policy.max_tier,
        "notify_states": policy.notify_states,
        "schedule_tiers-TOTAL_FORMS": "1",
        "schedule_tiers-INITIAL_FORMS": "0",
        "schedule_tiers-MIN_NUM_FORMS": "0",
        "schedule_tiers-MAX_NUM_FORMS": "1000",
        "schedule_tiers-0-tier": "9",
        "schedule_tiers-0-schedule": rotation.pk,
    }
    response = client.post(url, data)
    assert response.status_code == 200 and "stops escalating after tier" in response.content.decode()
    data["schedule_tiers-0-tier"] = "1"
    assert client.post(url, data).status_code == 302
    assert PolicyTier.objects.get(policy=policy).schedule == rotation


def test_a_half_given_restriction_names_what_is_missing(client, commander, people):
    client.force_login(commander)
    data = {
        "name": "Half restricted",
        "time_zone": "UTC",
        **_inline_management("layers", total=1),
        "layers-0-name": "l",
        "layers-0-priority": "1",
        "layers-0-time_zone": "UTC",
        "layers-0-rotation_start": "2026-03-02",
        "layers-0-handoff_time": "09:00",
        "layers-0-length": "custom",
        "layers-0-interval": "0",
        "layers-0-rotation": "carol",
        "layers-0-restrict_weekdays": ["0"],
        "layers-0-restrict_start": "09:00",
        **_inline_management("policy_tiers"),
    }
    text = client.post(reverse("admin:oncall_schedule_add"), data).content.decode()
    assert "A restriction needs days, a start and an end." in text
    assert "Ensure this value is greater than or equal to 1." in text  # the interval
    assert not Schedule.objects.exists()
