from django.apps import AppConfig


class PreferencesConfig(AppConfig):
    """Each person's own screen settings (time zone, open cards). Depends on nothing but auth."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "preferences"
    verbose_name = "Preferences"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .services import remember_time_zone_at_login

        user_logged_in.connect(remember_time_zone_at_login, dispatch_uid="fireline-time-zone-at-login")
