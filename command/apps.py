from django.apps import AppConfig


class CommandConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "command"
    verbose_name = "Command centre"

    def ready(self):
        from incidents.admin.incident import changelist_summary_register

        from .metrics import detection_shares_get

        changelist_summary_register("detection_shares", detection_shares_get)
