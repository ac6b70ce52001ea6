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
