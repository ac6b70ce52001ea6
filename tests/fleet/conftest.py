"""Fixtures for the fleet tests: a migrated template database, a fresh copy per test, a Redis and an SMTP sink
of the test's own and a RabbitMQ node of the test's own. See tests/fleet/harness.py."""

import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fleet.harness import (
    RABBITMQ_SERVER,
    FleetDatabase,
    RabbitServer,
    Serve,
    admin_connection,
    fleet_env,
    missing,
    postgres_server_url,
    process_children,
    unique,
    wait_until,
    with_database,
)
from tests.integration.fixtures import redis_server, smtp_sink  # noqa: F401 - fixtures used by the tests
from tests.integration.harness import RedisServer, free_port, require_redis_server


@dataclass
class FirstStart:
    """What the first `bin/serve` of the session did on an empty database (see tests/fleet/test_serve.py)."""

    readyz: dict
    static: dict
    exit_code: int | None
    processes_left: list[int]
    log: str
    static_root: Path  # what its collectstatic made: later servers of the session serve the same files


@pytest.fixture(scope="session")
def fleet_template(tmp_path_factory):
    """A database that `bin/serve` migrated (and collected static files for) on its first start, once per
    session; each test's database is a copy of it. What that first start did is kept for test_serve.py."""
    server = postgres_server_url()
    name = unique("fl_fleet_tpl")
    with admin_connection(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    workdir = tmp_path_factory.mktemp("fleet-template")
    redis = RedisServer(require_redis_server(), workdir)
    redis.start()
    try:
        yield server, name, first_start(workdir, with_database(server, name), redis.url)
    finally:
        redis.stop()
        with admin_connection(server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def first_start(workdir, database_url: str, redis_url: str) -> FirstStart:
    port = free_port()
    env = fleet_env(
        database_url=database_url,
        var_dir=workdir / "var",
        redis_url=redis_url,
        smtp_port=free_port(),
        SERVE_ROLES="web",
        PORT=port,
        WEB_CONCURRENCY=1,
        COLLECTSTATIC="true",
        PROMETHEUS_MULTIPROC_DIR=str(workdir / "prometheus"),
    )
    serve = Serve("first start", env, workdir / "serve.log").start()
    base = f"http://127.0.0.1:{port}"
    try:

        def ready():
            try:
                return httpx.get(base + "/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(lambda: ready() or not serve.alive(), 300, "the first bin/serve answering /readyz")
        if not serve.alive():
            raise RuntimeError(f"bin/serve exited on its first start:\n{serve.tail()}")
        readyz = httpx.get(base + "/readyz", timeout=10).json()
        manifest = json.loads((workdir / "var" / "static" / "staticfiles.json").read_text())
        hashed = manifest["paths"]["admin/css/base.css"]
        response = httpx.get(
            f"{base}/static/{hashed}", headers={"Accept-Encoding": "gzip", "X-Forwarded-Proto": "https"}, timeout=10
        )
        static = {
            "name": hashed,
            "status": response.status_code,
            "encoding": response.headers.get("Content-Encoding"),
            "cache": response.headers.get("Cache-Control", ""),
        }
        children = process_children(serve.proc.pid)
        code = serve.stop()
        left = [pid for pid in children if Path(f"/proc/{pid}").exists()]
        return FirstStart(
            readyz=readyz,
            static=static,
            exit_code=code,
            processes_left=left,
            log=serve.log(),
            static_root=workdir / "var" / "static",
        )
    finally:
        serve.kill_group()


@pytest.fixture
def fleet_db(fleet_template):
    server, template, _ = fleet_template
    name = unique("fl_fleet")
    with admin_connection(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield FleetDatabase(with_database(server, name))
    finally:
        with admin_connection(server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def running_smtp(smtp_sink):  # noqa: F811
    smtp_sink.start()
    return smtp_sink


@pytest.fixture
def rabbit_server(tmp_path):
    """A RabbitMQ node of this test's own on free loopback ports (never the shared one on 5672)."""
    if not RABBITMQ_SERVER.exists():
        missing(f"needs RabbitMQ installed ({RABBITMQ_SERVER}) to run a broker the test owns")
    workdir = tmp_path / "rabbitmq"
    workdir.mkdir()
    server = RabbitServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
