from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """What Fireline keeps for the systems that drive it: idempotent API writes."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"
    verbose_name = "Integrations"
