"""Delivery channels: email through Django's email backends, Slack-compatible chat webhooks, and a
generic JSON webhook signed with HMAC-SHA256.

Each sender raises DeliveryError on failure; the outbox decides whether to retry. Each message carries
the notification's dedup key (Message-ID, Idempotency-Key) so a receiver can drop the rare duplicate
that a worker crash between "sent" and "marked sent" can cause.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
from django.conf import settings
from django.core.mail import EmailMessage

from incidents.constants import Channel


class DeliveryError(Exception):
    pass


def feature_webhook_secret(feature_key: str) -> str:
    """Per-feature signing key derived from the install's webhook secret; nothing secret is stored."""
    return hmac.new(
        settings.FIRELINE_WEBHOOK_SECRET.encode(), f"flag:{feature_key}".encode(), hashlib.sha256
    ).hexdigest()


def _message_id(dedup_key: str) -> str:
    digest = hashlib.sha256(dedup_key.encode()).hexdigest()[:32]
    return f"<{digest}@fireline>"


def send_email(notification) -> None:
    message = EmailMessage(
        subject=notification.subject,
        body=notification.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        headers={"Message-ID": _message_id(notification.dedup_key), "X-Fireline-Dedup-Key": notification.dedup_key},
    )
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # SMTP, socket and backend errors all mean "not delivered"
        raise DeliveryError(f"email to {notification.recipient}: {exc.__class__.__name__}: {exc}") from exc


def _post(url: str, content: bytes, headers: dict) -> None:
    try:
        response = httpx.post(
            url,
            content=content,
            headers={"Content-Type": "application/json", **headers},
            timeout=10.0,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise DeliveryError(f"POST {url}: {exc.__class__.__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise DeliveryError(f"POST {url}: HTTP {response.status_code}")


def send_chat(notification) -> None:
    text = f"*{notification.subject}*\n{notification.body}"
    _post(notification.recipient, json.dumps({"text": text}).encode(), {"Idempotency-Key": notification.dedup_key})


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """sha256=HEX(HMAC-SHA256(secret, timestamp + "." + body)); the timestamp stops replays."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def send_webhook(notification) -> None:
    payload = {
        "id": notification.pk,
        "dedup_key": notification.dedup_key,
        "subject": notification.subject,
        "body": notification.body,
        "incident_id": notification.incident_id,
        "page_id": notification.page_id,
    }
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    _post(
        notification.recipient,
        body,
        {
            "X-Fireline-Timestamp": timestamp,
            "X-Fireline-Signature": webhook_signature(settings.FIRELINE_WEBHOOK_SECRET, timestamp, body),
            "Idempotency-Key": notification.dedup_key,
        },
    )


def send_flag_webhook(notification) -> None:
    """A kill-switch change to the team's own flag system, signed with the feature's own key."""

    body = notification.body.encode()
    feature_key = json.loads(body)["feature"]
    timestamp = str(int(time.time()))
    _post(
        notification.recipient,
        body,
        {
            "X-Fireline-Timestamp": timestamp,
            "X-Fireline-Signature": webhook_signature(feature_webhook_secret(feature_key), timestamp, body),
            "Idempotency-Key": notification.dedup_key,
        },
    )


def event_webhook_secret(subscription_id: int) -> str:
    """Per-subscription signing key derived from the install's webhook secret; nothing secret is stored."""
    return hmac.new(
        settings.FIRELINE_WEBHOOK_SECRET.encode(), f"events:{subscription_id}".encode(), hashlib.sha256
    ).hexdigest()


def send_event_webhook(notification) -> None:
    """An incident lifecycle event to a subscriber, signed with that subscription's own key."""
    body = notification.body.encode()
    subscription_id = json.loads(body)["subscription"]
    timestamp = str(int(time.time()))
    _post(
        notification.recipient,
        body,
        {
            "X-Fireline-Event": notification.subject,
            "X-Fireline-Timestamp": timestamp,
            "X-Fireline-Signature": webhook_signature(event_webhook_secret(subscription_id), timestamp, body),
            "Idempotency-Key": notification.dedup_key,
        },
    )


SENDERS = {
    Channel.EMAIL: send_email,
    Channel.CHAT: send_chat,
    Channel.WEBHOOK: send_webhook,
    Channel.FLAG: send_flag_webhook,
    Channel.EVENT: send_event_webhook,
}


def deliver(notification) -> None:
    SENDERS[notification.channel](notification)
