"""The production shape under faults: alerts from four monitors while a worker dies and the broker restarts.

Per broker (Redis, RabbitMQ): `bin/serve` as four machines would run it on one PostgreSQL — web (gunicorn,
2 workers), two paging workers (one also takes the clocks and bulk queues) and beat. Four client
processes send 500 alerts (100 payloads of 5, in 40 alert groups, so 40 incidents and 80 pages). Mid-storm
a worker machine is SIGKILLed (its Celery worker, so its bin/serve stops too, and is started again as a
supervisor would), the broker is restarted, and the web processes are reloaded one by one (HUP).

Afterwards every alert is stored once, every page is delivered once (counted by the SMTP sink by its
dedup key), the outbox is empty, /readyz is green and /metrics added up every web process's counts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.fleet.harness import REPO_ROOT, Serve, fleet_env, run_manage, wait_until
from tests.integration.harness import free_port

pytestmark = [pytest.mark.fleet]

CLIENTS = 4
REQUESTS = 25  # per client
PER_REQUEST = 5
GROUPS = 10  # per client: 40 incidents
PAUSE = 0.25
ALERTS = CLIENTS * REQUESTS * PER_REQUEST
INCIDENTS = CLIENTS * GROUPS
CONTACTS = {"engineering_on_call": "oncall@fleet.example", "leadership": "lead@fleet.example"}
PAGES = INCIDENTS * len(CONTACTS)
AUDIT_SECRETS = {
    "FIRELINE_AUDIT_USER_SECRET": "fleet-audit-user-secret",
    "FIRELINE_AUDIT_LOG_KEY": "fleet-audit-log-key",
}

SETUP = f"""
from incidents.models import AIFeature, StakeholderContact
from incidents.services import api_token_create
from tests.incidents.factories import make_contact
AIFeature.objects.create(key="support-bot", name="Support assistant", owner_team="AI Platform",
                         kill_switch_key="support-bot-enabled")
for role, email in {CONTACTS!r}.items():
    make_contact(name=role, role=role, email=email)
