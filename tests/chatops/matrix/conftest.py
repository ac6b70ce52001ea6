"""A real Synapse for the Matrix tests: one per test session, with a bot (server admin) and three responders.

The tests here are marked `chat`. CI's SQLite pass (FIRELINE_SKIP_BROWSER=1) leaves them to the PostgreSQL
pass; without Synapse (`make synapse`) they skip, except where FIRELINE_REQUIRE_SERVICES=1: there a Synapse
that is missing or does not start is a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.chatops.matrix.synapse import MatrixClient, SynapseServer, synapse_python

HERE = Path(__file__).resolve().parent
REQUIRE_SERVICES = os.environ.get("FIRELINE_REQUIRE_SERVICES") == "1"
RESPONDERS = ("alice", "bob", "carol")


def pytest_configure(config):
    config.addinivalue_line("markers", "chat: talks to a real chat server (Synapse), run in CI's PostgreSQL pass")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("FIRELINE_SKIP_BROWSER") != "1":
        return
    skip = pytest.mark.skip(reason="the chat-server suites run once, in the PostgreSQL pass (FIRELINE_SKIP_BROWSER=1)")
    for item in items:
        if item.get_closest_marker("chat"):
            item.add_marker(skip)


class Homeserver:
    """The running server, its bot and its people (each a MatrixClient), shared by the session."""

    def __init__(self, server: SynapseServer):
        self.server = server
        self.bot_user = server.register("fireline", admin=True)
        self.bot = MatrixClient(server, self.bot_user)
        self.people = {name: MatrixClient(server, server.register(name)) for name in RESPONDERS}
        self.people["mallory"] = MatrixClient(server, server.register("mallory"))  # no email: unknown to Fireline
        for name in RESPONDERS:
            server.set_email(self.bot_user, self.people[name].user_id, f"{name}@fireline.test")

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def homeserver():
    python = synapse_python()
    if python is None:
        message = "needs Synapse in .venv-synapse (`make synapse`) or FIRELINE_SYNAPSE_PYTHON"
        if REQUIRE_SERVICES:
            pytest.fail(message + " (FIRELINE_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    directory = Path(tempfile.mkdtemp(prefix="fireline-synapse-"))
    server = SynapseServer(directory, python)
    try:
        server.generate()
        server.start()
        yield Homeserver(server)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def matrix_backend(homeserver, monkeypatch):
    """Fireline configured for this homeserver from the environment, as in production (nothing in the database)."""
    from chatops.backends.base import backend_get, backend_reset

    monkeypatch.setenv("MATRIX_HOMESERVER_URL", homeserver.url)
    monkeypatch.setenv("MATRIX_BOT_TOKEN", homeserver.bot_user.access_token)
    backend_reset()
    yield backend_get("matrix")
    backend_reset()
