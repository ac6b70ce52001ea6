"""Factories of the incidents app's models (features, incidents, stakeholder contacts) and the users with roles
(the roles are declared in incidents/roles.py) that every app's tests sign in as."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from incidents.constants import Category, DetectionSignal
from incidents.models import AIFeature, Incident


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))


class AIFeatureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AIFeature

    name = factory.Sequence(lambda n: f"Feature {n}")
    key = factory.Sequence(lambda n: f"feature-{n}")
    owner_team = "AI Platform"
    kill_switch_key = factory.LazyAttribute(lambda f: f"{f.key}-enabled")
    current_model_version = "model-1"
    current_prompt_version = "prompt-1"


class IncidentFactory(factory.django.DjangoModelFactory):
    """A bare incident row (no services, no log): for lists and visibility, not for behaviour."""

    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"Incident {n}")
    category = Category.HARMFUL_OUTPUT
    detection_signal = DetectionSignal.USER_REPORT
    feature = factory.SubFactory(AIFeatureFactory)
    detected_at = factory.LazyFunction(timezone.now)
    severity = "SEV3"


def make_contact(*, verified: bool = False, **fields):
    """A stakeholder contact with its channel rows: a keyword named after a contact channel kind
    (email=, chat=, webhook=, or one a test registered) is an address on that channel."""
    from incidents import channels
    from incidents.models import StakeholderContact

    kinds = {sender.kind for sender in channels.contact_senders()}
    addresses = [(kind, fields.pop(kind)) for kind in list(fields) if kind in kinds]
    contact = StakeholderContact(**fields)
    if verified:
        contact.verify()
    contact.save()
    for kind, address in addresses:
        if address:
            contact.add_address(kind, address, verified_at=contact.verified_at)
    return contact
