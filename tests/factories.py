"""The factories once kept here, at their old import path, for tests written before each app had its own
factories module. New tests import from tests/<app>/factories.py."""

from tests.incidents.factories import AIFeatureFactory, IncidentFactory, UserFactory, make_contact

__all__ = ["AIFeatureFactory", "IncidentFactory", "UserFactory", "make_contact"]
