from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

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
