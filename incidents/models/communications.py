"""Communications: one message to one audience about one incident, drafted from a template.

draft -> pending_approval -> approved -> sent; cancelled from any state before sent. Anything that
leaves the company (affected users, the public status page, regulators) is approved by a holder of
`approve_communication` (Legal, Communications); an internal update may also be approved by the
commander (`approve_internal_communication`). Sending keeps a frozen copy of the exact subject,
body and recipients, so what was said stays on record even if nobody may edit it afterwards anyway.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from incidents.constants import Audience

EXTERNAL_AUDIENCES = frozenset({Audience.AFFECTED_USERS, Audience.PUBLIC, Audience.REGULATOR})
EMAIL_AUDIENCES = frozenset({Audience.INTERNAL, Audience.AFFECTED_USERS, Audience.REGULATOR})


class CommunicationState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"


class CommunicationTemplate(models.Model):
    """Subject and body for an audience, in Django template syntax over a few plain incident values.

    Available: {{ reference }}, {{ title }}, {{ feature }}, {{ severity }}, {{ category }},
    {{ status }}, {{ detected_at }}, {{ what_happened }}, {{ fix }} (the last two only for internal and
    regulator messages: a message to customers or the public never gets internal text). The result is Markdown.
    """

    audience = models.CharField(max_length=20, choices=Audience.choices, unique=True)
    subject = models.CharField(max_length=300)
    body = models.TextField(help_text="Markdown, with the placeholders listed above.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["audience"]

    def __str__(self) -> str:
        return f"Template: {self.get_audience_display()}"


def may_approve(instance: Communication, user) -> bool:
    """External text is approved by Legal or Communications; internal text by the commander too."""
    if user.has_perm("incidents.approve_communication"):
        return True
    return instance.audience == Audience.INTERNAL and user.has_perm("incidents.approve_internal_communication")


def has_subject_and_body(instance: Communication) -> bool:
    return bool(instance.subject.strip() and instance.body.strip())


def has_recipients_if_email(instance: Communication) -> bool:
    return instance.audience not in EMAIL_AUDIENCES or bool(instance.recipient_list)


class Communication(FSMModelMixin, models.Model):
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="communications")
    audience = models.CharField(max_length=20, choices=Audience.choices)
    state = FSMField(
        max_length=20,
        choices=CommunicationState.choices,
        default=CommunicationState.DRAFT,
        protected=True,
        db_index=True,
    )
    subject = models.CharField(max_length=300)
    body = models.TextField(help_text="Markdown.")
    recipients = models.TextField(
        blank=True, help_text="Email addresses, one per line (or comma-separated). None for the public status page."
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The frozen copy: exactly what went out, to whom.
    sent_subject = models.CharField(max_length=300, blank=True)
    sent_body = models.TextField(blank=True)
    sent_recipients = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["audience", "state"])]
        permissions = [
            ("approve_communication", "Can approve any communication, external ones included"),
            ("approve_internal_communication", "Can approve internal communications"),
            ("send_communication", "Can send approved communications"),
        ]

    def __str__(self) -> str:
        return f"{self.get_audience_display()} update on INC-{self.incident_id}"

    # Draft grey, waiting for a reviewer amber, ready blue, out the door green, withdrawn grey.
    STATE_COLOURS = {"draft": "grey", "pending_approval": "amber", "approved": "blue", "sent": "green"}

    @property
    def state_colour(self) -> str:
        return self.STATE_COLOURS.get(self.state, "grey")

    @property
    def is_external(self) -> bool:
        return self.audience in EXTERNAL_AUDIENCES

    @property
    def recipient_list(self) -> list[str]:
        raw = (self.recipients or "").replace(",", "\n").replace(";", "\n")
        seen: list[str] = []
        for line in raw.splitlines():
            address = line.strip()
            if address and address.lower() not in (s.lower() for s in seen):
                seen.append(address)
        return seen

    @transition(
        field=state,
        source=CommunicationState.DRAFT,
        target=CommunicationState.PENDING_APPROVAL,
        conditions=[has_subject_and_body, has_recipients_if_email],
        permission="incidents.change_communication",
    )
    def submit(self):
        self.submitted_at = timezone.now()

    @transition(
        field=state,
        source=CommunicationState.PENDING_APPROVAL,
        target=CommunicationState.DRAFT,
        permission=may_approve,
    )
    def send_back(self):
        self.submitted_at = None

    @transition(
        field=state,
        source=CommunicationState.PENDING_APPROVAL,
        target=CommunicationState.APPROVED,
        permission=may_approve,
    )
    def approve(self):
        self.approved_at = timezone.now()

    @transition(
        field=state,
        source=CommunicationState.APPROVED,
        target=CommunicationState.SENT,
        permission="incidents.send_communication",
    )
    def send(self):
        self.sent_at = timezone.now()
        self.sent_subject = self.subject
        self.sent_body = self.body
        self.sent_recipients = [] if self.audience == Audience.PUBLIC else self.recipient_list

    @transition(
        field=state,
        source=[CommunicationState.DRAFT, CommunicationState.PENDING_APPROVAL, CommunicationState.APPROVED],
        target=CommunicationState.CANCELLED,
        permission="incidents.change_communication",
    )
    def cancel(self):
        self.cancelled_at = timezone.now()
