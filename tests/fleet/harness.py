"""Fleets of real processes for tests/fleet: `bin/serve` instances on a PostgreSQL database of their own.

A fleet database is copied from a template migrated once per test session (CREATE DATABASE ... TEMPLATE),
so each test starts from a fresh, migrated install. The test reads it with plain SQL through psycopg:
Django's own connection points at the test database, not at the fleet's.

Every process is started by the test that needs it and stopped by that test's fixtures. Waits are bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.integration.harness import REPO_ROOT, wait_for

REQUIRE_SERVICES = os.environ.get("FIRELINE_REQUIRE_SERVICES") == "1"
SERVE = REPO_ROOT / "bin" / "serve"
VENV = Path(os.environ.get("VIRTUAL_ENV") or REPO_ROOT / ".venv")
SECRET_KEY = "fireline-fleet-tests-not-a-secret-" + "k" * 30


def missing(what: str):
    """A service this test needs is not there: skip, or fail under FIRELINE_REQUIRE_SERVICES=1."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} (FIRELINE_REQUIRE_SERVICES=1)")
    pytest.skip(what)


def postgres_server_url() -> str:
    """DATABASE_URL when it names PostgreSQL; the fleet tests skip otherwise (they need a shared server)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        pytest.skip("the fleet tests run on PostgreSQL (DATABASE_URL=postgres://...)")
    return url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgres", parts.netloc, f"/{name}", parts.query, ""))


def admin_connection(server_url: str) -> psycopg.Connection:
    return psycopg.connect(with_database(server_url, "postgres"), autocommit=True, connect_timeout=5)


class FleetDatabase:
    """One fleet's database: its URL for the processes and plain SQL for the test."""

    def __init__(self, url: str):
        self.url = url

    def rows(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def value(self, sql: str, params=()):
        return self.rows(sql, params)[0][0]


def process_children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Serve:
    """One `bin/serve` (one machine's share of the fleet) with its own log file."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path):
        self.name = name
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None

    def start(self) -> Serve:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                [str(SERVE)], cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def child(self, marker: str) -> int | None:
        """The pid of the process bin/serve started whose command line contains marker."""
        if self.proc is None:
            return None
        return next((pid for pid in process_children(self.proc.pid) if marker in cmdline(pid)), None)

    def wait_ready(self, marker: str, timeout: float = 60.0) -> None:
        if not wait_for(lambda: not self.alive() or marker in self.log(), timeout, interval=0.2):
            raise RuntimeError(f"{self.name} did not log {marker!r} within {timeout}s:\n{self.tail()}")
        if not self.alive():
            raise RuntimeError(f"{self.name} exited at start:\n{self.tail()}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 45.0) -> int | None:
        """TERM to bin/serve, as a service manager would; its exit code (KILL to the group if it hangs)."""
        if self.proc is None:
            return self.returncode
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
                self.returncode = None
                self.proc = None
                return None
        self.returncode = proc.returncode
        self.proc = None
        return self.returncode

    def kill_group(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


def fleet_env(
    *, database_url: str, var_dir: Path, redis_url: str, broker_url: str = "", smtp_port: int, **extra
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "FIRELINE_", "EMAIL_", "DJANGO_", "PROMETHEUS_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "BROKER_URL", "SECRET_KEY", "DEBUG", "LOG_LEVEL", "PORT"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.fleet.fleet_settings",
        FIRELINE_VENV=str(VENV),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=SECRET_KEY,
        FIRELINE_VAR_DIR=str(var_dir),
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        EMAIL_TIMEOUT="10",
        FIRELINE_WEBHOOK_SECRET="fireline-fleet-tests-webhook",
        FIRELINE_METRICS_TOKEN="fleet-metrics-token",
        # A lost message or a killed worker's claim is picked up within seconds, not a minute.
        FIRELINE_NOTIFY_REQUEUE_AFTER_SECONDS="4",
        FIRELINE_NOTIFY_CLAIM_SECONDS="10",
        FIRELINE_NOTIFY_BACKOFF_SECONDS="1",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        COLLECTSTATIC="false",
    )
    if broker_url:
        env["BROKER_URL"] = broker_url
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run_manage(env: dict[str, str], *args: str, timeout: float = 180.0) -> str:
    result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [str(VENV / "bin" / "python"), "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result.stdout


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5) -> None:
    started = time.monotonic()
    if not wait_for(predicate, timeout, interval=interval):
        raise AssertionError(f"{what}: not within {timeout:.0f}s (waited {time.monotonic() - started:.0f}s)")


RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class RabbitServer:
    """A RabbitMQ node of the test's own (its own name, ports and data directory), so restarting it touches
    no one else's broker. Its data directory survives a restart, as a real broker's disk does: durable
    queues and persistent messages come back."""

    def __init__(self, workdir: Path):
        from tests.integration.harness import free_port

        self.workdir = workdir
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"{unique('flfleet')}@localhost"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def answers(self) -> bool:
        import kombu

        try:
            with kombu.Connection(self.url, connect_timeout=1) as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
            return True
        except Exception:
            return False

    def start(self, timeout: float = 90.0) -> None:
        assert self.proc is None, "already running"
        self.starts += 1
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_PID_FILE": str(self.workdir / "rabbit.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.workdir / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.workdir / "rabbitmq-env.conf"),
        }
        with (self.workdir / f"rabbit-{self.starts}.log").open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                [str(RABBITMQ_SERVER)],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not wait_for(lambda: self.proc.poll() is not None or self.answers(), timeout, interval=0.5):
            self.stop()
            raise RuntimeError(f"the RabbitMQ node did not answer within {timeout}s")
        if self.proc.poll() is not None:
            self.proc = None
            raise RuntimeError("the RabbitMQ node exited at start")

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
