from django.apps import AppConfig


class OncallConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "oncall"
    verbose_name = "On-call schedules"

    def ready(self):
        from incidents.paging_gaps import scheduled_lookup_register

        from .coverage import tier1_scheduled_now

        scheduled_lookup_register(tier1_scheduled_now)
