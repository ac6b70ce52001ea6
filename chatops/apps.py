from django.apps import AppConfig


class ChatopsConfig(AppConfig):
    """Two-way chat: a room per incident, commands and buttons from chat, lifecycle posts into the room."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "chatops"
    verbose_name = "Chat"

    def ready(self):
        from django.db.models.signals import post_save

        from audit.signals import action_logged
        from incidents.models import TimelineEntry

        from . import senders, services  # noqa: F401 (senders registers the room channel)

        post_save.connect(services.timeline_posted, sender=TimelineEntry, dispatch_uid="fireline-chat-timeline")
        action_logged.connect(services.action_logged, dispatch_uid="fireline-chat-summary")
