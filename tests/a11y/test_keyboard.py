"""A commander with only a keyboard: the incident's next step, the one-click containment and the
Declare incident form are a few key presses from the top of the page, and the focus can be seen."""

import pytest
from playwright.sync_api import Browser, Page, expect

from incidents import services
from incidents.constants import Category, DetectionSignal
from tests.conftest import fresh
from tests.e2e.busy import busy_incident
from tests.incidents.factories import AIFeatureFactory, UserFactory

from .pages import PASSWORD

FIRST_TRANSITION = "#transitions button:not([disabled])"
CONTAIN_NOW = "#contain-now button"
MAX_TABS = 4  # presses of Tab from the top of the page, not counting Enter on a skip link


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.get_by_label("Username").fill("cmdr")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Log in").click()


def is_focused(page: Page, selector: str) -> bool:
    return page.evaluate("sel => document.activeElement === document.querySelector(sel)", selector)


def tab_until(page: Page, selector: str, limit: int) -> int:
    """Press Tab until `selector` has the focus; the number of presses, or limit + 1 if it never did."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if is_focused(page, selector):
            return presses
    return limit + 1


def from_the_top(page: Page, url: str) -> None:
    page.goto(url)
    page.evaluate("document.activeElement && document.activeElement.blur()")


def skip_to(page: Page, url: str, link_text: str, target: str) -> tuple[int, int]:
    """From the top of the page: Tab to the skip link, Enter, Tab to `target`. The two Tab counts."""
    from_the_top(page, url)
    link = page.locator("a.fl-skip-link", has_text=link_text)
    to_link = tab_until(page, f"a.fl-skip-link[href='{link.get_attribute('href')}']", 6)
    box = link.bounding_box()
    assert box and box["y"] >= 0 and box["height"] > 0, f"'{link_text}' is not on screen while it has the focus"
    page.keyboard.press("Enter")
    to_target = tab_until(page, target, 6)
    return to_link, to_target


def assert_focus_ring(page: Page, selector: str) -> None:
    """The focused control shows Fireline's ring, not Chromium's faint default."""
    outline = page.locator(selector).first.evaluate(
        "el => { const s = getComputedStyle(el); return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] == "solid" and outline[1] >= 2, f"focus on {selector} shows outline {outline}"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_next_step_and_containment_are_a_few_tabs_from_the_top(live_server, browser: Browser, artifacts_dir):
    commander = fresh(UserFactory(username="cmdr", role="Incident Commander"))
    busy = busy_incident(commander=commander)
    fresh_leak = services.incident_open(
        actor=commander,
        title="Support bot quotes other customers' tickets",
        detection_signal=DetectionSignal.USER_REPORT,
        feature=AIFeatureFactory(name="Support assistant", key="support-bot"),
        category=Category.DATA_LEAK,
        users_affected=800,
        involves_privacy=True,
        commander=commander,
    )
    services.incident_triage(incident_id=fresh_leak.pk, actor=commander)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    base = live_server.url
    try:
        sign_in(page, base)
        busy_url = f"{base}/admin/incidents/incident/{busy.pk}/change/"

        # Without the skip link: every header link, the breadcrumbs and the whole sidebar come first.
        from_the_top(page, busy_url)
        straight = tab_until(page, FIRST_TRANSITION, 150)
        print(f"\nTabs from the top to the first transition button, no skip link: {straight}")
        from_the_top(page, busy_url)
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # Django's "Skip to main content"
        print(f"... after Django's skip to main content: {tab_until(page, FIRST_TRANSITION, 150)}")

        to_link, to_button = skip_to(page, busy_url, "Skip to next steps", FIRST_TRANSITION)
        print(f"Skip to next steps: {to_link} Tab(s), Enter, {to_button} Tab(s)")
        assert to_link + to_button <= MAX_TABS
        expect(page.locator(FIRST_TRANSITION).first).to_be_focused()
        assert_focus_ring(page, FIRST_TRANSITION)
        page.screenshot(path=str(artifacts_dir / "a11y" / "keyboard-first-transition.png"))

        # A SEV1 not yet contained: its one-click containment comes first.
        leak_url = f"{base}/admin/incidents/incident/{fresh_leak.pk}/change/"
        to_link, to_button = skip_to(page, leak_url, "Skip to contain now", CONTAIN_NOW)
        print(f"Skip to contain now: {to_link} Tab(s), Enter, {to_button} Tab(s)")
        assert to_link + to_button <= MAX_TABS
        expect(page.locator(CONTAIN_NOW)).to_contain_text("Feature flag off")
        assert_focus_ring(page, CONTAIN_NOW)
        page.screenshot(path=str(artifacts_dir / "a11y" / "keyboard-contain-now.png"))
        # ... and Enter on it contains the incident.
        with page.expect_navigation(wait_until="load"):
            page.keyboard.press("Enter")
        expect(page.locator("#incident-state")).to_have_text("Contained")
    finally:
        context.close()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_incident_is_declared_from_the_command_centre_with_the_keyboard(live_server, browser: Browser):
    fresh(UserFactory(username="cmdr", role="Incident Commander"))
    AIFeatureFactory(name="Support assistant", key="support-bot")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    base = live_server.url
    try:
        sign_in(page, base)
        from_the_top(page, f"{base}/admin/")
        to_declare = tab_until(page, "#declare-incident", 6)
        print(f"\nTabs from the top of the command centre to Declare incident: {to_declare}")
        assert to_declare <= 3
        assert_focus_ring(page, "#declare-incident")
        with page.expect_navigation(wait_until="load"):
            page.keyboard.press("Enter")
        # The title has the focus on arrival; the rest of the form follows in reading order.
        expect(page.locator("#id_title")).to_be_focused()
        page.keyboard.type("Support bot insults users who ask about refunds")
        page.keyboard.press("Tab")
        expect(page.locator("#id_feature")).to_be_focused()
        page.keyboard.type("Support")
        page.keyboard.press("Tab")
        expect(page.locator("#id_category")).to_be_focused()
        page.keyboard.type("Harmful")
        to_submit = tab_until(page, "#declare-form input[type=submit]", 20)
        print(f"Tabs from the category to the Declare incident button: {to_submit}")
        assert to_submit <= 20
        with page.expect_navigation(wait_until="load"):
            page.keyboard.press("Enter")
        expect(page.locator("#incident-state")).to_be_visible()
        expect(page.locator(".fl-overview")).to_contain_text("Harmful output")
    finally:
        context.close()
