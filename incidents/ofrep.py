"""The kill switches in the OpenFeature Remote Evaluation Protocol (OFREP).

POST /ofrep/v1/evaluate/flags/{key} and POST /ofrep/v1/evaluate/flags, with the request and response
shapes of the OFREP OpenAPI specification, so any OpenFeature SDK with the OFREP provider reads them.
Plain Django views: this is the hottest path Fireline serves, so it skips the REST framework.

Fail safe, never open: with Redis lost the cache answers misses and the database answers (see
config.cache). With the database lost too, each process answers from the last state it knew, with the
reason STALE: a switch held off stays off. What it never knew is an OFREP error (503), never the SDK's
default read as an answer.
"""

import json
import logging
import re
import threading
import time
from collections import OrderedDict

from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config import json_input
from config.json_input import printable
from incidents.models import ApiToken, hash_token
from incidents.services import hotcache
from incidents.services.flags import flag_cache_key, flag_evaluate, flags_evaluate_all, killswitch_mark_read

logger = logging.getLogger(__name__)

TOKEN_CACHE_SECONDS = 30
# What a kill switch key can be: a feature's key, or a drill stand-in's (see models.features.key_validator).
FLAG_KEY = re.compile(r"[a-z0-9][a-z0-9._-]{0,119}")
DATABASE_ERRORS = (DatabaseError, InterfaceError)
MEMORY_SIZE = 10_000  # per memory below: answers for a database outage, not a second cache


class _Memory:
    """The last answers this process gave, newest kept, for when the database cannot be asked."""

    def __init__(self, size: int = MEMORY_SIZE):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, key):
        """(when remembered, value), or None."""
        return self._items.get(key)

    def pop(self, key) -> None:
        with self._lock:
            self._items.pop(key, None)

    def keys(self) -> list:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_known_scopes = _Memory()  # token hash -> scopes of a live token
_known_states = _Memory()  # flag key -> the switch's state, as the shared cache held it
_known_results = _Memory()  # (flag key, context) -> the evaluation answered
_latest_results = _Memory()  # flag key -> the latest evaluation answered, whatever its context


_warned_at = -1e9


def _warn_database_lost() -> None:
    """One warning a minute while the database is lost, not one per request."""
    global _warned_at
    now = time.monotonic()
    if now - _warned_at >= 60:
        _warned_at = now
        logger.warning("OFREP: the database is unreachable; answering from this process's memory (STALE)")


def forget_known_tokens(key_hashes) -> None:
    """A revoked token, or one of a deactivated user, is not honoured from memory during a database outage."""
    for key_hash in key_hashes:
        _known_scopes.pop(key_hash)


def forget_known_state() -> None:
    """Empty this process's memory of tokens and flags (tests)."""
    for memory in (_known_scopes, _known_states, _known_results, _latest_results):
        memory.clear()


def token_cache_key(raw: str) -> str:
    return "fireline:token:" + hash_token(raw)


def token_scopes(raw: str, cached=None) -> list[str] | None:
    """Scopes of a live token, cached briefly (revoking a token deletes the cached entries).

    Raises DatabaseError when the token is neither cached nor readable; `_authorise` answers that.
    """
    key_hash = hash_token(raw)
    key = "fireline:token:" + key_hash
    scopes = cached if cached is not None else hotcache.get(key)
    if scopes is None:
        token = (
            ApiToken.objects.filter(key_hash=key_hash, revoked_at__isnull=True)
            .values("scopes", "user__is_active")
            .first()
        )
        scopes = [] if token is None or token["user__is_active"] is False else token["scopes"] or ["-"]
        cache.set(key, scopes, TOKEN_CACHE_SECONDS)
    if scopes:
        _known_scopes.put(key_hash, scopes)
    else:
        _known_scopes.pop(key_hash)
    return scopes or None


def _unavailable(details: str, key=None) -> JsonResponse:
    """An OFREP error the SDK reports as an error (not a value): nothing is known to answer with."""
    body = {"errorCode": "GENERAL", "errorDetails": details}
    if key is not None:
        body = {"key": key, **body}
    response = JsonResponse(body, status=503)
    response["Retry-After"] = "5"
    return response


