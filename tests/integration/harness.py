"""Real services for the integration tests and the benchmark: a Redis, a Celery worker and an SMTP sink.

Every process here is started by the test that needs it and stopped by that test's fixtures, so a
test never touches the shared Redis on 6379 or any worker it did not start. Waits are bounded.
"""

from __future__ import annotations

import email
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRE_SERVICES = os.environ.get("FIRELINE_REQUIRE_SERVICES") == "1"


def require_redis_server() -> str:
    """The redis-server binary, or a skip (a failure when FIRELINE_REQUIRE_SERVICES=1)."""
    path = shutil.which("redis-server")
    if path is None:
        message = "needs redis-server on PATH to start a Redis the test owns"
        if REQUIRE_SERVICES:
            pytest.fail(message + " (FIRELINE_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll until predicate() is true or the deadline passes; never sleeps unboundedly."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class RedisServer:
    """A redis-server on a loopback port of its own, without persistence: a restart loses every message."""

    def __init__(self, binary: str, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=2)

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:
            return False

    def start(self, timeout: float = 10.0) -> None:
        assert self.proc is None, "already running"
        self.starts += 1
        log = (self.workdir / f"redis-{self.port}-{self.starts}.log").open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if not wait_for(lambda: self.proc.poll() is not None or self.ping(), timeout):
            self.stop()
            raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout}s")
        if self.proc.poll() is not None:
            self.proc = None
            raise RuntimeError(f"redis-server on port {self.port} exited at start")

    def stop(self) -> None:
        """Stop this Redis (SIGTERM, then SIGKILL if it lingers) and wait for it to exit."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def queue_length(self, queue: str = "celery") -> int:
        return int(self.client().llen(queue))


@dataclass
class Received:
    dedup_key: str
    recipients: tuple[str, ...]
    subject: str
    at: float  # time.monotonic() of this process when the message was accepted
    wall: float  # time.time() of the same moment


class SmtpSink:
    """A local SMTP server (aiosmtpd) that records every message it accepts by its dedup key.

    delay_first_mail makes the first MAIL FROM of the sink's life wait that long before answering,
    so a client can be stopped in the middle of its SMTP conversation.
    """

    def __init__(self, port: int | None = None, *, delay_first_mail: float = 0.0):
        self.port = port or free_port()
        self.delay_first_mail = delay_first_mail
        self.received: list[Received] = []
        self.mail_commands = 0
        self.first_mail_started = threading.Event()
        self._lock = threading.Lock()
        self._controller = None

    # aiosmtpd handler hooks -------------------------------------------------------------------
    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        import asyncio

        with self._lock:
            self.mail_commands += 1
            first = self.mail_commands == 1
        if first:
            self.first_mail_started.set()
            if self.delay_first_mail:
                await asyncio.sleep(self.delay_first_mail)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        item = Received(
            dedup_key=message.get("X-Fireline-Dedup-Key", ""),
            recipients=tuple(envelope.rcpt_tos),
            subject=str(message.get("Subject", "")),
            at=time.monotonic(),
            wall=time.time(),
        )
        with self._lock:
            self.received.append(item)
        return "250 Message accepted for delivery"

    # control ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        assert self._controller is None, "already running"
        # aiosmtpd logs every SMTP command at INFO on "mail.log"; keep `pytest -s` output readable.
        self._log_level = logging.getLogger("mail.log").level
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            controller, self._controller = self._controller, None
            controller.stop()
            logging.getLogger("mail.log").setLevel(self._log_level)

    def keys(self) -> list[str]:
        with self._lock:
            return [r.dedup_key for r in self.received]

    def counts(self) -> Counter:
        return Counter(self.keys())

    def first(self, dedup_key: str) -> Received | None:
        with self._lock:
            return next((r for r in self.received if r.dedup_key == dedup_key), None)


def test_database_url() -> str:
    """The URL of the test database pytest-django created, for a worker in another process."""
    from django.db import connection

    s = connection.settings_dict
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(s['NAME'], safe='')}"


test_database_url.__test__ = False  # not a test, whatever its name


class CeleryWorker:
    """`celery -A config worker` as a subprocess, on production settings with the given environment."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        assert self.proc is None, "already running"
        name = f"fireline-test-{uuid.uuid4().hex[:8]}@%h"
        argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--concurrency=1"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO", "-n", name]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                argv, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        ready = wait_for(lambda: self.proc.poll() is not None or " ready." in self.log(), timeout, interval=0.1)
        if not ready or self.proc.poll() is not None:
            tail = self.tail()
            self.stop()
            raise RuntimeError(f"the Celery worker did not become ready within {timeout}s:\n{tail}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def task_errors(self) -> list[str]:
        """Log lines of tasks that crashed (an exception the task did not handle)."""
        return [line for line in self.log().splitlines() if "raised unexpected:" in line]

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no ack, no cleanup, as when the machine dies."""
        assert self.proc is not None and self.proc.poll() is None, "the worker is not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.terminate()  # warm shutdown: finish the current task
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def run_django(code: str, env: dict[str, str], timeout: float = 60.0) -> str:
    """Run `manage.py shell -c code` in a subprocess with env (e.g. worker_env(...)); return its stdout."""
    result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:  # not an AssertionError: an xfail(raises=AssertionError) must not swallow it
        raise RuntimeError(f"manage.py shell failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result.stdout


def worker_env(*, redis_url: str, smtp_port: int, var_dir: Path, **extra: str) -> dict[str, str]:
    """A worker's environment: production settings (not the eager test settings) on the test database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "FIRELINE_", "EMAIL_", "DJANGO_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "LOG_LEVEL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=test_database_url(),
        REDIS_URL=redis_url,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        EMAIL_TIMEOUT="10",
        FIRELINE_VAR_DIR=str(var_dir),
        SECRET_KEY="fireline-integration-tests-not-a-secret",
        FIRELINE_WEBHOOK_SECRET="fireline-integration-tests-webhook",
        DEBUG="false",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


class CeleryPublisher:
    """Points this process's Celery app at a Redis the test owns, with eager mode off; undo() restores it.

    The app caches its broker connection pool (app._pool) and producer pool (app.amqp._producer_pool),
    so both are closed and dropped on the way in and on the way out.
    """

    KEYS = ("broker_url", "broker_transport_options", "task_always_eager")

    def __init__(self, app):
        self.app = app
        self.saved: dict | None = None

    def _drop_pools(self) -> None:
        app = self.app
        pools = [app._pool]
        amqp = app.__dict__.get("amqp")
        if amqp is not None:
            pools.append(amqp._producer_pool)
        for pool in pools:
            if pool is not None:
                try:
                    pool.force_close_all()
                except Exception:  # noqa: S110 - a pool on a stopped Redis may fail to close; it is dropped anyway
                    pass
        app._pool = None
        if amqp is not None:
            amqp._producer_pool = None

    def point_at(self, broker_url: str, **transport_options) -> None:
        conf = self.app.conf
        if self.saved is None:
            self.saved = {key: conf.get(key) for key in self.KEYS}
        self._drop_pools()
        conf["broker_url"] = broker_url
        # Keep the configured Redis transport options (not the filesystem ones of a run without REDIS_URL).
        saved_redis = str(self.saved["broker_url"] or "").startswith("redis")
        base = (self.saved["broker_transport_options"] or {}) if saved_redis else {}
        conf["broker_transport_options"] = {**base, **transport_options}
        conf["task_always_eager"] = False
        wanted = urlsplit(broker_url)
        with self.app.connection_for_write() as conn:
            actual = (conn.transport_cls, conn.hostname, conn.port)
        assert actual == (wanted.scheme, wanted.hostname, wanted.port), f"Celery would publish to {actual}"

    def undo(self) -> None:
        if self.saved is None:
            return
        self._drop_pools()
        for key, value in self.saved.items():
            self.app.conf[key] = value
        self.saved = None
        self._drop_pools()


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * pct // 100)))
    return ordered[int(rank) - 1]