print(api_token_create(name="fleet monitors", scopes=["alerts"])[1])
"""


class Fleet:
    def __init__(self, tmp_path: Path, db, redis_url: str, broker_url: str, smtp_port: int):
        self.tmp_path = tmp_path
        self.db = db
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.var_dir = tmp_path / "var"
        self.var_dir.mkdir()
        self.common = dict(
            database_url=db.url, var_dir=self.var_dir, redis_url=redis_url, broker_url=broker_url, smtp_port=smtp_port
        )
        self.machines: dict[str, Serve] = {}
        self.stopped: dict[str, int | None] = {}

    def env(self, name: str, **extra) -> dict[str, str]:
        prometheus = self.tmp_path / f"prometheus-{name}"
        return fleet_env(**self.common, PROMETHEUS_MULTIPROC_DIR=str(prometheus), **AUDIT_SECRETS, **extra)

    def start(self, name: str, roles: str, **extra) -> Serve:
        serve = Serve(name, self.env(name, SERVE_ROLES=roles, **extra), self.tmp_path / f"{name}.log").start()
        self.machines[name] = serve
        return serve

    def start_all(self) -> None:
        self.start("web", "web", PORT=self.port, WEB_CONCURRENCY=2)
        self.start("worker-1", "paging", WORKER_CONCURRENCY=1)
        self.start("worker-2", "paging,bulk", WORKER_CONCURRENCY=1, BULK_CONCURRENCY=1)
        self.start("beat", "beat")
        self.wait_web()
        for name in ("worker-1", "worker-2"):
            self.machines[name].wait_ready(" ready.", timeout=90)
        self.machines["beat"].wait_ready("This beat took the leader lock", timeout=90)

    def wait_web(self) -> None:
        def ready():
            try:
                return httpx.get(self.base_url + "/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(lambda: ready() or not self.machines["web"].alive(), 90, "the web processes answering /readyz")
        assert self.machines["web"].alive(), self.machines["web"].tail()

    def stop_all(self) -> dict[str, int | None]:
        for name, serve in list(self.machines.items()):
            self.stopped[name] = serve.stop()
        return self.stopped

    def kill_all(self) -> None:
        for serve in self.machines.values():
            serve.kill_group()

    def logs(self) -> str:
        return "\n".join(f"== {name}\n{serve.tail(15)}" for name, serve in self.machines.items())


def start_clients(fleet: Fleet, token: str) -> list[tuple[subprocess.Popen, Path]]:
    clients = []
    for n in range(CLIENTS):
        out = fleet.tmp_path / f"client-{n}.json"
        args = [fleet.base_url, token, str(n), str(REQUESTS), str(PER_REQUEST), str(GROUPS), str(PAUSE), str(out)]
        proc = subprocess.Popen([sys.executable, "-m", "tests.fleet.alert_client", *args], cwd=REPO_ROOT)  # noqa: S603
        clients.append((proc, out))
    return clients


def client_results(clients) -> list[dict]:
    results = []
    for proc, out in clients:
        assert proc.wait(timeout=180) == 0
        results.extend(json.loads(out.read_text()))
    return results


def outbox(db) -> Counter:
    return Counter(dict(db.rows("SELECT state, count(*) FROM incidents_notification GROUP BY state")))


def scrape(fleet: Fleet) -> str:
    response = httpx.get(
        fleet.base_url + "/metrics", headers={"Authorization": "Bearer fleet-metrics-token"}, timeout=10
    )
    assert response.status_code == 200, response.text[:300]
    return response.text


def sample(text: str, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def storm(fleet: Fleet, running_smtp, restart_broker, broker: str) -> None:
    setup_env = fleet.env("setup")
    token = run_manage(setup_env, "shell", "-c", SETUP).strip().splitlines()[-1]
    fleet.start_all()
    started = time.monotonic()
    clients = start_clients(fleet, token)
    try:
        _storm(fleet, running_smtp, restart_broker, broker, started, clients)
    finally:
        for proc, _ in clients:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def _storm(fleet: Fleet, running_smtp, restart_broker, broker: str, started: float, clients) -> None:
    def at(seconds: float) -> None:
        time.sleep(max(0.0, started + seconds - time.monotonic()))

    at(3.0)
    worker = fleet.machines["worker-1"]
    victim = worker.child("celery")
    assert victim, worker.tail()
    os.kill(victim, signal.SIGKILL)  # the machine dies: no warm shutdown, no acks
    killed_at = time.time()
    at(5.0)
    restart_broker()
    at(7.0)
    fleet.machines["web"].signal(signal.SIGHUP)  # rolling reload of the web workers under load
    wait_until(lambda: not worker.alive(), 30, "bin/serve noticing its worker died")
    fleet.stopped["worker-1 (killed)"] = worker.stop()
    fleet.start("worker-1", "paging", WORKER_CONCURRENCY=1)  # the supervisor starts the machine again

    results = client_results(clients)
    took = time.monotonic() - started
    retried = sum(1 for r in results if r["tries"] > 1)

    def delivered():
        return outbox(fleet.db).get("pending", 0) == 0 and len(set(running_smtp.keys())) >= PAGES

    wait_until(delivered, 120, f"every page delivered ({outbox(fleet.db)}, {len(running_smtp.keys())} at the sink)")
    drained = time.monotonic() - started

    # Every payload answered 202 in the end, and every alert of a 202 is stored, once.
    statuses = Counter(r["status"] for r in results)
    assert statuses == Counter({202: CLIENTS * REQUESTS}), statuses
    sent = {fp for r in results for fp in r["fingerprints"]}
    stored = Counter(dict(db_rows(fleet, "SELECT fingerprint, count(*) FROM incidents_alert GROUP BY fingerprint")))
    assert len(sent) == ALERTS
    assert set(stored) == sent
    assert [fp for fp, n in stored.items() if n != 1] == []
    assert fleet.db.value("SELECT count(*) FROM incidents_incident") == INCIDENTS

    # Every page delivered exactly once; the outbox is empty.
    assert fleet.db.value("SELECT count(*) FROM incidents_page") == PAGES
    keys = dict(fleet.db.rows("SELECT dedup_key, state FROM incidents_notification"))
    assert len(keys) == PAGES and set(keys.values()) == {"sent"}, Counter(keys.values())
    at_sink = Counter(running_smtp.keys())
    assert set(at_sink) == set(keys)
    doubled = {key: n for key, n in at_sink.items() if n > 1}
    # The one duplicate the outbox allows (incidents/services/notifications.py): a send killed after the
    # SMTP server accepted it and before the row was marked. Only a message accepted at the kill can be one.
    in_flight = {key for key in doubled if abs(running_smtp.first(key).wall - killed_at) < 2.0}
    assert set(doubled) <= in_flight and sum(doubled.values()) - len(doubled) <= 1, doubled

    # The fleet is healthy again, and /metrics added up the counts of every web worker, reloaded ones too.
    assert httpx.get(fleet.base_url + "/readyz", timeout=10).status_code == 200
    metrics = scrape(fleet)
    assert sample(metrics, "fireline_alert_intake_requests_total", status="202") >= CLIENTS * REQUESTS
    assert sample(metrics, "fireline_outbox_depth") == 0
    assert sample(metrics, "fireline_open_incidents", severity="SEV2") == INCIDENTS
    assert sample(metrics, "fireline_notifications", channel="email", state="sent") == PAGES

    stopped = fleet.stop_all()
    assert stopped["worker-1 (killed)"] == 1  # bin/serve said a process died and stopped the rest
    assert {name: code for name, code in stopped.items() if "killed" not in name} == {
        "web": 0,
        "worker-1": 0,
        "worker-2": 0,
        "beat": 0,
    }
    print(
        f"\n  fleet on {broker}: {ALERTS} alerts from {CLIENTS} clients in {took:.1f} s, every page delivered after"
        f" {drained:.1f} s; {retried} payloads needed a retry; {len(doubled)} page(s) re-sent after the kill"
    )


def db_rows(fleet: Fleet, sql: str):
    return fleet.db.rows(sql)


@pytest.fixture
def fleet_on(tmp_path, fleet_db, redis_server, running_smtp):  # noqa: F811
    fleets = []

    def make(broker_url: str = "") -> Fleet:
        fleet = Fleet(tmp_path, fleet_db, redis_server.url, broker_url, running_smtp.port)
        fleets.append(fleet)
        return fleet

    try:
        yield make
    finally:
        for fleet in fleets:
            try:
                fleet.stop_all()
            finally:
                fleet.kill_all()


def test_redis_fleet_loses_nothing_when_a_worker_dies_and_redis_restarts(fleet_on, redis_server, running_smtp):
    fleet = fleet_on()

    def restart_redis():
        redis_server.stop()  # no persistence: every queued message is gone
        time.sleep(2.0)
        redis_server.start()

    try:
        storm(fleet, running_smtp, restart_redis, "Redis")
    except BaseException:
        print(fleet.logs())
        raise


def test_rabbitmq_fleet_loses_nothing_when_a_worker_dies_and_rabbitmq_restarts(fleet_on, rabbit_server, running_smtp):
    fleet = fleet_on(rabbit_server.url)

    def restart_rabbitmq():
        rabbit_server.stop()  # its queues are durable and its messages persistent: they come back
        rabbit_server.start()

    try:
        storm(fleet, running_smtp, restart_rabbitmq, "RabbitMQ")
    except BaseException:
        print(fleet.logs())
        raise
