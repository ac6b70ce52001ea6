"""Fixtures for the end-to-end tests: a real Chromium driven by Playwright's sync API.

The browser is Debian's Chromium (`playwright install` is never run). Without it the e2e tests
skip, unless FIRELINE_REQUIRE_BROWSER=1 says the run must have a browser (CI); then they fail.

Playwright's sync API keeps an asyncio event loop running in the test's thread for as long as it
is started. Django notices that loop in two ways, and the `browser` fixture undoes both for its
lifetime only:

- its async-safety check refuses ORM calls (the factories, the DB flush after a transactional
  test): DJANGO_ALLOW_ASYNC_UNSAFE says the code here is synchronous anyway;
- `django.db.connections` is an asgiref Local that, once a loop runs, hands out *new* connection
  wrappers. Those lack `_test_serialized_contents`, so `serialized_rollback=True` would silently
  restore nothing (the seeded roles and triage matrix stay deleted) and the flush after the test
  would re-create content types and permissions with new ids, breaking the next serialized test.
  The fixture keeps handing out the wrappers Django set the test database up with.
"""

import os
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


# Package scope, not session: the event loop must stop once the e2e tests are done, or every test
# pytest runs after them would run beside it (asyncio.run and async_to_sync refuse to).
@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for the e2e tests."""
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM}: the end-to-end tests need Debian's chromium package."
        if os.environ.get("FIRELINE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} FIRELINE_REQUIRE_BROWSER=1 is set, so this is a failure, not a skip.")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    wrappers = {alias: connections[alias] for alias in connections}
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            for alias, wrapper in wrappers.items():
                connections[alias] = wrapper  # stored in the loop's context: same wrapper as before
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def artifacts_dir() -> Path:
    """Where screenshots for humans go (gitignored)."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR
