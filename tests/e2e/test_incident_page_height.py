"""The incident page on a busy night: the first screen answers "what is happening, what do I do now",
and the whole page in its default state stays under 2,500 px at 1440x900."""

import pytest
from playwright.sync_api import Browser, expect

from tests.incidents.factories import UserFactory

from .busy import busy_incident
from .test_commander_flow import login

BUDGET_PX = 2500


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_busy_incident_page_fits_the_budget(live_server, browser: Browser, artifacts_dir):
    commander = UserFactory(username="cmdr", role="Incident Commander")
    incident = busy_incident(commander=commander)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    page = context.new_page()
    try:
        login(page, live_server.url, "cmdr")
        page.goto(f"{live_server.url}/admin/incidents/incident/{incident.pk}/change/")
        expect(page.locator("#incident-state")).to_have_text("Contained")
        page.screenshot(path=str(artifacts_dir / "incident-page-first-screen.png"))
        page.screenshot(path=str(artifacts_dir / "incident-page-full.png"), full_page=True)
        height = page.evaluate("document.documentElement.scrollHeight")
        print("incident page height", height)
        assert height <= BUDGET_PX, f"the incident page is {height} px tall in its default state"
    finally:
        context.close()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_commander_in_berlin_sees_berlin_times_from_the_first_login(live_server, browser: Browser, artifacts_dir):
    commander = UserFactory(username="berlin-cmdr", role="Incident Commander")
    incident = busy_incident(commander=commander, notes=3, communications=1)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB", timezone_id="Europe/Berlin")
    page = context.new_page()
    try:
        with page.expect_response(lambda r: "/preferences/browser-time-zone" in r.url) as answered:
            login(page, live_server.url, "berlin-cmdr")
        assert answered.value.status == 200
        page.goto(f"{live_server.url}/admin/incidents/incident/{incident.pk}/change/")
        expect(page.locator("#time-zone-link")).to_contain_text("CET")
        detected = page.locator("#incident-overview dd", has_text="via user report")
        expect(detected).to_contain_text(" CET")
        expect(page.locator("#latest time").first).to_contain_text(" CET")
        # and the person can change it, from the header link
        page.locator("#time-zone-link").click()
        page.locator("#id_time_zone").select_option("America/New_York")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".messagelist .success")).to_contain_text("America/New_York")
        page.goto(f"{live_server.url}/admin/incidents/incident/{incident.pk}/change/")
        expect(page.locator("#latest time").first).to_contain_text(" EST")
        page.screenshot(path=str(artifacts_dir / "incident-page-new-york.png"))
    finally:
        context.close()
