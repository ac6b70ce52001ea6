"""The kill switches in the OpenFeature Remote Evaluation Protocol (OFREP).

POST /ofrep/v1/evaluate/flags/{key} and POST /ofrep/v1/evaluate/flags, with the request and response
shapes of the OFREP OpenAPI specification, so any OpenFeature SDK with the OFREP provider reads them.
Plain Django views: this is the hottest path Fireline serves, so it skips the REST framework.
"""

import json

from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from incidents.models import ApiToken, hash_token
from incidents.services import hotcache
from incidents.services.flags import flag_cache_key, flag_evaluate, flags_evaluate_all, killswitch_mark_read

TOKEN_CACHE_SECONDS = 30


def token_cache_key(raw: str) -> str:
    return "fireline:token:" + hash_token(raw)


def token_scopes(raw: str, cached=None) -> list[str] | None:
    """Scopes of a live token, cached briefly (revoking a token deletes the cached entries)."""
    key = token_cache_key(raw)
    scopes = cached if cached is not None else hotcache.get(key)
    if scopes is None:
        token = (
            ApiToken.objects.filter(key_hash=hash_token(raw), revoked_at__isnull=True)
            .values("scopes", "user__is_active")
            .first()
        )
        scopes = [] if token is None or token["user__is_active"] is False else token["scopes"] or ["-"]
        cache.set(key, scopes, TOKEN_CACHE_SECONDS)
    return scopes or None


def _authorise(request, cached=None):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    kind, _, raw = header.partition(" ")
    if kind.lower() != "bearer" or not raw.strip():
        response = JsonResponse({"errorDetails": "Send 'Authorization: Bearer <token>'."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="fireline"'
        return response
    scopes = token_scopes(raw.strip(), (cached or {}).get(token_cache_key(raw.strip())))
    if scopes is None:
        response = JsonResponse({"errorDetails": "Invalid or revoked token."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="fireline"'
        return response
    if "flags" not in scopes:
        return JsonResponse({"errorDetails": "This token lacks the 'flags' scope."}, status=403)
    return None


def _context(request, key=None):
    """The evaluation context from the body, or a 400 response in OFREP's shape."""

    def failure(code, details):
        body = {"errorCode": code, "errorDetails": details}
        if key is not None:
            body = {"key": key, **body}
        return None, JsonResponse(body, status=400)

    if not request.body:
        return {}, None
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return failure("PARSE_ERROR", "The body is not valid JSON.")
    if not isinstance(data, dict):
        return failure("PARSE_ERROR", 'The body must be a JSON object: {"context": {...}}.')
    context = data.get("context", {})
    if context is None:
        context = {}
    if not isinstance(context, dict):
        return failure("INVALID_CONTEXT", "'context' must be an object of attributes.")
    return context, None


@csrf_exempt
@require_POST
def evaluate_flag(request, key):
    # The token's scopes and the flag's state from this process's cache, or in one shared-cache round
    # trip: this is the hot path.
    raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")[2].strip()
    cached = hotcache.get_many([token_cache_key(raw), flag_cache_key(key)]) if raw else {}
    denied = _authorise(request, cached)
    if denied:
        return denied
    context, error = _context(request, key)
    if error:
        return error
    result = flag_evaluate(flag_key=key, context=context, cached=cached.get(flag_cache_key(key)))
    if result is None:
        return JsonResponse(
            {"key": key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": f"No kill switch has the key {key!r}."},
            status=404,
        )
    killswitch_mark_read([key])
    return JsonResponse(result)


@csrf_exempt
@require_POST
def evaluate_flags(request):
    denied = _authorise(request)
    if denied:
        return denied
    context, error = _context(request)
    if error:
        return error
    flags, etag = flags_evaluate_all(context=context)
    killswitch_mark_read([f["key"] for f in flags])
    wanted = [tag.strip() for tag in request.META.get("HTTP_IF_NONE_MATCH", "").split(",") if tag.strip()]
    if etag in wanted or "*" in wanted:
        response = HttpResponse(status=304)
    else:
        response = JsonResponse({"flags": flags})
    response["ETag"] = etag
    return response
