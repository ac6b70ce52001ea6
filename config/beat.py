"""One scheduler, however many `celery beat` processes are started: a leader lock around the clock.

`LeaderScheduler` is django-celery-beat's DatabaseScheduler that sends nothing until it holds the leader
lock. A second beat started by mistake (or kept as a warm standby) waits, trying the lock every
STANDBY_SECONDS, and takes over when the leader's process or machine dies:

- on PostgreSQL, a session advisory lock on a connection of its own: the server releases it the
  moment that connection ends, so a killed leader frees it at once, on any machine;
- elsewhere (the embedded SQLite default, one machine), an exclusive `flock` on FIRELINE_VAR_DIR/beat.lock.

Every entry's last run is written to the database as soon as it is sent (not every three minutes), and
a new leader reads the schedule afresh, so a takeover does not run again what the old leader just ran.
The periodic tasks are idempotent anyway (DESIGN.md, "Side effects and clocks").
"""

from __future__ import annotations

import fcntl
import logging
import os
import zlib
from pathlib import Path

from django.conf import settings
from django.db import connection
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

STANDBY_SECONDS = 5.0
# pg_advisory_lock takes a bigint: one constant for Fireline's scheduler, the same on every machine.
ADVISORY_KEY = zlib.crc32(b"fireline:celery-beat:leader")


class PostgresLeaderLock:
    def __init__(self):
        self._conn = None

    def _connect(self):
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params["autocommit"] = True
        params.setdefault("connect_timeout", 5)
        params["application_name"] = "fireline-beat-leader"
        return psycopg.connect(**params)

    def acquire(self) -> bool:
        """True while this process holds the lock (checked on the live connection every call)."""
        try:
            if self._conn is not None:
                self._conn.execute("SELECT 1")
                return True
            conn = self._connect()
            held = conn.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY]).fetchone()[0]
        except Exception as exc:  # the database is unreachable: whoever held the lock lost it with the connection
            if self._conn is not None:
                logger.warning("Lost the scheduler's leader lock (%s): standing by", exc.__class__.__name__)
            self.release()
            return False
        if not held:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: S110 - closing a dead connection; the server drops the lock with it
                pass


class FileLeaderLock:
    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def leader_lock():
    if connection.vendor == "postgresql":
        return PostgresLeaderLock()
    return FileLeaderLock(Path(settings.VAR_DIR) / "beat.lock")


class LeaderScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self._lock = leader_lock()
        self._is_leader = False
        # Write an entry's last run as soon as it is sent: a new leader must see it.
        kwargs["sync_every_tasks"] = 1
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        if not self._lock.acquire():
            if self._is_leader:
                self._is_leader = False
            elif not getattr(self, "_said_standby", False):
                logger.warning("Another beat holds the leader lock and sends the periodic tasks: this one stands by")
                self._said_standby = True
            return STANDBY_SECONDS
        if not self._is_leader:
            logger.warning("This beat took the leader lock: it now sends the periodic tasks")
            self._is_leader = True
            self._said_standby = False
            # Read every entry's last run afresh: the previous leader may have run it moments ago.
            self._initial_read = True
            self._heap = None
        return super().tick(*args, **kwargs)

    def close(self):
        try:
            super().close()
        finally:
            self._lock.release()
