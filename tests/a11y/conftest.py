"""The accessibility tests drive the same Chromium as the end-to-end tests, with axe-core injected.

Without axe-core installed (no npm on this machine) they skip, unless FIRELINE_REQUIRE_BROWSER=1 says
the run must have everything a browser test needs (CI); then they fail.
"""

import os

import pytest

from tests.e2e.conftest import artifacts_dir, browser  # noqa: F401 - fixtures shared with the e2e tests

from .axe import AXE_JS


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.exists():
        reason = (
            f"axe-core is not installed at {AXE_JS}: run `npm ci --prefix tests/a11y` (make test does when npm exists)."
        )
        if os.environ.get("FIRELINE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} FIRELINE_REQUIRE_BROWSER=1 is set, so this is a failure, not a skip.")
        pytest.skip(reason)
    return AXE_JS.read_text()
