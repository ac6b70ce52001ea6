"""What the drill page and report say while a facilitator watches the clock (issue 16).

A step not done yet is Pending until its target minute has passed; the checklist count matches the
actions shown; a date saved in the admin schedules the drill (or the page says it does not).
"""

import datetime
import re

import time_machine
from django.urls import reverse
from django.utils import timezone

from drills import services
from drills.constants import DrillState, StepStatus
from drills.models import Drill
from drills.report import drill_report_html
from drills.scoring import drill_score, step_result
from drills.timing import drill_step_results
from incidents import services as incident_services

T0 = datetime.datetime(2026, 11, 11, 9, 0, tzinfo=datetime.UTC)  # targets: detect 5, triage 15, contain 30,
# investigate 45, communicate 60, fix 120 minutes


PENDING = "pending"


def at(minutes):
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


def change_url(drill):
    return reverse("admin:drills_drill_change", args=[drill.pk])


def started_at_t0(running_drill):
    with at(0):
        return running_drill()


def row(page: str, step: str) -> str:
    match = re.search(rf'<tr data-step="{step}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {step}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1)))


# --- 1. Pending until the target minute ------------------------------------------------------


def test_at_minute_zero_every_step_is_pending_not_missed(running_drill, client, facilitator):
    drill = started_at_t0(running_drill)
    with at(0):
        results = drill_step_results(drill)
        client.force_login(facilitator)
        page = client.get(change_url(drill)).content.decode()
    assert {r.status for r in results} == {PENDING}
    for step in ("detect", "triage", "fix"):
        assert "Pending" in row(page, step) and "Missed" not in row(page, step)
    assert "Missed" not in page


def test_a_step_turns_missed_only_once_its_target_time_has_passed(running_drill, commander):
    drill = started_at_t0(running_drill)
    with at(12):
        incident_services.incident_update(
            incident_id=drill.incident_id, changes={"commander": commander}, actor=commander
        )
        incident_services.incident_triage(incident_id=drill.incident_id, actor=commander)
    with at(40):
        results = {r.step: r.status for r in drill_step_results(Drill.objects.get(pk=drill.pk))}
    assert results["detect"] == StepStatus.MISSED  # target 5 min, passed, nothing recorded
    assert results["triage"] == StepStatus.ON_TIME  # recorded at 12 of 15
    assert results["contain"] == StepStatus.MISSED  # target 30 min passed
    assert results["investigate"] == PENDING  # target 45 min still ahead
    assert results["communicate"] == PENDING
    assert results["fix"] == PENDING


def test_pending_steps_do_not_lower_the_provisional_score(running_drill, client, facilitator, commander):
    drill = started_at_t0(running_drill)
    with at(3):
        incident_services.incident_update(
            incident_id=drill.incident_id, changes={"commander": commander}, actor=commander
        )
        incident_services.incident_triage(incident_id=drill.incident_id, actor=commander)
    with at(4):
        statuses = [r.status for r in drill_step_results(Drill.objects.get(pk=drill.pk))]
        client.force_login(facilitator)
        page = client.get(change_url(drill)).content.decode()
    # Triage done at minute 3 of 15; every other target is still ahead: nothing is missed yet.
    assert statuses.count(PENDING) == 5
    checklist = drill.checklist.count()
    assert drill_score(statuses, 0, checklist) == 70
    assert re.search(r"Provisional: <b>70</b> / 100", page)


def test_unrecorded_steps_are_missed_once_the_exercise_ends(running_drill, facilitator):
    drill = started_at_t0(running_drill)
    with at(3):
        services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    drill.refresh_from_db()
    with at(500):
        results = drill_step_results(drill)
    assert {r.status for r in results} == {StepStatus.MISSED}
    with at(501):
        done = services.drill_complete(drill_id=drill.pk, actor=facilitator)
    assert done.score == 0


def test_the_report_of_a_running_drill_says_pending_like_the_page(running_drill):
    drill = started_at_t0(running_drill)
    with at(10):
        html = drill_report_html(Drill.objects.get(pk=drill.pk))
    steps = html.split("Step times against targets", 1)[1].split("</table>", 1)[0]
    assert steps.count("Pending") == 5 and steps.count("Missed") == 1  # only detect (5 min) has passed


# --- 2. The checklist count matches what is shown --------------------------------------------


def test_a_planned_drill_does_not_say_0_of_0_above_the_expected_actions(client, facilitator, scenario, feature):
    drill = services.drill_plan(scenario=scenario, feature=feature, facilitator=facilitator, actor=facilitator)
    expected = scenario.expected_actions.count()
    assert expected > 0
    client.force_login(facilitator)
    page = client.get(change_url(drill)).content.decode()
    heading = re.search(r'<div class="fl-card" id="checklist">\s*<h2>(.*?)</h2>', page, re.S).group(1)
    assert "0 of 0" not in heading
    assert f"{expected} expected actions" in heading and "when the drill starts" in heading


def test_a_running_drill_counts_its_checklist(running_drill, client, facilitator):
    drill = running_drill()
    client.force_login(facilitator)
    page = client.get(change_url(drill)).content.decode()
    assert f"(0 of {drill.checklist.count()} ticked)" in page


def test_the_report_of_a_planned_drill_lists_the_expected_actions_it_counts(facilitator, scenario, feature):
    drill = services.drill_plan(scenario=scenario, feature=feature, facilitator=facilitator, actor=facilitator)
    html = drill_report_html(drill)
    assert "0 of 0 ticked" not in html
    first = scenario.expected_actions.order_by("position").first()
    assert first.text in html


# --- 3. A date saved in the admin schedules the drill ----------------------------------------


def _add(client, scenario, feature, facilitator, participants, when):
    return client.post(
        reverse("admin:drills_drill_add"),
        {
            "scenario": scenario.pk,
            "feature": feature.pk,
            "team": "",
            "facilitator": facilitator.pk,
            "participants": [p.pk for p in participants],
            "scheduled_for": when,
        },
        follow=True,
    )


def test_a_date_and_participants_saved_in_the_admin_schedule_the_drill(
    client, facilitator, scenario, feature, commander
):
    client.force_login(facilitator)
    when = timezone.now() + datetime.timedelta(days=9)
    response = _add(client, scenario, feature, facilitator, [commander], when.strftime("%Y-%m-%dT%H:%M"))
    assert response.status_code == 200
    drill = Drill.objects.get()
    assert drill.state == DrillState.SCHEDULED
    assert set(drill.reminders.values_list("key", flat=True)) == {"week", "day", "hour"}
    page = client.get(change_url(drill)).content.decode()
    assert '<span class="fl-state fl-blue" id="drill-state">Scheduled</span>' in page


def test_a_date_without_participants_stays_planned_and_the_page_says_so(client, facilitator, scenario, feature):
    client.force_login(facilitator)
    when = (timezone.now() + datetime.timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")
    response = _add(client, scenario, feature, facilitator, [], when)
    drill = Drill.objects.get()
    assert drill.state == DrillState.PLANNED
    assert "not scheduled" in response.content.decode()
    page = client.get(change_url(drill)).content.decode()
    header = re.search(r"Facilitator:(.*?)</div>", page, re.S).group(1)
    assert "Scheduled 20" not in header and "not scheduled yet" in header


def test_a_past_date_is_refused_on_the_add_form(client, facilitator, scenario, feature, commander):
    client.force_login(facilitator)
    when = (timezone.now() - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = _add(client, scenario, feature, facilitator, [commander], when)
    assert not Drill.objects.exists()
    assert "A drill is scheduled in the future." in response.content.decode()


def test_the_add_form_says_what_the_date_does(client, facilitator):
    client.force_login(facilitator)
    page = client.get(reverse("admin:drills_drill_add")).content.decode()
    assert "scheduled when you save" in page


def test_a_step_is_pending_up_to_its_target_minute_and_missed_one_second_later():
    def status(now):
        return step_result(
            step="triage", target_minutes=15, started_at=T0, ended_at=now, occurred_at=None, now=now
        ).status

    assert status(T0 + datetime.timedelta(minutes=15)) == PENDING
    assert status(T0 + datetime.timedelta(minutes=15, seconds=1)) == StepStatus.MISSED


def test_no_provisional_score_while_every_step_is_pending(running_drill, client, facilitator):
    drill = started_at_t0(running_drill)
    assert drill_score([PENDING] * 6, 0, 5) is None
    with at(1):
        client.force_login(facilitator)
        page = client.get(change_url(drill)).content.decode()
    assert "No provisional score yet: every step is pending" in page
