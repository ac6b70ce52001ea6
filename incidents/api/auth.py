"""Bearer tokens with scopes. Missing or bad token: 401. Token without the view's scope: 403."""

from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, PermissionDenied
from rest_framework.permissions import BasePermission

from incidents.models import ApiToken, hash_token


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: send 'Authorization: Bearer <token>'.")
        try:
            raw = parts[1].decode()
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("The token contains invalid characters.") from exc
        token = (
            ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw), revoked_at__isnull=True).first()
        )
        if token is None or (token.user is not None and not token.user.is_active):
            raise AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        # Record use at most once a minute, so reads do not each cost a write.
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return (token.user or AnonymousUser(), token)

    def authenticate_header(self, request):
        return 'Bearer realm="fireline"'


class HasTokenScope(BasePermission):
    """The view names its scope in `required_scope`; the token must carry it."""

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, ApiToken):
            raise NotAuthenticated("Send a token: 'Authorization: Bearer <token>'.")
        scope = getattr(view, "required_scope", None)
        if scope is None or scope not in token.scopes:
            raise PermissionDenied(f"This token lacks the '{scope}' scope.")
        return True


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Tells the OpenAPI schema how Fireline's tokens are sent."""

    target_class = "incidents.api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A token from `manage.py create_api_token`."}
