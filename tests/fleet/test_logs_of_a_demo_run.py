"""A demo run's logs: one JSON object a line with the request id, the user and the incident, and nothing
secret or personal in them.

It runs the demo install under `bin/serve` (web and a paging worker, JSON logs) on PostgreSQL, logs in
with the demo password (and a wrong one), sends alerts with a demo API token, opens the incident page,
follows a forged acknowledgement link, then greps every line written for the password, the token, the
keys and every email address in the database. (The formatter itself: tests/test_logs.py.)
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.fleet.harness import SECRET_KEY, Serve, fleet_env, run_manage, wait_until
from tests.integration.harness import free_port

SECRETS = {
    "FIRELINE_AUDIT_USER_SECRET": "logs-test-audit-user-secret",
    "FIRELINE_AUDIT_LOG_KEY": "logs-test-audit-log-key",
    "FIRELINE_WEBHOOK_SECRET": "logs-test-webhook-secret",
    "FIRELINE_METRICS_TOKEN": "logs-test-metrics-token",
}


class Browser:
    """Just enough of a browser over plain HTTP behind a TLS proxy: keeps the cookies Django marks Secure."""

    def __init__(self, base: str):
        self.base = base
        self.cookies: dict[str, str] = {}
        self.client = httpx.Client(base_url=base, timeout=30, headers={"X-Forwarded-Proto": "https"})

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.client.request(method, path, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response

    def login(self, username: str, password: str) -> httpx.Response:
        self.request("GET", "/admin/login/")
        return self.request(
            "POST",
            "/admin/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": self.cookies["csrftoken"]},
            headers={"Referer": f"https://{self.base.split('//')[1]}/admin/login/"},
        )


@pytest.mark.fleet
def test_a_demo_run_logs_json_with_context_and_nothing_secret_or_personal(
    tmp_path,
    fleet_template,
    fleet_db,
    redis_server,
    running_smtp,
):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    port = free_port()
    base_env = dict(
        database_url=fleet_db.url,
        var_dir=var_dir,
        redis_url=redis_server.url,
        smtp_port=running_smtp.port,
        STATIC_ROOT=str(fleet_template[2].static_root),  # the admin's pages need the collected files
    )
    env = fleet_env(**base_env, LOG_FORMAT="json", **SECRETS)
    seeded = run_manage(env, "seed_demo")
    password = re.search(r"commander / (\S+)", seeded).group(1)
    token = run_manage(env, "create_api_token", "--name", "logs test", "--scopes", "alerts").strip().splitlines()[-1]

    serve = Serve(
        "demo",
        fleet_env(**base_env, SERVE_ROLES="web,paging", PORT=port, WEB_CONCURRENCY=1, WORKER_CONCURRENCY=1, **SECRETS),
        tmp_path / "serve.log",
    ).start()
    try:
        serve.wait_ready(" ready.", timeout=90)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(base + "/healthz", timeout=5).status_code == 200, 60, "the web answering")
        refused = Browser(base).login("commander", password + "-wrong")
        assert refused.status_code == 200 and "/admin/login/" in str(refused.url)
        browser = Browser(base)
        assert browser.login("commander", password).status_code == 302
        alert = {
            "version": "4",
            "status": "firing",
            "receiver": "fireline",
            "groupKey": "logs-test",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "RefusalRateHigh", "ai_feature": "support-bot", "signal": "refusal_rate"},
                    "annotations": {"summary": "Refusals"},
                    "startsAt": "2026-11-29T22:00:00Z",
                    "fingerprint": "logs-test-1",
                }
            ],
        }
        sent = browser.client.post(
            "/api/v1/alerts/alertmanager", json=alert, headers={"Authorization": f"Bearer {token}"}
        )
        assert sent.status_code == 202, sent.text
        incident = sent.json()["incidents_opened"][0]
        page = browser.request("GET", f"/admin/incidents/incident/{incident}/change/")
        assert page.status_code == 200
        request_id = page.headers["X-Request-ID"]
        forged = browser.request("GET", f"/ack/{password}-forged/")
        assert 400 <= forged.status_code < 500
        assert (
            browser.client.post(
                "/api/v1/alerts/alertmanager", json=alert, headers={"Authorization": f"Bearer {password}"}
            ).status_code
            == 401
        )
        wait_until(lambda: len(running_smtp.keys()) > 0, 60, "a page delivered by the worker")
        time.sleep(1.0)
        # One machine's /metrics adds up its Celery worker's counts too (one PROMETHEUS_MULTIPROC_DIR).
        metrics = httpx.get(
            base + "/metrics", headers={"Authorization": f"Bearer {SECRETS['FIRELINE_METRICS_TOKEN']}"}, timeout=10
        ).text
        from prometheus_client.parser import text_string_to_metric_families

        runs = [
            s.value
            for family in text_string_to_metric_families(metrics)
            for s in family.samples
            if s.name == "fireline_task_duration_seconds_count"
            and s.labels == {"task": "incidents.tasks.deliver_notification", "outcome": "success"}
        ]
        assert runs and runs[0] >= 1, metrics[-2000:]
    finally:
        assert serve.stop() == 0
        serve.kill_group()

    logs = serve.log() + "\n" + seeded.split("Demo login")[0]
    emails = {row[0] for row in fleet_db.rows("SELECT email FROM auth_user WHERE email <> ''")}
    emails |= {row[0] for row in fleet_db.rows("SELECT address FROM incidents_contactchannel WHERE kind = 'email'")}
    assert emails, "the demo has people with email addresses"
    secrets = {"the demo password": password, "the API token": token, "SECRET_KEY": SECRET_KEY}
    secrets.update({name: value for name, value in SECRETS.items()})
    secrets.update({f"email {email}": email for email in emails})
    leaked = {what for what, value in secrets.items() if value in logs}
    assert leaked == set(), leaked

    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert len(lines) > 20
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    of_page = [line for line in lines if line.get("request_id") == request_id]
    assert of_page and all(line.get("user_id") and line.get("incident") == f"INC-{incident}" for line in of_page)
    assert any(line.get("task") == "incidents.tasks.deliver_notification" and line.get("task_id") for line in lines)
    assert any("/ack/[token]/" in line["message"] for line in lines)  # the refusal names the path, not the token
