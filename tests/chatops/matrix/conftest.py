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
from django.core.cache import cache

from tests.chatops.matrix.synapse import MatrixClient, SynapseServer, synapse_python
from tests.conftest import fresh
from tests.incidents.factories import UserFactory

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
def matrix_backend(homeserver, settings, monkeypatch):
    """Fireline configured for this homeserver as from the environment (nothing in the database)."""
    from chatops.backends.base import backend_get, backend_reset

    settings.MATRIX_HOMESERVER_URL = homeserver.url
    monkeypatch.setenv("MATRIX_HOMESERVER_URL", homeserver.url)  # chatops.services.backend_configured reads it
    settings.MATRIX_BOT_TOKEN = homeserver.bot_user.access_token
    backend_reset()
    yield backend_get("matrix")
    backend_reset()


@pytest.fixture
def people(db):
    cache.clear()  # who a chat user is, is cached for a few minutes
    return {
        "alice": fresh(UserFactory(username="alice", email="alice@fireline.test", role="Incident Commander")),
        "bob": fresh(UserFactory(username="bob", email="bob@fireline.test", role="Responder")),
        "carol": fresh(UserFactory(username="carol", email="carol@fireline.test", role="Responder")),
    }


@pytest.fixture
def bot(matrix_backend, committed, people, feature):
    from chatops.matrix_sync import sync_once
    from chatops.models import ChatSettings

    ChatSettings.objects.create(backend="matrix")

    class Bot:
        backend = matrix_backend

        def round(self):
            """One /sync round, with what it commits delivered (the outbox runs eagerly in tests)."""
            return committed(sync_once, backend=matrix_backend)

    bot = Bot()
    assert bot.round().first  # the bot learns where "now" is: nothing said before runs
    return bot
