"""A commander sets up an on-call schedule in a real browser, from an empty install, and reads it at a glance."""

import os
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Page, expect

from oncall.models import Schedule
from oncall.selectors import display_name, who_is_on_call
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, artifacts_dir  # noqa: F401 (a fixture)
from tests.incidents.factories import UserFactory

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module only, set up as tests/e2e/conftest.py explains; everything it changes in the
    environment and in Django's connections is put back when the module is done."""
    if not CHROMIUM.exists():
        if os.environ.get("FIRELINE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} and FIRELINE_REQUIRE_BROWSER=1 is set.")
        pytest.skip(f"Chromium not found at {CHROMIUM}.")
    from playwright.sync_api import sync_playwright

    wrappers = {alias: connections[alias] for alias in connections}
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            for alias, wrapper in wrappers.items():
                connections[alias] = wrapper
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def submit(tab: Page, button) -> None:
    with tab.expect_navigation(wait_until="load"):
        button.click()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_commander_builds_a_schedule_and_sees_who_is_on_call(live_server, page: Page, artifacts_dir):  # noqa: F811
    assert Group.objects.filter(name="Schedule Manager").exists(), "the Schedule Manager role is seeded"
    UserFactory(username="cmdr", role="Incident Commander")
    for name, first in (("amara", "Amara"), ("bjorn", "Björn"), ("chen", "Chen"), ("dana", "Dana")):
        UserFactory(username=name, first_name=first, last_name="Okafor" if name == "amara" else "Lee")
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    base = live_server.url
    start = (timezone.localdate() - timedelta(days=9)).isoformat()

    page.goto(f"{base}/admin/login/")
    page.get_by_label("Username").fill("cmdr")
    page.get_by_label("Password").fill(PASSWORD)
    submit(page, page.get_by_role("button", name="Log in"))

    page.goto(f"{base}/admin/oncall/schedule/add/")
    page.locator("#id_name").fill("Support assistant on-call")
    page.locator("#id_time_zone").fill("Europe/Berlin")
    add_layer = page.locator("#layers-group .add-row a")
    add_layer.click()
    page.locator("#id_layers-0-name").fill("24/7 weekly")
    page.locator("#id_layers-0-time_zone").fill("Europe/Berlin")
    page.locator("#id_layers-0-rotation_start").fill(start)
    page.locator("#id_layers-0-handoff_time").fill("09:00")
    page.locator("#id_layers-0-length").select_option("weekly")
    page.locator("#id_layers-0-rotation").fill("amara, bjorn, chen")
    add_layer.click()
    page.locator("#id_layers-1-name").fill("Office hours")
    page.locator("#id_layers-1-priority").fill("2")
    page.locator("#id_layers-1-time_zone").fill("Europe/Berlin")
    page.locator("#id_layers-1-rotation_start").fill(start)
    page.locator("#id_layers-1-handoff_time").fill("09:00")
    page.locator("#id_layers-1-length").select_option("daily")
    page.locator("#id_layers-1-rotation").fill("dana, chen")
    for day in range(5):
        page.locator(f"#id_layers-1-restrict_weekdays_{day}").check()
    page.locator("#id_layers-1-restrict_start").fill("09:00")
    page.locator("#id_layers-1-restrict_end").fill("18:00")
    submit(page, page.get_by_role("button", name="Save and continue editing"))
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")

    schedule = Schedule.objects.get(name="Support assistant on-call")
    assert schedule.layers.count() == 2
    expected = display_name(
        type(schedule.layers.first().members.first()).objects.get(
            pk=who_is_on_call(schedule_id=schedule.pk, at=timezone.now())
        )
    )
    timeline = page.locator("#oncall-timeline")
    expect(timeline.locator(".oc-now")).to_contain_text(f"On call now: {expected}")
    expect(timeline.locator(".oc-day")).to_have_count(14)
    expect(timeline.locator(".oc-track.oc-final .oc-bar").first).to_be_visible()
    expect(timeline.locator(".oc-nowline").first).to_be_visible()
    timeline.screenshot(path=str(artifacts_dir / "oncall-schedule-timeline.png"))
    page.screenshot(path=str(artifacts_dir / "oncall-schedule-page.png"), full_page=True)

    # the command centre says who is on call now, and links back
    page.goto(f"{base}/admin/")
    card = page.locator("#oncall-now")
    expect(card).to_contain_text("Support assistant on-call")
    expect(card).to_contain_text(expected)
    card.screenshot(path=str(artifacts_dir / "oncall-command-centre-card.png"))
    assert page_errors == []
