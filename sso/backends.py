"""Authentication backends: the provider's sign-in, and the password sign-in with its off switch."""

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from sso import services
from sso.discovery import provider_metadata, sso_enabled


class PasswordBackend(ModelBackend):
    """Django's password sign-in; with FIRELINE_PASSWORD_LOGIN=false only a superuser (break-glass) may use it.

    This backend also answers every permission check, for users of either sign-in.
    """

    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and (settings.FIRELINE_PASSWORD_LOGIN or user.is_superuser)


class ProviderBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's code flow, with endpoints from discovery and the ID token checked in full.

    The library checks the signature, the nonce and (through PyJWT) the expiry; this adds the issuer and
    the audience, requires the claims a valid ID token has, and takes users by issuer and subject.
    """

    def __init__(self, *args, **kwargs):
        # Nothing is read here: Django builds a backend for every authentication, password ones included,
        # and discovery is only needed once a provider's answer arrives.
        self.UserModel = get_user_model()

    OIDC_RP_IDP_SIGN_KEY = None

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):  # noqa: N802 - the library's attribute names
        return provider_metadata()["token_endpoint"]

    @property
    def OIDC_OP_USER_ENDPOINT(self):  # noqa: N802
        return provider_metadata().get("userinfo_endpoint")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self):  # noqa: N802
        return provider_metadata()["jwks_uri"]

    @property
    def OIDC_RP_CLIENT_ID(self):  # noqa: N802
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self):  # noqa: N802
        return settings.OIDC_RP_CLIENT_SECRET

    @property
    def OIDC_RP_SIGN_ALGO(self):  # noqa: N802
        return settings.OIDC_RP_SIGN_ALGO

    def authenticate(self, request, **kwargs):
        # Only the callback view passes a nonce; a password form never reaches the provider.
        if not sso_enabled() or "nonce" not in kwargs or "password" in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        # The header is checked before a key is looked up, so a token naming no key or another algorithm
        # is refused as such (the library would fail on it with a KeyError, a 500).
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation("ID token refused: not a JWT") from exc
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(
                f"ID token refused: signed with {header.get('alg')}, expected {self.OIDC_RP_SIGN_ALGO}"
            )
        if not header.get("kid") and self.OIDC_RP_SIGN_ALGO.startswith(("RS", "ES", "PS")):
            raise SuspiciousOperation("ID token refused: it names no signing key")
        return super().verify_token(token, **kwargs)

    def _verify_jws(self, payload, key):
        try:
            algorithm = jwt.get_unverified_header(payload).get("alg")
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation("ID token refused: not a JWT") from exc
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"ID token refused: signed with {algorithm}, expected {self.OIDC_RP_SIGN_ALGO}")
        try:
            return jwt.decode(
                payload,
                key,
                algorithms=[algorithm],
                audience=settings.OIDC_RP_CLIENT_ID,
                issuer=provider_metadata()["issuer"],
                leeway=settings.OIDC_CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "aud", "sub", "exp", "iat"]},
            )
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from exc

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, completed by the userinfo endpoint when the provider has one."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = super().get_userinfo(access_token, id_token, payload)
            if userinfo.get("sub") != payload.get("sub"):
                raise SuspiciousOperation("userinfo answered for another subject")
            claims.update(userinfo)
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        return services.user_sign_in_from_claims(issuer=provider_metadata()["issuer"], claims=claims)

    def get_user(self, user_id):
        # A session signed in through the provider ends when the account is deactivated, as a password one does.
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    # Permissions are PasswordBackend's (Django's ModelBackend): answering here too would only repeat it.
    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        return set()

    def get_all_permissions(self, user_obj, obj=None):
        return set()

    def has_perm(self, user_obj, perm, obj=None):
        return False

    def has_module_perms(self, user_obj, app_label):
        return False
