from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = "Single sign-on"

    def ready(self):
        from django.contrib import admin

        from sso.forms import FirelineAuthenticationForm
        from sso.views import logout_with_provider

        # The admin's own login and logout pages stay; these add the password switch and the provider's logout.
        admin.site.login_form = FirelineAuthenticationForm
        admin.site.logout = logout_with_provider(admin.site.logout)
