import pytest

from tests.drills.factories import make_drill


@pytest.fixture
def facilitator_drill(db):
    """A drill of a feature in a given state, written directly (the drills app's services are its own)."""
    return make_drill
