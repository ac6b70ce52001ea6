"""Stakeholder contacts, escalation policies, pages and the notification outbox."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from incidents import channels as channel_registry
from incidents.constants import ContactState, NotificationState, PageState, Severity, StakeholderRole
from incidents.models.triage import ChoiceListValidator


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a time zone name such as Europe/Berlin.") from exc


class StakeholderContact(FSMModelMixin, models.Model):
    """Someone Fireline pages: leadership, legal, PR, on-call, privacy officer, and the rest.

    A verification older than a quarter makes the contact stale (a beat task asks again), because an
    escalation path with a wrong phone number fails on the night it is needed.
    """

    name = models.CharField(max_length=120)
    role = models.CharField(max_length=32, choices=StakeholderRole.choices, db_index=True)
    team = models.CharField(max_length=120, blank=True)
    phone = models.CharField(max_length=40, blank=True, help_text="Kept for the record; Fireline does not call.")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    escalation_tier = models.PositiveSmallIntegerField(
        default=1, help_text="1 is paged first; higher tiers when a page goes unacknowledged."
    )
    backup_contact = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="backup_for",
        help_text="Paged too when this contact does not acknowledge in time.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        help_text="The Fireline account of this person, if any (drills page members through it).",
    )
    state = FSMField(max_length=16, choices=ContactState.choices, default=ContactState.UNVERIFIED, protected=True)
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    verification_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["role", "escalation_tier", "name"]
        permissions = [("retire_stakeholdercontact", "Can retire stakeholder contacts")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()}, tier {self.escalation_tier})"

    def clean(self):
        # "At least one channel Fireline can reach" is checked on the channel rows (the admin's inline
        # formset, ContactChannelFormSet): the contact is saved before its rows exist.
        if self.backup_contact_id and self.backup_contact_id == self.pk:
            raise ValidationError({"backup_contact": "A contact cannot be their own backup."})

    def _addresses(self) -> dict[str, str]:
        """The first address of each registered contact channel, in registry order (email first).

        Reads the prefetched rows when the queryset has `prefetch_related("channel_rows")`.
        """
        rows = sorted(self.channel_rows.all(), key=lambda row: row.pk or 0) if self.pk else []
        first: dict[str, str] = {}
        for row in rows:
            first.setdefault(row.kind, row.address)
        kinds = [sender.kind for sender in channel_registry.contact_senders()]
        return {kind: first[kind] for kind in kinds if first.get(kind)}

    def channels(self) -> list[str]:
        """The kinds this contact can be reached on, email first when there is one."""
        return list(self._addresses())

    def address(self, channel: str) -> str:
        """The contact's address on `channel`; "" when the contact has none there."""
        return self._addresses().get(channel, "")

    def add_address(self, kind: str, address: str, *, verified_at=None) -> "ContactChannel":
        """Checked and saved: ValidationError names the field (kind or address) that is wrong."""
        row = ContactChannel(contact=self, kind=kind, address=address, verified_at=verified_at)
        row.full_clean()
        row.save()
        return row

    @transition(
        field=state,
        source=[ContactState.UNVERIFIED, ContactState.VERIFIED, ContactState.STALE],
        target=ContactState.VERIFIED,
    )
    def verify(self):
        self.verified_at = timezone.now()

    @transition(field=state, source=ContactState.VERIFIED, target=ContactState.STALE)
    def mark_stale(self):
        pass

    @transition(
        field=state,
        source=[ContactState.UNVERIFIED, ContactState.VERIFIED, ContactState.STALE],
        target=ContactState.RETIRED,
        permission="incidents.retire_stakeholdercontact",
    )
    def retire(self):
        self.retired_at = timezone.now()


class ContactChannel(models.Model):
    """One address a contact is reached on: an email, a chat webhook, a JSON webhook, or a channel another
    app registered (incidents.channels). The contact's verified state stays on the contact; `verified_at`
    records when this address was confirmed, and an edited address is unconfirmed again."""

    contact = models.ForeignKey(StakeholderContact, on_delete=models.CASCADE, related_name="channel_rows")
    kind = models.CharField(max_length=16, choices=channel_registry.contact_channel_choices)
    address = models.CharField(max_length=500)
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "kind", "address"],
                name="unique_contact_channel_address",
                violation_error_message="This contact has this address on this channel already.",
            )
        ]

    def __str__(self) -> str:
        return f"{channel_registry.channel_label(self.kind, short=True)}: {self.address}"

    def clean(self):
        sender = channel_registry.sender_for(self.kind)
        if sender is None or not sender.is_contact_channel or not self.address:
            return  # the field's own check (a choice, required) reports it
        try:
            self.address = sender.clean_address(self.address)
        except ValidationError as exc:
            raise ValidationError({"address": exc.messages}) from exc


