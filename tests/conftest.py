import json
import os

import pytest
from django.contrib.auth.models import Group

from incidents import services
from incidents.constants import Category, DetectionSignal
from tests.incidents.factories import AIFeatureFactory, UserFactory


def pytest_collection_modifyitems(config, items):
    """FIRELINE_SKIP_BROWSER=1 (CI's SQLite pass) leaves the browser suites to the PostgreSQL pass: they run once."""
    if os.environ.get("FIRELINE_SKIP_BROWSER") != "1":
        return
    skip = pytest.mark.skip(reason="the browser suites run once, in the PostgreSQL pass (FIRELINE_SKIP_BROWSER=1)")
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _forget_cached_alert_routing():
    """Rows of a rolled-back test never send the signal that drops the cached routing: start each test clean.

    The dedup keys the intake remembers would be caught by its guard; forgetting them keeps each test's
    path through the intake the same whatever ran before it.
    """
    from incidents.services import flags
    from incidents.services.alert_statements import forget_remembered_keys
    from incidents.services.alerts import routing_cache_clear

    routing_cache_clear()
    forget_remembered_keys()
    flags._last_marked.clear()  # "read by the product" is noted once a minute per process: per test here


def fresh(user):
    """The same user with an empty permission cache (groups change in tests)."""
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def commander(db):
    return fresh(UserFactory(username="cmdr", role="Incident Commander"))


@pytest.fixture
def responder(db):
    return fresh(UserFactory(username="resp", role="Responder"))


@pytest.fixture
def legal(db):
    return fresh(UserFactory(username="lawyer", role="Legal"))


@pytest.fixture
def viewer(db):
    return fresh(UserFactory(username="watcher", role="Viewer"))


@pytest.fixture
def superuser(db):
    return fresh(UserFactory(username="root", is_superuser=True))


@pytest.fixture
def feature(db):
    return AIFeatureFactory(key="support-bot", name="Support assistant")


@pytest.fixture
def open_incident(commander, feature):
    """Open an incident through the service, as the admin does."""

    def make(**kwargs):
        kwargs.setdefault("title", "Bot said something harmful")
        kwargs.setdefault("category", Category.HARMFUL_OUTPUT)
        kwargs.setdefault("detection_signal", DetectionSignal.USER_REPORT)
        kwargs.setdefault("feature", feature)
        kwargs.setdefault("commander", commander)
        actor = kwargs.pop("actor", commander)
        return services.incident_open(actor=actor, **kwargs)

    return make


@pytest.fixture
def roles(db):
    return {g.name: g for g in Group.objects.all()}


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a change and its on-commit work (cache invalidation), as a committed request would."""

    def run(func, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(*args, **kwargs)

    return run


@pytest.fixture
def flags_token(db):
    return services.api_token_create(name="product", scopes=["flags"])[1]


@pytest.fixture
def read_flag(client, flags_token):
    """What the product gets for a flag key: (value, version), through POST /ofrep/v1/evaluate/flags/{key}."""

    def read(key, context=None):
        response = client.post(
            f"/ofrep/v1/evaluate/flags/{key}",
            data=json.dumps({"context": context or {}}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {flags_token}",
        )
        assert response.status_code == 200, response.content
        body = response.json()
        return body["value"], body["metadata"]["version"]

    return read
