from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from incidents.constants import ApiScope
from incidents.models import ApiToken, hash_token


@transaction.atomic
def api_token_create(*, name: str, scopes: list[str], actor=None, user=None) -> tuple[ApiToken, str]:
    """Create a token; return it with the raw value, which is never stored and shown only now."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the token after what uses it."})
    scopes = sorted({s.strip() for s in scopes if s.strip()})
    if not scopes:
        raise ValidationError({"scopes": f"Give at least one scope: {', '.join(ApiScope.values)}."})
    unknown = [s for s in scopes if s not in ApiScope.values]
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope {', '.join(unknown)}; known: {', '.join(ApiScope.values)}."})
    raw = ApiToken.generate()
    token = ApiToken.objects.create(name=name, prefix=raw[:10], key_hash=hash_token(raw), scopes=scopes, user=user)
    audit.log_api_token_created(actor=actor, token=token)
    return token, raw


@transaction.atomic
def api_token_revoke(*, token_ids, actor) -> int:
    """Revoke tokens now: each is saved (its save forgets every cached copy) and logged with who did it."""
    if actor is not None and not actor.has_perm("incidents.change_apitoken"):
        raise PermissionDenied("You may not revoke API tokens.")
    now = timezone.now()
    revoked = 0
    live = ApiToken.objects.select_for_update().filter(pk__in=list(token_ids), revoked_at__isnull=True).order_by("pk")
    for token in live:
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])
        audit.log_api_token_revoked(actor=actor, token=token)
        revoked += 1
    return revoked
