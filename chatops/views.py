"""Slack's requests to Fireline: slash commands, button presses, events.

Nothing runs before the request is verified with the signing secret (HMAC of the timestamp and body,
five minutes either way): anything else is a 401. A replayed request (the same signature again) gets the
first answer and runs nothing; an event Slack retries (X-Slack-Retry-Num) is handled once by its event id.
Commands answer at once: they are database work, and everything that talks to Slack (rooms, posts, the
reply to a button) is queued. A reaction needs the marked message's text from Slack, so it is handled in
a task.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.signature import SignatureVerifier

from .backends.slack import render_blocks
from .commands import Reply, button_press, command_run
from .models import SlackRequest

logger = logging.getLogger(__name__)
BODY_MAX = 64 * 1024  # Slack's payloads are a few kilobytes


def slack_verified(request: HttpRequest) -> bool:
    secret = settings.SLACK_SIGNING_SECRET
    if not secret or len(request.body) > BODY_MAX:
        return False
    return SignatureVerifier(secret).is_valid(
        body=request.body,
        timestamp=request.headers.get("X-Slack-Request-Timestamp"),
        signature=request.headers.get("X-Slack-Signature"),
    )


def refused() -> HttpResponse:
    return JsonResponse({"error": "This request is not signed by Slack, or is too old."}, status=401)


def reply_json(reply: Reply) -> dict:
    body = {"response_type": "ephemeral" if reply.private else "in_channel", "text": reply.text}
    if reply.message is not None:
        body["blocks"] = render_blocks(reply.message)
    return body


def once(key: str, run) -> HttpResponse:
    """Run `run` once per key; a second request with the key gets the first answer (or an empty 200 while
    the first is still running)."""
    try:
        with transaction.atomic():
            record = SlackRequest.objects.create(key=key[:128])
    except IntegrityError:
        prior = SlackRequest.objects.filter(key=key[:128]).first()
        if prior is None or not prior.body:
            return HttpResponse(status=200)
        return HttpResponse(prior.body, status=prior.status, content_type=prior.content_type)
    try:
        response = run()
    except Exception:
        SlackRequest.objects.filter(pk=record.pk).delete()
        raise
    SlackRequest.objects.filter(pk=record.pk).update(
        status=response.status_code, body=response.content.decode(), content_type=response["Content-Type"][:64]
    )
    return response


def _signature_key(request: HttpRequest) -> str:
    return "sig:" + request.headers.get("X-Slack-Signature", "")


@csrf_exempt
@require_POST
def slack_commands(request: HttpRequest) -> HttpResponse:
    if not slack_verified(request):
        return refused()
    data = request.POST

    def run() -> HttpResponse:
        reply = command_run(
            backend="slack",
            chat_user_id=data.get("user_id", ""),
            room_id=data.get("channel_id") or None,
            text=data.get("text", ""),
        )
        return JsonResponse(reply_json(reply))

    return once(_signature_key(request), run)


@csrf_exempt
@require_POST
def slack_interactions(request: HttpRequest) -> HttpResponse:
    if not slack_verified(request):
        return refused()
    try:
        payload = json.loads(request.POST.get("payload", ""))
    except ValueError:
        return JsonResponse({"error": "payload: not JSON"}, status=400)
    if not isinstance(payload, dict) or payload.get("type") != "block_actions" or not payload.get("actions"):
        return HttpResponse(status=200)  # other interaction types are not used
    if not (
        isinstance(payload["actions"], list)
        and isinstance(payload["actions"][0], dict)
        and isinstance(payload.get("user"), dict)
        and isinstance(payload.get("channel") or {}, dict)
    ):
        return JsonResponse({"error": "payload: actions, user or channel malformed"}, status=400)

    def run() -> HttpResponse:
        from .tasks import slack_respond

        action = payload["actions"][0]
        name, _, value = str(action.get("value", "")).partition("|")
        reply = button_press(
            backend="slack",
            chat_user_id=str((payload.get("user") or {}).get("id", "")),
            room_id=(payload.get("channel") or {}).get("id"),
            action=name,
            value=value,
        )
        response_url = payload.get("response_url")
        if response_url:
            transaction.on_commit(lambda: slack_respond.delay(response_url, reply_json(reply)))
        return HttpResponse(status=200)

    return once(_signature_key(request), run)


@csrf_exempt
@require_POST
def slack_events(request: HttpRequest) -> HttpResponse:
    if not slack_verified(request):
        return refused()
    try:
        payload = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "body: not JSON"}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse({"error": "body: not a JSON object"}, status=400)
    if payload.get("type") == "url_verification":
        return JsonResponse({"challenge": str(payload.get("challenge", ""))})
    event_id = str(payload.get("event_id", ""))
    event = payload.get("event") or {}
    if not isinstance(event, dict) or not isinstance(event.get("item") or {}, dict):
        return JsonResponse({"error": "event: not a JSON object"}, status=400)
    if payload.get("type") != "event_callback" or not event_id:
        return HttpResponse(status=200)

    def run() -> HttpResponse:
        from .tasks import slack_reaction

        if event.get("type") == "reaction_added" and (event.get("item") or {}).get("type") == "message":
            item = event["item"]
            args = {
                "chat_user_id": str(event.get("user", "")),
                "room_id": str(item.get("channel", "")),
                "reaction": str(event.get("reaction", "")),
                "message_id": str(item.get("ts", "")),
                "message_author_id": str(event.get("item_user", "")),
            }
            transaction.on_commit(lambda: slack_reaction.delay(**args))
        return HttpResponse(status=200)

    # by event id: Slack's retries (X-Slack-Retry-Num) are signed anew but carry the same event
    return once(f"event:{event_id}", run)
