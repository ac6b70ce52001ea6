"""The incident page on a busy night: the first screen answers "what is happening, what do I do now",
and the whole page in its default state stays under 2,500 px at 1440x900."""

import pytest
from playwright.sync_api import Browser, expect

from tests.factories import UserFactory

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
