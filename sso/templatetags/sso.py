from django import template
from django.conf import settings

from sso.discovery import sso_enabled

register = template.Library()


@register.simple_tag
def sso_login_options() -> dict:
    """What the login page offers: the provider's button, and whether the password form is for everyone."""
    return {
        "enabled": sso_enabled(),
        "provider_name": settings.OIDC_PROVIDER_NAME,
        "password_login": settings.FIRELINE_PASSWORD_LOGIN or not sso_enabled(),
    }
