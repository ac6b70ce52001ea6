"""A quarterly fire drill in a real browser.

The facilitator starts a scheduled drill; a participant takes command of the drill incident, triages
and contains it on the real incident page; the facilitator ends the exercise, ticks the checklist,
completes the debrief and sees the score with its rule.
"""

import datetime
import re

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from drills import services
from drills.models import Drill, Scenario
from incidents.constants import Category
from tests.incidents.factories import AIFeatureFactory, UserFactory

from .test_commander_flow import login, submit


def logout(page: Page, base: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_facilitator_runs_a_drill_and_sees_the_score(live_server, page: Page, artifacts_dir):
    assert Group.objects.filter(name="Drill Facilitator").exists(), "roles seeded by migration are missing"
    assert Scenario.objects.filter(category=Category.HARMFUL_OUTPUT).exists(), "scenarios seeded by migration"
    facilitator = UserFactory(username="facil", role="Drill Facilitator")
    participant = UserFactory(username="cmdr", role="Incident Commander")
    feature = AIFeatureFactory(key="support-bot", name="Support assistant")
    scenario = Scenario.objects.get(category=Category.HARMFUL_OUTPUT)
    drill = services.drill_plan(scenario=scenario, feature=feature, facilitator=facilitator, actor=None)
    services.drill_schedule(
        drill_id=drill.pk,
        scheduled_for=timezone.now() + datetime.timedelta(hours=2),
        participants=[participant],
        actor=None,
    )
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    base = live_server.url
    drill_url = f"{base}/admin/drills/drill/{drill.pk}/change/"
    try:
        # 1. The facilitator starts the scheduled drill.
        login(page, base, "facil")
        page.goto(drill_url)
        expect(page.locator("#drill-state")).to_have_text("Scheduled")
        submit(page, page.locator("form[data-transition=start]").get_by_role("button", name="Start drill"))
        expect(page.locator("#drill-state")).to_have_text("Running")
        expect(page.locator(".messagelist")).to_contain_text("participants are paged")
        incident_link = page.locator("#drill-incident-link")
        expect(incident_link).to_contain_text("INC-")
        incident_id = Drill.objects.get(pk=drill.pk).incident_id

        # 2. A participant takes command of the drill incident, triages and contains it.
        logout(page, base)
        login(page, base, "cmdr")
        page.goto(f"{base}/admin/incidents/incident/{incident_id}/change/")
        expect(page.locator(".breadcrumbs")).to_contain_text("[DRILL]")
        page.locator("#id_commander").select_option(label="cmdr")
        submit(page, page.get_by_role("button", name="Save and continue editing"))
        transitions = page.locator("#transitions")
        submit(page, transitions.locator("form[data-transition=triage]").get_by_role("button", name="Triage"))
        expect(page.locator("#incident-state")).to_have_text("Triaged")
        containment_form = page.locator("#containment-form")
        containment_form.locator("select[name=action_type]").select_option(label="Feature flag off (kill switch)")
        submit(page, containment_form.get_by_role("button", name="Record containment action"))
        submit(page, transitions.locator("form[data-transition=contain]").get_by_role("button", name="Mark contained"))
        expect(page.locator("#incident-state")).to_have_text("Contained")

        # 3. The facilitator ends the exercise, ticks the checklist and completes the debrief.
        logout(page, base)
        login(page, base, "facil")
        page.goto(drill_url)
        steps = page.locator("#steps")
        expect(steps.locator("tr[data-step=triage]")).to_contain_text("On time")
        expect(steps.locator("tr[data-step=contain]")).to_contain_text("On time")
        submit(page, page.locator("form[data-transition=end_exercise]").get_by_role("button"))
        expect(page.locator("#drill-state")).to_have_text("Debrief")
        checklist = page.locator("#checklist")
        checklist.get_by_label("Turn the feature off with its kill switch (or put it in fallback)").check()
        checklist.get_by_label("Page the on-call and the communications lead").check()
        submit(page, checklist.get_by_role("button", name="Save checklist"))
        expect(page.locator("#checklist h2")).to_contain_text("2 of 5 ticked")
        page.locator("#gap-form").get_by_label("Gap (what to change)").fill("Kill switch runbook names no night owner")
        submit(page, page.locator("#gap-form").get_by_role("button", name="Add as action item"))
        expect(page.locator("#gaps")).to_contain_text("Kill switch runbook names no night owner")
        complete = page.locator("form[data-transition=complete]")
        complete.locator("textarea").fill("Contained in minutes; nobody sent a statement.")
        submit(page, complete.get_by_role("button", name="Complete debrief and score"))

        # 4. The score, its rule, and the step table.
        expect(page.locator("#drill-state")).to_have_text("Completed")
        score = Drill.objects.get(pk=drill.pk).score
        # Triage + contain on time, the rest missed: 70 * 2/6 = 23.3; checklist 30 * 2/5 = 12 -> 35.
        assert score == 35
        expect(page.locator("#drill-score")).to_have_text(re.compile(r"35\s*/ 100"))
        expect(page.locator("#score-rule")).to_contain_text("70 points for the six steps")
        expect(page.locator(".messagelist")).to_contain_text("score 35 / 100")
        assert page_errors == []
    finally:
        page.screenshot(path=str(artifacts_dir / "e2e-drill.png"), full_page=True)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_drill_added_with_a_date_is_scheduled_and_starts_with_every_step_pending(
    live_server, page: Page, artifacts_dir
):
    facilitator = UserFactory(username="facil", role="Drill Facilitator")
    UserFactory(username="cmdr", role="Incident Commander")
    feature = AIFeatureFactory(key="support-bot", name="Support assistant")
    scenario = Scenario.objects.get(category=Category.HARMFUL_OUTPUT)
    expected = scenario.expected_actions.count()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    base = live_server.url
    try:
        # 1. The facilitator adds a drill with a date and a participant: saving it schedules it.
        login(page, base, "facil")
        page.goto(f"{base}/admin/drills/drill/add/")
        expect(page.locator("#drill_form")).to_contain_text("scheduled when you save")
        page.locator("#id_scenario").select_option(value=str(scenario.pk))
        page.locator("#id_feature").select_option(value=str(feature.pk))
        page.locator("#id_facilitator").select_option(label="facil")
        page.locator("#id_participants").select_option(label="cmdr")
        when = timezone.now() + datetime.timedelta(days=9)
        page.locator("#id_scheduled_for").fill(when.strftime("%Y-%m-%dT%H:%M"))
        submit(page, page.get_by_role("button", name="Save", exact=True))
        expect(page.locator(".messagelist")).to_contain_text("Scheduled for")
        drill = Drill.objects.get(facilitator=facilitator)
        page.goto(f"{base}/admin/drills/drill/{drill.pk}/change/")
        expect(page.locator("#drill-state")).to_have_text("Scheduled")

        # 2. Before the start the checklist heading counts the expected actions it shows.
        heading = page.locator("#checklist h2")
        expect(heading).to_contain_text(f"{expected} expected actions")
        expect(heading).not_to_contain_text("0 of 0")
        assert page.locator("#checklist li").count() == expected
        page.screenshot(path=str(artifacts_dir / "e2e-drill-scheduled.png"), full_page=True)

        # 3. At minute 0 every step is pending, none missed; the checklist is now the one to tick.
        submit(page, page.locator("form[data-transition=start]").get_by_role("button", name="Start drill"))
        expect(page.locator("#drill-state")).to_have_text("Running")
        steps = page.locator("#steps")
        for step in ("detect", "triage", "contain", "investigate", "fix", "communicate"):
            expect(steps.locator(f"tr[data-step={step}]")).to_contain_text("Pending")
        expect(steps).not_to_contain_text("Missed")
        expect(page.locator("#drill-provisional-score")).to_contain_text("every step is pending")
        expect(heading).to_contain_text(f"0 of {expected} ticked")
        assert page_errors == []
    finally:
        page.screenshot(path=str(artifacts_dir / "e2e-drill-pending.png"), full_page=True)
