"""Exactly one scheduler: two beats started by mistake send each periodic job once, and the second takes
over when the first dies. Also: bin/serve stops on Ctrl-C (INT) or TERM with exit 0.

The fleet's sweep runs every second here; no worker runs, so every message beat sends stays in the test's
Redis, where the test reads which process published it (the `origin` header Celery writes).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time

import pytest

from tests.fleet.harness import Serve, fleet_env, wait_until

pytestmark = [pytest.mark.fleet]

SWEEP = "incidents.tasks.sweep_outbox"
LEADER = "This beat took the leader lock"
STANDBY = "stands by"


def sweeps(redis_server) -> list[str]:
    """The origin of every sweep_outbox message waiting in the paging queue, oldest first."""
    origins = []
    for raw in reversed(redis_server.client().lrange("celery", 0, -1)):
        message = json.loads(raw)
        headers = message.get("headers", {})
        if headers.get("task") == SWEEP:
            origins.append(headers.get("origin", ""))
        else:
            json.loads(base64.b64decode(message["body"]))  # a message of another kind: still well formed
    return origins


def test_two_beats_send_each_periodic_job_once_and_the_standby_takes_over(tmp_path, fleet_db, redis_server, smtp_sink):
    env = dict(
        database_url=fleet_db.url,
        var_dir=tmp_path / "var",
        redis_url=redis_server.url,
        smtp_port=smtp_sink.port,
        FLEET_SWEEP_SECONDS="1",
        SERVE_ROLES="beat",
    )
    (tmp_path / "var").mkdir()
    first = Serve("beat-1", fleet_env(**env, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "p1")), tmp_path / "b1.log")
    second = Serve("beat-2", fleet_env(**env, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "p2")), tmp_path / "b2.log")
    try:
        first.start()
        first.wait_ready(LEADER, timeout=60)
        second.start()
        second.wait_ready(STANDBY, timeout=60)

        redis_server.client().delete("celery")
        window_started = time.monotonic()
        time.sleep(6.0)
        origins = sweeps(redis_server)
        window = time.monotonic() - window_started
        assert len(set(origins)) == 1, origins  # one process sent them all
        # Once a second, not twice (a loaded machine may delay a send; it never adds one).
        assert 2 <= len(origins) <= window + 2, (len(origins), window)
        assert LEADER not in second.log()

        # The leader's machine dies: its beat is killed outright. The standby takes over within its retry
        # interval and the sweeps go on, now from the other process, still once a second.
        leader_beat = first.child("celery")
        os.kill(leader_beat, signal.SIGKILL)
        first.kill_group()
        second.wait_ready(LEADER, timeout=20)
        redis_server.client().delete("celery")
        time.sleep(4.0)
        after = sweeps(redis_server)
        assert after and set(after).isdisjoint(origins), (after, origins)
        assert len(set(after)) == 1 and len(after) <= 6, after

        # Ctrl-C in the terminal that runs bin/serve: everything stops, exit 0.
        second.signal(signal.SIGINT)
        wait_until(lambda: not second.alive(), 30, "bin/serve stopping on INT")
        assert second.stop() == 0
        assert second.child("celery") is None
    finally:
        first.kill_group()
        second.kill_group()
