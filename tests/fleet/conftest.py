"""Fixtures for the fleet tests: a migrated template database, a fresh copy per test, a Redis and an SMTP sink
of the test's own and a RabbitMQ node of the test's own. See tests/fleet/harness.py."""

import pytest

from tests.fleet.harness import (
    RABBITMQ_SERVER,
    FleetDatabase,
    RabbitServer,
    admin_connection,
    fleet_env,
    missing,
    postgres_server_url,
    run_manage,
    unique,
    with_database,
)
from tests.integration.fixtures import redis_server, smtp_sink  # noqa: F401 - fixtures used by the tests
from tests.integration.harness import free_port


@pytest.fixture(scope="session")
def fleet_template(tmp_path_factory):
    """A database migrated once for the session; each test's database is a copy of it."""
    server = postgres_server_url()
    name = unique("fl_fleet_tpl")
    with admin_connection(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        var_dir = tmp_path_factory.mktemp("fleet-template")
        env = fleet_env(database_url=with_database(server, name), var_dir=var_dir, redis_url="", smtp_port=free_port())
        run_manage(env, "migrate", "--noinput", "-v", "0")
        yield server, name
    finally:
        with admin_connection(server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fleet_db(fleet_template):
    server, template = fleet_template
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
