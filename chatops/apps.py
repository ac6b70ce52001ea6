from django.apps import AppConfig


class ChatopsConfig(AppConfig):
    """Two-way chat: a room per incident, commands and buttons from chat, lifecycle posts into the room."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "chatops"
    verbose_name = "Chat"
