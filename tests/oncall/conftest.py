import pytest

from tests.incidents.factories import UserFactory


@pytest.fixture
def people(db):
    return {name: UserFactory(username=name, first_name=name.title()) for name in ("alice", "bob", "carol", "dave")}
