"""bin/serve: migrations and collectstatic before anything serves, WhiteNoise's compressed hashed files, a
clean stop; and a clear refusal when the environment cannot make a production shape."""

import subprocess

import pytest

from tests.fleet.harness import SERVE
from tests.integration.harness import REPO_ROOT


@pytest.mark.fleet
def test_first_start_migrates_collects_static_serves_and_stops_cleanly(fleet_template):
    first = fleet_template[2]
    assert first.readyz["status"] == "ok" and first.readyz["checks"]["migrations"]["ok"]
    assert first.readyz["checks"]["database"]["vendor"] == "postgresql"
    # collectstatic ran before gunicorn: the hashed name from its manifest is served, gzipped, cached for good
    assert first.static["status"] == 200 and first.static["name"] != "admin/css/base.css"
    assert first.static["encoding"] == "gzip"
    assert "immutable" in first.static["cache"] and "max-age=315360000" in first.static["cache"]
    assert first.exit_code == 0, first.log[-3000:]
    assert first.processes_left == []


def serve(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [str(SERVE)], cwd=REPO_ROOT, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "set DATABASE_URL to a PostgreSQL database"),
        ({"DATABASE_URL": "sqlite:///x.db"}, "DATABASE_URL must be a PostgreSQL URL"),
        ({"DATABASE_URL": "postgres://db/fireline"}, "set REDIS_URL (Redis) or BROKER_URL"),
        (
            {"DATABASE_URL": "postgres://db/f", "REDIS_URL": "redis://r", "WEB_CONCURRENCY": "two"},
            "must be positive numbers",
        ),
        (
            {"DATABASE_URL": "postgres://db/f", "REDIS_URL": "redis://r", "SERVE_ROLES": "web,cron"},
            "unknown role 'cron'",
        ),
    ],
)
def test_an_environment_that_cannot_make_a_fleet_is_refused_before_anything_starts(env, says):
    result = serve(env)
    assert result.returncode == 2
    assert says in result.stderr
