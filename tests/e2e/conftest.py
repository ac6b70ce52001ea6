"""Fixtures for the end-to-end tests: a real Chromium driven by Playwright's sync API.

The browser is Debian's Chromium (`playwright install` is never run). Without it the e2e tests
skip, unless FIRELINE_REQUIRE_BROWSER=1 says the run must have a browser (CI), then they fail.
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API keeps an asyncio event loop running in the main thread, so Django's
# async-safety check would refuse every ORM call the test makes (factories, the DB flush after a
# transactional test). The test code is synchronous; only the check needs silencing.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

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


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run."""
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM}: end-to-end tests need Debian's chromium package."
        if os.environ.get("FIRELINE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} FIRELINE_REQUIRE_BROWSER=1 is set, so this is a failure, not a skip.")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


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
