"""The project-level promises: demo data, production settings, sanitized text, a real worker."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from incidents.constants import IncidentState
from incidents.models import AIFeature, Incident
from incidents.text import render_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_seed_demo_shows_every_state_and_is_idempotent(db, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(settings, "VAR_DIR", tmp_path)
    call_command("seed_demo")
    first = capsys.readouterr().out
    password = (tmp_path / "demo-credentials.txt").read_text().split(":", 1)[1].strip()
    assert f"commander / {password}" in first
    assert len(password) >= 12 and password not in {"admin", "password", "commander"}
    assert set(Incident.objects.values_list("state", flat=True)) == set(IncidentState.values)
    assert Incident.objects.filter(is_restricted=True).exists()
    counts = (Incident.objects.count(), AIFeature.objects.count())
    call_command("seed_demo")
    assert (Incident.objects.count(), AIFeature.objects.count()) == counts
    assert f"commander / {password}" in capsys.readouterr().out
    call_command("audit_verify")


def test_two_installs_get_different_demo_passwords(db, tmp_path, monkeypatch):
    from command.management.commands.seed_demo import demo_password

    passwords = []
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        monkeypatch.setattr(settings, "VAR_DIR", tmp_path / sub)
        passwords.append(demo_password())
    assert passwords[0] != passwords[1]
    assert oct((tmp_path / "a" / "demo-credentials.txt").stat().st_mode)[-3:] == "600"


def test_production_settings_pass_check_deploy(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "x" * 20 + "production-only-Secret-key-1234567890-abcdef",
        "ALLOWED_HOSTS": "fireline.example.com",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "FIRELINE_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "evil, gone",
    [
        ("<script>alert(1)</script>", "<script"),
        ('<img src=x onerror="alert(1)">', "onerror"),
        ("[click](javascript:alert(1))", "javascript:"),
        ('<a href="https://ok.example" onclick="x()">ok</a>', "onclick"),
    ],
)
def test_markdown_is_sanitized(evil, gone):
    assert gone not in render_markdown(evil)


def test_markdown_keeps_what_people_write():
    html = render_markdown("1. Pin `support-v41`\n2. **Watch** the [panel](https://grafana.example/d/1)")
    assert "<ol>" in html and "<code>support-v41</code>" in html and "<strong>Watch</strong>" in html
    assert 'href="https://grafana.example/d/1"' in html


def test_feature_page_renders_rollback_procedure_sanitized(client, superuser, feature):
    feature.rollback_procedure = "Step **one** <script>steal()</script>"
    feature.save()
    client.force_login(superuser)
    html = client.get(f"/admin/incidents/aifeature/{feature.pk}/change/").content.decode()
    assert "Step <strong>one</strong>" in html and "<script>steal()" not in html


def test_admin_login_is_throttled(client, commander):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/?next=/admin/", {"username": commander.username, "password": "wrong"})
    locked = client.post(
        "/admin/login/?next=/admin/", {"username": commander.username, "password": "correct-horse-battery"}
    )
    assert locked.status_code == 429
