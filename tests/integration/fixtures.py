"""Fixtures for tests that run a real Celery worker on a real Redis against a local SMTP sink.

Shared by tests/integration and tests/perf (each conftest imports them). Each fixture owns the process
it starts and stops it on teardown, failed test or not.
"""

import pytest

from tests.integration.harness import (
    CeleryPublisher,
    CeleryWorker,
    RedisServer,
    SmtpSink,
    require_redis_server,
    worker_env,
)


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of this test's own on a free loopback port (never the shared one on 6379)."""
    server = RedisServer(require_redis_server(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def publisher(redis_server, monkeypatch):
    """This process's Celery app publishing to the test's Redis, eager mode off; restored afterwards."""
    from config.celery import app

    for name in ("CELERY_BROKER_URL", "CELERY_BROKER_WRITE_URL", "CELERY_BROKER_READ_URL"):
        monkeypatch.delenv(name, raising=False)
    publisher = CeleryPublisher(app)
    try:
        publisher.point_at(redis_server.url)
        yield publisher
    finally:
        publisher.undo()


@pytest.fixture
def smtp_sink():
    """An SMTP sink on a free port, not started: a test starts it (or leaves the port refusing)."""
    pytest.importorskip("aiosmtpd")
    sink = SmtpSink()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def start_worker(redis_server, smtp_sink, tmp_path):
    """start_worker(**env) starts a Celery worker subprocess; every worker started is stopped at teardown."""
    workers = []

    def start(**extra_env):
        var_dir = tmp_path / "var"
        var_dir.mkdir(exist_ok=True)
        env = worker_env(redis_url=redis_server.url, smtp_port=smtp_sink.port, var_dir=var_dir, **extra_env)
        worker = CeleryWorker(env, tmp_path / f"worker-{len(workers) + 1}.log")
        workers.append(worker)
        worker.start()
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
