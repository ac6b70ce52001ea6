from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """What Fireline keeps for the systems around it: idempotent API writes and lifecycle event subscriptions."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from audit.signals import action_logged

        from .events import announce

        action_logged.connect(announce, dispatch_uid="fireline-lifecycle-events")
