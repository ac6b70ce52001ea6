"""A false alarm, dismissed in the browser on a fresh install: the kill switch it held is settled first.

Log in, register the feature, open the incident, pull the kill switch, then find it was a load test:
Dismiss asks what to do with the switch still held, and the product gets the feature back.
"""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from incidents import services
from incidents.models import Incident
from tests.e2e.test_commander_flow import create_feature, login, select_feature, submit
from tests.incidents.factories import UserFactory


def flag_value(page: Page, base: str, token: str, key: str) -> bool:
    response = page.request.post(
        f"{base}/ofrep/v1/evaluate/flags/{key}", data={"context": {}}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200, response.text()
    return response.json()["value"]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_false_alarm_is_dismissed_and_its_kill_switch_lifted(live_server, page: Page, artifacts_dir):
    assert Group.objects.filter(name="Incident Commander").exists(), "roles seeded by migration are missing"
    UserFactory(username="cmdr", role="Incident Commander")
    token = services.api_token_create(name="product", scopes=["flags"])[1]  # the product's own token
    base = live_server.url
    step = 0

    def shot(name):
        nonlocal step
        step += 1
        page.screenshot(path=str(artifacts_dir / f"e2e-dismissal-{step}-{name}.png"), full_page=True)

    try:
        login(page, base, "cmdr")
        create_feature(page, base)

        page.goto(f"{base}/admin/incidents/incident/add/")
        page.locator("#id_title").fill("Latency alarm on the support bot")
        select_feature(page, "support", "Support assistant (support-bot)")
        page.locator("#id_detection_signal").select_option(label="Monitoring alert")
        page.locator("#id_category").select_option(label="Scale degradation")
        page.locator("#id_commander").select_option(label="cmdr")
        submit(page, page.get_by_role("button", name="Save and continue editing"))
        expect(page.locator("#incident-state")).to_have_text("Detected")
        incident = Incident.objects.get(title="Latency alarm on the support bot")

        containment_form = page.locator("#containment-form")
        containment_form.locator("select[name=action_type]").select_option(label="Feature flag off (kill switch)")
        submit(page, containment_form.get_by_role("button", name="Record containment action"))
        expect(page.locator(".messagelist")).to_contain_text("Containment action recorded.")
        assert flag_value(page, base, token, "support-bot-enabled") is False

        # Dismiss is folded away until asked for, with what it would leave active.
        page.locator("#dismiss-fold > summary").click()
        dismiss_form = page.locator("form[data-transition=dismiss]")
        dismiss_form.get_by_label("Dismiss reason").select_option(label="False alarm")
        dismiss_form.get_by_label("Dismiss note").fill("A load test in staging pointed at the production dashboard.")
        settle = dismiss_form.locator("#dismiss-settle")
        expect(settle).to_contain_text("Before dismissing, nothing stays silently active")
        expect(settle).to_contain_text("Feature flag off")
        shot("settle")
        settle.get_by_label("Feature flag off (kill switch): lift or hand over (dismissing)").select_option("lift")
        settle.get_by_label("Feature flag off (kill switch): why lift or keep it (dismissing)").fill(
            "it was a load test"
        )
        submit(page, dismiss_form.get_by_role("button", name="Dismiss"))

        expect(page.locator("#incident-state")).to_have_text("Dismissed")
        expect(page.locator("#containment")).to_contain_text("lifted")
        expect(page.locator("#timeline")).to_contain_text("False alarm")
        assert flag_value(page, base, token, "support-bot-enabled") is True
        incident.refresh_from_db()
        assert incident.state == "dismissed" and incident.dismissed_at is not None
        shot("dismissed")
    finally:
        shot("last")
