"""Delivery channels: email through Django's email backends, Slack-compatible chat webhooks, and a
generic JSON webhook signed with HMAC-SHA256, each one `Sender` in one registry.

The registry is the list of channels: the outbox's channel choices, the kinds a contact's address can
have (`ContactChannel.kind`) and the channels an escalation policy may name all read it. A new channel is
one `Sender` subclass with `@register`; an app other than incidents registers its own from its
`AppConfig.ready()` (see `Sender`). Nothing here imports a model, so models can read the registry.

Each sender raises DeliveryError on failure; the outbox decides whether to retry. Each message carries
the notification's dedup key (Message-ID, Idempotency-Key) so a receiver can drop the rare duplicate
that a worker crash between "sent" and "marked sent" can cause.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import ClassVar

import httpx
from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.mail import EmailMessage
from django.core.validators import URLValidator

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


class Sender:
    """One way to deliver an outbox row.

    `kind` is the value stored in `Notification.channel` and `ContactChannel.kind` (16 characters at most;
    never change it once rows use it), `label` is what people see. `address_field` is the form field an
    address of this kind is typed into and checked with; a sender without one (None) is addressed by
    Fireline itself (a flag system's or a subscriber's URL) and is not offered for contacts or policies.
    `send(notification)` delivers `notification.recipient` or raises DeliveryError.

    Another app adds a channel without editing incidents: define the sender in a module of its own
    (say chatops/senders.py) and import that module from the app's AppConfig.ready(). The choices are read
    when they are used, so no migration follows; rows of a kind whose app is removed stay, undelivered.

        from django import forms
        from incidents.channels import DeliveryError, Sender, register

        @register
        class PagerSender(Sender):
            kind = "pager"
            label = "Pager (SMS)"
            address_field = forms.RegexField(r"^\\+[1-9][0-9]{6,14}$")

            def send(self, notification):
                ...  # raise DeliveryError when it was not delivered
    """

    kind: ClassVar[str]
    label: ClassVar[str]
    address_field: ClassVar[forms.Field | None] = None

    @property
    def short_label(self) -> str:
        return self.label.split(" ")[0]

    @property
    def is_contact_channel(self) -> bool:
        return self.address_field is not None

    def clean_address(self, value: str) -> str:
        """The address as stored, or ValidationError with the field's own message."""
        if self.address_field is None:
            raise ValidationError(f"{self.label} is not a channel a contact can be reached on.")
        return str(self.address_field.clean(value))

    def send(self, notification) -> None:
        raise NotImplementedError


_senders: dict[str, Sender] = {}


def register(cls: type[Sender]) -> type[Sender]:
    """Class decorator: make `cls` a channel. A kind registered twice is a programming error."""
    kind = getattr(cls, "kind", "")
    if not kind or len(kind) > 16:
        raise ImproperlyConfigured(f"{cls.__name__}.kind must be 1 to 16 characters, got {kind!r}.")
    if kind in _senders and type(_senders[kind]) is not cls:
        raise ImproperlyConfigured(f"Channel {kind!r} is registered already by {type(_senders[kind]).__name__}.")
    _senders[kind] = cls()
    return cls


def unregister(kind: str) -> None:
    """Remove a channel (tests that register their own). Rows of that kind stay and are not delivered."""
    _senders.pop(kind, None)


def sender_for(kind: str) -> Sender | None:
    return _senders.get(kind)


def senders() -> list[Sender]:
    return list(_senders.values())


def contact_senders() -> list[Sender]:
    return [sender for sender in _senders.values() if sender.is_contact_channel]


def channel_choices() -> list[tuple[str, str]]:
    """Every channel an outbox row can use (Notification.channel)."""
    return [(sender.kind, sender.label) for sender in _senders.values()]


def contact_channel_choices() -> list[tuple[str, str]]:
    """The channels a contact can be reached on (ContactChannel.kind, EscalationPolicy.channels)."""
    return [(sender.kind, sender.label) for sender in contact_senders()]


def channel_label(kind: str, *, short: bool = False) -> str:
    sender = _senders.get(kind)
    if sender is None:
        return kind
    return sender.short_label if short else sender.label


class _ContactKinds:
    """The contact channel kinds in the shape ChoiceListValidator reads: an object with `.values`."""

    @property
    def values(self) -> list[str]:
        return [sender.kind for sender in contact_senders()]


CONTACT_KINDS = _ContactKinds()


def _web_address_field() -> forms.URLField:
    return forms.URLField(
        max_length=500,
        assume_scheme="https",
        validators=[
            URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.", code="scheme")
        ],
    )


@register
class EmailSender(Sender):
    kind = Channel.EMAIL.value
    label = Channel.EMAIL.label
    address_field = forms.EmailField(max_length=254)

    def send(self, notification) -> None:
        send_email(notification)


@register
class ChatSender(Sender):
    kind = Channel.CHAT.value
    label = Channel.CHAT.label
    address_field = _web_address_field()

    def send(self, notification) -> None:
        send_chat(notification)


@register
class WebhookSender(Sender):
    kind = Channel.WEBHOOK.value
    label = Channel.WEBHOOK.label
    address_field = _web_address_field()

    def send(self, notification) -> None:
        send_webhook(notification)


@register
class FlagWebhookSender(Sender):
    kind = Channel.FLAG.value
    label = Channel.FLAG.label

    def send(self, notification) -> None:
        send_flag_webhook(notification)


@register
class EventWebhookSender(Sender):
    kind = Channel.EVENT.value
    label = Channel.EVENT.label

    def send(self, notification) -> None:
        send_event_webhook(notification)


def deliver(notification) -> None:
    sender = _senders.get(notification.channel)
    if sender is None:
        raise DeliveryError(f"No sender is registered for the {notification.channel!r} channel.")
    sender.send(notification)