def _authorise(request, cached=None):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    kind, _, raw = header.partition(" ")
    if kind.lower() != "bearer" or not raw.strip():
        response = JsonResponse({"errorDetails": "Send 'Authorization: Bearer <token>'."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="fireline"'
        return response
    try:
        scopes = token_scopes(raw.strip(), (cached or {}).get(token_cache_key(raw.strip())))
    except DATABASE_ERRORS:
        _warn_database_lost()
        known = _known_scopes.get(hash_token(raw.strip()))
        if known is None:
            return _unavailable("The token cannot be checked now (the database is unreachable); retry shortly.")
        scopes = known[1]
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

    try:
        body = request.body
    except RequestDataTooBig:
        return failure("PARSE_ERROR", "The body is over the size limit.")
    if not body:
        return {}, None
    try:
        data = json_input.loads(body)
    except json_input.JSONInputError as exc:
        # Whole-body problems (not JSON, nested too deep) cannot be parsed; a bad value has its place.
        if set(exc.errors) == {"body"}:
            return failure("PARSE_ERROR", " ".join(exc.errors["body"]))
        return failure("INVALID_CONTEXT", str(exc))
    if not isinstance(data, dict):
        return failure("PARSE_ERROR", 'The body must be a JSON object: {"context": {...}}.')
    context = data.get("context", {})
    if context is None:
        context = {}
    if not isinstance(context, dict):
        return failure("INVALID_CONTEXT", "'context' must be an object of attributes.")
    return context, None


def _context_key(context: dict) -> str:
    return json.dumps(context, sort_keys=True, default=str)


def _remember(flag_key: str, context: dict, result: dict | None, state=None) -> None:
    if state is not None:
        _known_states.put(flag_key, state)
    if result is not None:
        _known_results.put((flag_key, _context_key(context)), result)
        _latest_results.put(flag_key, result)


def _stale_result(flag_key: str, context: dict) -> dict | None:
    """The newest thing this process knows that answers flag_key for context, marked STALE; or None.

    A remembered state evaluates any context. A remembered answer serves its own context, and a switch
    last seen off for everyone (DISABLED) is off for every context: off is the safe side.
    """
    found = []
    state = _known_states.get(flag_key)
    if state is not None and state[1]:
        try:
            found.append((state[0], flag_evaluate(flag_key=flag_key, context=context, cached=state[1])))
        except Exception:  # noqa: BLE001 - a state this code no longer reads is no answer, not an error
            logger.warning("OFREP: could not evaluate the remembered state of %s", flag_key, exc_info=True)
    exact = _known_results.get((flag_key, _context_key(context)))
    if exact is not None:
        found.append(exact)
    latest = _latest_results.get(flag_key)
    if latest is not None and latest[1].get("reason") == "DISABLED" and latest[1].get("value") is False:
        found.append(latest)
    found = [item for item in found if item[1] is not None]
    if not found:
        return None
    when, result = max(found, key=lambda item: item[0])
    version = result.get("metadata", {}).get("version")
    if latest is not None and latest[0] > when and latest[1].get("metadata", {}).get("version") != version:
        return None  # the switch changed since what is known for this context: do not answer older news
    return {
        **result,
        "key": flag_key,
        "reason": "STALE",
        "metadata": {**result.get("metadata", {}), "staleSeconds": round(time.monotonic() - when)},
    }


def _stale_flag(flag_key: str, context: dict) -> JsonResponse:
    _warn_database_lost()
    result = _stale_result(flag_key, context)
    if result is None:
        return _unavailable("The kill switch cannot be read now (the database is unreachable).", key=flag_key)
    return JsonResponse(result)


def _mark_read(flag_keys: list[str]) -> None:
    try:
        killswitch_mark_read(flag_keys)
    except DATABASE_ERRORS:
        pass  # readiness bookkeeping only: the answer matters more


@csrf_exempt
@require_POST
def evaluate_flag(request, key):
    if not FLAG_KEY.fullmatch(key):  # no switch has such a key: not worth a cache or database look-up
        shown = printable(key)[:200]
        details = f"No kill switch has the key {shown!r}."
        return _authorise(request) or JsonResponse(
            {"key": shown, "errorCode": "FLAG_NOT_FOUND", "errorDetails": details}, status=404
        )
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
    state = cached.get(flag_cache_key(key))
    try:
        result = flag_evaluate(flag_key=key, context=context, cached=state)
    except DATABASE_ERRORS:
        return _stale_flag(key, context)
    _remember(key, context, result, state)
    if result is None:
        return JsonResponse(
            {"key": key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": f"No kill switch has the key {key!r}."},
            status=404,
        )
    _mark_read([key])
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
    try:
        flags, etag = flags_evaluate_all(context=context)
    except DATABASE_ERRORS:
        return _stale_flags(context)
    for flag in flags:
        _remember(flag["key"], context, flag)
    _mark_read([f["key"] for f in flags])
    wanted = [tag.strip() for tag in request.META.get("HTTP_IF_NONE_MATCH", "").split(",") if tag.strip()]
    if etag in wanted or "*" in wanted:
        response = HttpResponse(status=304)
    else:
        response = JsonResponse({"flags": flags})
    response["ETag"] = etag
    return response


def _stale_flags(context: dict) -> JsonResponse:
    """Every switch this process knows, from memory (no ETag: a stale answer is not one to keep)."""
    _warn_database_lost()
    keys = sorted(set(_latest_results.keys()) | set(_known_states.keys()))
    if not keys:
        return _unavailable("The kill switches cannot be read now (the database is unreachable).")
    flags = []
    for key in keys:
        result = _stale_result(key, context)
        if result is None:
            result = {
                "key": key,
                "errorCode": "GENERAL",
                "errorDetails": "Not known while the database is unreachable.",
            }
        flags.append(result)
    return JsonResponse({"flags": flags})
