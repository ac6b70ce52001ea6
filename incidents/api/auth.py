"""Bearer tokens with scopes. Missing or bad token: 401. Token without the view's scope: 403."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_save
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, PermissionDenied
from rest_framework.permissions import BasePermission

from incidents.models import ApiToken, hash_token
from incidents.services import hotcache

# Tokens without a user (monitors, the product's report button) are kept briefly in the cache and in each
# web process (see hotcache), so an alert storm does not look its token up once per request. Revoking or
# deleting a token drops the entry everywhere at once; a token with a user is always read afresh, so a
# deactivated user's token stops at once too.
TOKEN_CACHE_SECONDS = 30
LAST_USED_GRANULARITY = timedelta(minutes=1)


def api_token_cache_key(key_hash: str) -> str:
    return "fireline:apitoken:" + key_hash


def forget_cached_tokens(key_hashes) -> None:
    from incidents.ofrep import forget_known_tokens

    key_hashes = list(key_hashes)
    keys = [api_token_cache_key(h) for h in key_hashes] + [f"fireline:token:{h}" for h in key_hashes]
    cache.delete_many(keys)  # with Redis lost this fails and is retried when Redis is back (config.cache)
    hotcache.invalidate(keys)
    forget_known_tokens(key_hashes)


def token_changed(sender, instance, **kwargs) -> None:
    """Signal receiver: forget the cached copies of a token that was saved or deleted.

    Now, and again once the change commits: a request may cache the old row in between."""
    hashes = [instance.key_hash]
    forget_cached_tokens(hashes)
    transaction.on_commit(lambda: forget_cached_tokens(hashes))


def user_changed(sender, instance, **kwargs) -> None:
    """Signal receiver: a deactivated user's tokens stop now, not when OFREP's cached scopes expire."""
    if instance.is_active:
        return
    hashes = list(ApiToken.objects.filter(user=instance).values_list("key_hash", flat=True))
    if hashes:
        # now, and again once the change commits: a request may cache the old answer in between
        forget_cached_tokens(hashes)
        transaction.on_commit(lambda: forget_cached_tokens(hashes))


# Connected here rather than in IncidentsConfig.ready(): ready() imports this module, and the receiver
# belongs next to the caches it clears. Any save counts (the admin, a shell, a script).
post_save.connect(user_changed, sender=settings.AUTH_USER_MODEL, dispatch_uid="api-token-user-saved")


def _from_cache(entry: dict, key_hash: str) -> ApiToken:
    token = ApiToken(
        pk=entry["id"],
        name=entry["name"],
        prefix=entry["prefix"],
        key_hash=key_hash,
        scopes=entry["scopes"],
        last_used_at=entry["last_used_at"],
    )
    token._state.adding = False
    token._state.db = "default"
    return token


def _to_cache(token: ApiToken) -> None:
    entry = {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": token.scopes,
        "last_used_at": token.last_used_at,
    }
    cache.set(api_token_cache_key(token.key_hash), entry, TOKEN_CACHE_SECONDS)


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
        key_hash = hash_token(raw)
        entry = hotcache.get(api_token_cache_key(key_hash))
        if entry is not None:
            token = _from_cache(entry, key_hash)
        else:
            token = ApiToken.objects.select_related("user").filter(key_hash=key_hash, revoked_at__isnull=True).first()
            if token is None or (token.user is not None and not token.user.is_active):
                raise AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        # Record use at most once a minute, so reads do not each cost a write.
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
            if entry is not None:
                hotcache.invalidate([api_token_cache_key(key_hash)])
        if token.user_id is None and (entry is None or entry["last_used_at"] != token.last_used_at):
            _to_cache(token)
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
