"""Links in emails follow the port Fireline runs on: `PORT=8731 make run` links to :8731, not :8000."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _base_url(tmp_path, **env_vars):
    env = {k: v for k, v in os.environ.items() if k not in {"PORT", "FIRELINE_BASE_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", FIRELINE_VAR_DIR=str(tmp_path), **env_vars)
    code = "import django; django.setup(); from django.conf import settings; print(settings.FIRELINE_BASE_URL)"
    result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("env_vars", "expected"),
    [
        ({"PORT": "8731"}, "http://127.0.0.1:8731"),
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8731", "FIRELINE_BASE_URL": "https://fireline.example.com"}, "https://fireline.example.com"),
    ],
)
def test_base_url_follows_port_unless_set(tmp_path, env_vars, expected):
    assert _base_url(tmp_path, **env_vars) == expected