class EscalationPolicy(models.Model):
    """Who is paged for a severity, on which channels, and how long they have to acknowledge."""

    severity = models.CharField(max_length=4, choices=Severity.choices, unique=True)
    roles = models.JSONField(
        default=list, validators=[ChoiceListValidator("incidents.constants.StakeholderRole", "Roles")]
    )
    channels = models.JSONField(
        default=list, validators=[ChoiceListValidator("incidents.channels.CONTACT_KINDS", "Channels")]
    )
    ack_timeout_minutes = models.PositiveIntegerField(default=15)
    max_tier = models.PositiveSmallIntegerField(default=3, help_text="Escalation stops after this tier.")
    notify_states = models.JSONField(
        default=list,
        blank=True,
        validators=[ChoiceListValidator("incidents.constants.IncidentState", "Incident states")],
        help_text="State changes that send an update to the same roles (not a page).",
    )

    class Meta:
        ordering = ["severity"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return f"{self.severity} escalation"


class Page(FSMModelMixin, models.Model):
    """One contact paged about one incident: acknowledged in time, or escalated to the next tier."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="pages")
    contact = models.ForeignKey(StakeholderContact, on_delete=models.PROTECT, related_name="pages")
    tier = models.PositiveSmallIntegerField(default=1)
    reason = models.CharField(max_length=200)
    dedup_key = models.CharField(max_length=200, unique=True)
    state = FSMField(max_length=16, choices=PageState.choices, default=PageState.PENDING, protected=True, db_index=True)
    ack_due_at = models.DateTimeField(db_index=True)
    escalated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="escalations"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_via = models.CharField(max_length=16, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("acknowledge_page", "Can acknowledge pages")]

    def __str__(self) -> str:
        return f"Page to {self.contact.name} about INC-{self.incident_id}" if self.contact_id else "page"

    @transition(field=state, source=PageState.PENDING, target=PageState.SENT)
    def mark_sent(self):
        self.sent_at = timezone.now()

    @transition(
        field=state, source=[PageState.PENDING, PageState.SENT, PageState.FAILED], target=PageState.ACKNOWLEDGED
    )
    def acknowledge(self):
        self.acknowledged_at = timezone.now()

    @transition(field=state, source=[PageState.PENDING, PageState.SENT, PageState.FAILED], target=PageState.ESCALATED)
    def escalate(self):
        self.escalated_at = timezone.now()

    @transition(field=state, source=PageState.PENDING, target=PageState.FAILED)
    def fail(self):
        pass

    @transition(field=state, source=[PageState.PENDING, PageState.SENT, PageState.FAILED], target=PageState.CANCELLED)
    def cancel(self):
        """No answer needed any more (the incident is closing): nobody is escalated to for it."""


class Notification(FSMModelMixin, models.Model):
    """The outbox: a message is a row before it is a message.

    Written in the transaction of the change that caused it, queued on commit, delivered by a task that
    claims the row first, and re-queued by a sweep when a broker message is lost. The dedup key makes
    writing the same notification twice a no-op.
    """

    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    page = models.ForeignKey(Page, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    contact = models.ForeignKey(
        StakeholderContact, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    channel = models.CharField(max_length=16, choices=channel_registry.channel_choices)
    recipient = models.CharField(max_length=500)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    dedup_key = models.CharField(max_length=250, unique=True)
    state = FSMField(
        max_length=16,
        choices=NotificationState.choices,
        default=NotificationState.PENDING,
        protected=True,
        db_index=True,
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient}: {self.subject}"

    @transition(field=state, source=NotificationState.PENDING, target=NotificationState.SENT)
    def mark_sent(self):
        self.sent_at = timezone.now()
        self.claimed_until = None

    @transition(field=state, source=NotificationState.SENT, target=NotificationState.ACKNOWLEDGED)
    def acknowledge(self):
        pass

    @transition(field=state, source=NotificationState.PENDING, target=NotificationState.FAILED)
    def fail(self):
        self.claimed_until = None
