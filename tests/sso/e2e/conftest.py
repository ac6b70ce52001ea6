"""The browser fixtures of the end-to-end tests, in a package of their own so Chromium stops with it."""

from tests.e2e.conftest import artifacts_dir, browser, page  # noqa: F401 - shared fixtures
