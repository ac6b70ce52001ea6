import datetime

import pytest
from django.utils import timezone

from drills import services
from drills.models import Drill, DrillPolicy, Scenario
from incidents.constants import Category, ContactState, StakeholderRole
from incidents.models import EscalationPolicy, StakeholderContact
from tests.conftest import fresh
from tests.incidents.factories import UserFactory, make_contact


@pytest.fixture
def facilitator(db):
    return fresh(UserFactory(username="facil", role="Drill Facilitator"))


@pytest.fixture
def outsider(db):
    """A responder who is not in the drill: must never be paged by it."""
    return fresh(UserFactory(username="outsider", role="Responder"))


@pytest.fixture
def scenario(db, feature):
    scenario = Scenario.objects.get(category=Category.HARMFUL_OUTPUT)
    scenario.feature = feature
    scenario.save()
    return scenario


@pytest.fixture
def contacts(commander, responder, outsider):
    """Tier-1 on-call contacts for the drill's people and one for someone outside it."""
    for severity in ("SEV1", "SEV2", "SEV3", "SEV4"):
        EscalationPolicy.objects.update_or_create(
            severity=severity,
            defaults={
                "roles": [StakeholderRole.ENGINEERING_ON_CALL, StakeholderRole.LEGAL],
                "channels": ["email"],
                "max_tier": 3,
            },
        )
    made = {}
    for user in (commander, responder, outsider):
        made[user.username] = make_contact(
            name=user.username.title(),
            role=StakeholderRole.ENGINEERING_ON_CALL,
            escalation_tier=1,
            email=f"{user.username}@pager.example",
            user=user,
        )
    return made


@pytest.fixture
def stale_contact(db):
    contact = make_contact(name="Jo Stale", role=StakeholderRole.LEGAL, escalation_tier=2, email="jo@example.com")
    StakeholderContact.objects.filter(pk=contact.pk).update(state=ContactState.STALE)
    return contact


@pytest.fixture
def policy(facilitator, feature, commander, responder):
    policy = DrillPolicy.objects.create(feature=feature, facilitator=facilitator, time_zone="America/New_York")
    policy.participants.set([commander, responder])
    return policy


@pytest.fixture
def scheduled_drill(scenario, feature, facilitator, commander, responder):
    def make(**kwargs) -> Drill:
        drill = services.drill_plan(
            scenario=kwargs.pop("scenario", scenario),
            feature=feature,
            facilitator=facilitator,
            participants=[commander, responder],
            actor=facilitator,
        )
        return services.drill_schedule(
            drill_id=drill.pk,
            scheduled_for=timezone.now() + datetime.timedelta(days=10),
            participants=kwargs.pop("participants", [commander, responder]),
            actor=facilitator,
        )

    return make


@pytest.fixture
def running_drill(scheduled_drill, facilitator, django_capture_on_commit_callbacks):
    def make(**kwargs) -> Drill:
        drill = scheduled_drill(**kwargs)
        with django_capture_on_commit_callbacks(execute=True):
            return services.drill_start(drill_id=drill.pk, actor=facilitator)

    return make
