from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from sso.discovery import sso_enabled


class FirelineAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form; with password sign-in off it says so instead of "wrong password"."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError as error:
            if settings.FIRELINE_PASSWORD_LOGIN or error.code != "invalid_login":
                raise
            # The same words whether or not the account exists or is a superuser: nothing is given away.
            where = f"Sign in with {settings.OIDC_PROVIDER_NAME}. " if sso_enabled() else ""
            raise ValidationError(
                f"Password sign-in is turned off. {where}Only a break-glass administrator account can use this form.",
                code="password_login_off",
            ) from error
