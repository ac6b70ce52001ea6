"""Run an API write at most once per Idempotency-Key (per token), replaying the first answer to retries."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from .models import IdempotentRequest

KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Location", "ETag")


class IdempotencyConflict(Exception):
    """The key was used for another request, or its first request is still running."""

    def __init__(self, message: str, status_code: int):
        super().__init__(message)
        self.status_code = status_code


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).hexdigest()


def idempotent(*, token, key: str | None, method: str, path: str, body: bytes, run: Callable[[], Response]) -> Response:
    """Call `run` in a transaction and keep its answer under `key`; a retry with the same key gets it back.

    The same key with another method, path or body is refused (422): the client has a bug, and
    answering it with the first response would hide it. A retry while the first is still running
    waits on the row lock and then replays.
    """
    if not key:
        with transaction.atomic():
            return run()
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyConflict(f"Idempotency-Key: at most {MAX_KEY_LENGTH} printable characters.", 400)
    digest = request_hash(method, path, body)
    since = timezone.now() - KEEP_FOR
    with transaction.atomic():
        earlier = (
            IdempotentRequest.objects.select_for_update().filter(token=token, key=key, created_at__gte=since).first()
        )
        if earlier is not None:
            if earlier.request_hash != digest:
                raise IdempotencyConflict(
                    "Idempotency-Key was already used for a different request; use a new key for a new request.", 422
                )
            replay = Response(earlier.response_body, status=earlier.status_code)
            for name, value in (earlier.response_headers or {}).items():
                replay[name] = value
            replay["Idempotent-Replayed"] = "true"
            return replay
        IdempotentRequest.objects.filter(token=token, key=key, created_at__lt=since).delete()
        response = run()
        if response.status_code >= 500:
            return response
        try:
            with transaction.atomic():
                IdempotentRequest.objects.create(
                    token=token,
                    key=key,
                    method=method,
                    path=path[:500],
                    request_hash=digest,
                    status_code=response.status_code,
                    response_body=response.data,
                    response_headers={h: response[h] for h in REPLAYED_HEADERS if response.has_header(h)},
                )
        except IntegrityError as exc:
            # another request with this key committed first, between our read and this insert
            raise IdempotencyConflict(
                "A request with this Idempotency-Key is already in progress; retry.", 409
            ) from exc
        return response
