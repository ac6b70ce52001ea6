"""Settings for the gunicorn server the OFREP benchmark starts: the test settings plus the bench URLs."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.perf.bench_urls"
