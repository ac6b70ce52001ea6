"""Declaring an incident fast, in a real browser: from the command centre to a contained SEV1.

Every click is counted: from /admin/ to "SEV1, Contained, kill switch OFF" takes at most five.
Typing and choosing from a select are not clicks; ticking a radio button is, and is counted.
The product's view of the kill switch is read through OFREP, as the AI product reads it.
"""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Locator, Page, expect

from incidents import services
from incidents.models import Incident
from tests.e2e.test_commander_flow import login
from tests.e2e.test_shared_kill_switch import ofrep_value
from tests.incidents.factories import AIFeatureFactory, UserFactory

MAX_CLICKS = 5


class Clicks:
    """Clicks a locator and counts it; `navigates` waits for the page the click leads to."""

    def __init__(self, page: Page):
        self.page = page
        self.count = 0
        self.log: list[str] = []

    def __call__(self, locator: Locator, what: str, navigates: bool = False) -> None:
        self.count += 1
        self.log.append(what)
        if navigates:
            with self.page.expect_navigation(wait_until="load"):
                locator.click()
        else:
            locator.click()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_declare_a_public_sev1_and_contain_it_in_five_clicks(live_server, page: Page, artifacts_dir):
    assert Group.objects.filter(name="Incident Commander").exists(), "roles seeded by migration are missing"
    UserFactory(username="cmdr", role="Incident Commander")
    UserFactory(username="other", role="Incident Commander")
    feature = AIFeatureFactory(key="support-bot", name="Support assistant")
    AIFeatureFactory(key="search-summary", name="Search summaries")
    token = services.api_token_create(name="product", scopes=["flags"])[1]
    base = live_server.url
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    login(page, base, "cmdr")
    assert ofrep_value(page, base, token, feature.kill_switch_key) is True
    page.goto(f"{base}/admin/")
    click = Clicks(page)
    try:
        # 1. Declare, from the header of the command centre.
        click(page.get_by_role("link", name="Declare incident"), "Declare incident", navigates=True)
        expect(page.locator("h1")).to_have_text("Declare incident")
        expect(page.locator("#id_commander option:checked")).to_have_text("cmdr")
        expect(page.locator("#id_detection_signal option:checked")).to_have_text("Internal discovery")

        # The form: typing and selects (not clicks), one radio button (a click).
        page.locator("#id_title").fill("Support bot told a user to mix bleach and ammonia; screenshot is on X")
        page.locator("#id_feature").select_option(label="Support assistant (support-bot)")
        page.locator("#id_category").select_option(label="Harmful output")
        click(page.get_by_label("Public: outside attention"), "impact: Public")
        page.locator("#id_public_link").fill("https://x.example/status/1")
        page.screenshot(path=str(artifacts_dir / "e2e-declare-form.png"), full_page=True)

        # 2. Submit: the triage matrix gives SEV1 and we land on the incident page.
        click(page.get_by_role("button", name="Declare incident"), "Declare incident (submit)", navigates=True)
        incident = Incident.objects.get()
        expect(page.locator(".messagelist .success")).to_contain_text(f"{incident.reference} declared: SEV1")
        expect(page.locator("#incident-severity")).to_have_text("SEV1")
        expect(page.locator("#incident-commander")).to_have_text("cmdr")
        expect(page.locator("#contain-now h2")).to_have_text("SEV1: contain it now")
        page.screenshot(path=str(artifacts_dir / "e2e-declare-landed.png"))

        # 3. Contain it now: triaged, kill switch off, Contained.
        click(page.locator("#contain-now button"), "contain it now", navigates=True)
        expect(page.locator(".messagelist .success")).to_contain_text(f"{incident.reference} is now Contained")
        expect(page.locator("#incident-state")).to_have_text("Contained")
        expect(page.locator("#incident-severity")).to_have_text("SEV1")
        expect(page.locator("#kill-switch")).to_contain_text("OFF")
        page.screenshot(path=str(artifacts_dir / "e2e-declare-contained.png"))
    finally:
        if page_errors:
            page.screenshot(path=str(artifacts_dir / "e2e-declare-failure.png"), full_page=True)

    assert ofrep_value(page, base, token, feature.kill_switch_key) is False
    incident.refresh_from_db()
    assert (incident.severity, incident.state, incident.commander.username) == ("SEV1", "contained", "cmdr")
    assert click.count <= MAX_CLICKS, f"{click.count} clicks: {click.log}"
    print(f"clicks from /admin/ to SEV1 contained: {click.count} ({', '.join(click.log)})")
    assert page_errors == []


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pressing_d_opens_the_declare_form_except_while_typing(live_server, page: Page, artifacts_dir):
    UserFactory(username="cmdr", role="Incident Commander")
    UserFactory(username="reader", role="Viewer")
    base = live_server.url
    login(page, base, "cmdr")

    # Typing a "d" into a field (the incident list's search box) stays where it is.
    page.goto(f"{base}/admin/incidents/incident/")
    button = page.locator("#declare-incident")
    expect(button).to_have_attribute("aria-keyshortcuts", "d")
    expect(button).to_have_attribute("title", "Declare incident (shortcut: d)")
    page.locator("#searchbar").press("d")
    expect(page.locator("#searchbar")).to_have_value("d")
    assert page.url.endswith("/admin/incidents/incident/")

    # Anywhere else, "d" opens the form, with the title ready for typing.
    page.goto(f"{base}/admin/")
    with page.expect_navigation(wait_until="load"):
        page.keyboard.press("d")
    expect(page.locator("h1")).to_have_text("Declare incident")
    expect(page.locator("#id_title")).to_be_focused()
    page.keyboard.type("dd")  # typed into the title, not another navigation
    expect(page.locator("#id_title")).to_have_value("dd")
    assert page.url.endswith("/admin/incidents/incident/declare/")

    # Bad input: errors beside their fields, nothing created.
    page.locator("#id_title").fill("")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Declare incident").click()
    expect(page.locator(".field-title .errorlist")).to_contain_text("This field is required")
    expect(page.locator(".field-feature .errorlist")).to_contain_text("This field is required")
    expect(page.locator(".field-category .errorlist")).to_contain_text("This field is required")
    page.screenshot(path=str(artifacts_dir / "e2e-declare-errors.png"), full_page=True)
    assert not Incident.objects.exists()

    # A viewer has no button and no shortcut.
    page.context.clear_cookies()
    login(page, base, "reader")
    page.goto(f"{base}/admin/")
    expect(page.locator("#declare-incident")).to_have_count(0)
    page.keyboard.press("d")
    page.wait_for_timeout(300)
    assert page.url.endswith("/admin/")
