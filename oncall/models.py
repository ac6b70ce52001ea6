"""On-call schedules: layers of rotations, overrides, calendars, and the link from escalation policies.

The incidents app's models are not changed: a policy's schedule tiers, the contact a user is paged
through and the schedule a page came from are rows here that point at incidents' rows.
"""

import secrets
from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from incidents.models.notifications import validate_time_zone

from .constants import OverrideState, RotationLength, Weekday


def validate_weekdays(value) -> None:
    if not isinstance(value, list) or any(day not in Weekday.values for day in value):
        raise ValidationError("Weekdays are a list of numbers from 0 (Monday) to 6 (Sunday).")


class Schedule(models.Model):
    """Who is on call for one duty (the AI feature's engineers, its secondary), as layers and overrides."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="The zone the schedule page's timeline is drawn in.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Layer(models.Model):
    """A rotation of people with a handoff time, a length and a time zone, optionally restricted to windows.

    An imported layer takes its shifts from an iCalendar feed instead and is read-only here.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(max_length=120)
    priority = models.PositiveSmallIntegerField(
        default=1, help_text="Where layers overlap, the one with the higher number wins."
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    rotation_start = models.DateField(
        default=timezone.localdate, help_text="The day of the first handoff (local to the layer's zone)."
    )
    handoff_time = models.TimeField(default=time(9, 0), help_text="Local time of each handoff.")
    length = models.CharField(max_length=8, choices=RotationLength.choices, default=RotationLength.WEEKLY)
    interval = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Shift length in units of the length: days for daily, weeks for weekly, hours for custom.",
    )
    restrict_weekdays = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_weekdays],
        help_text="On call only in windows that start on these days; none means no restriction.",
    )
    restrict_start = models.TimeField(null=True, blank=True, help_text="Window opens (local time).")
    restrict_end = models.TimeField(
        null=True, blank=True, help_text="Window closes (local time); at or before the start means the next day."
    )
    ical_url = models.URLField(
        blank=True, max_length=500, help_text="Import this iCalendar feed as a read-only layer instead of a rotation."
    )
    ical_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    ical_error = models.TextField(blank=True, editable=False)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="LayerMember", related_name="+")

    class Meta:
        ordering = ["schedule", "-priority", "pk"]

    def __str__(self) -> str:
        return f"{self.schedule.name}: {self.name}"

    @property
    def is_imported(self) -> bool:
        return bool(self.ical_url)

    def clean(self):
        restricted = [bool(self.restrict_weekdays), self.restrict_start is not None, self.restrict_end is not None]
        if any(restricted) and not all(restricted):
            missing = [
                name
                for name, given in zip(["restrict_weekdays", "restrict_start", "restrict_end"], restricted, strict=True)
                if not given
            ]
            raise ValidationError({name: "A restriction needs days, a start and an end." for name in missing})


class LayerMember(models.Model):
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="layer_memberships")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["layer", "position"]
        constraints = [models.UniqueConstraint(fields=["layer", "position"], name="oncall_member_position_unique")]

    def __str__(self) -> str:
        return f"{self.layer}: #{self.position + 1}"


class ImportedShift(models.Model):
    """One event of an imported feed: replaced as a whole at each fetch."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="imported_shifts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    label = models.CharField(max_length=200, help_text="The event's summary, as the feed gave it.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["layer", "starts_at"]

    def __str__(self) -> str:
        return f"{self.label} {self.starts_at:%Y-%m-%d %H:%M}"


class Override(models.Model):
    """Someone on call from/to instead of whoever the layers say: holidays, swaps, cover.

    An override someone adds for their own shift hands it to another person, who must accept it first.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_overrides", verbose_name="on call"
    )
    replaces = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Whose shift this was, when someone handed over their own.",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200)
    state = models.CharField(max_length=16, choices=OverrideState.choices, default=OverrideState.ACTIVE, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["schedule", "state", "ends_at"])]

    def __str__(self) -> str:
        return f"{self.user} on {self.schedule} {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "An override ends after it starts."})


class PolicyTier(models.Model):
    """'Tier 1: the AI on-call schedule': a schedule an escalation policy pages at one of its tiers.

    Paged at send time: whoever the schedule puts on call at that moment, resolved again at each
    escalation. Roles on the policy keep paging their static contacts as before.
    """

    policy = models.ForeignKey("incidents.EscalationPolicy", on_delete=models.CASCADE, related_name="schedule_tiers")
    tier = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="policy_tiers")

    class Meta:
        ordering = ["policy", "tier", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "tier", "schedule"], name="oncall_policy_tier_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: tier {self.tier} {self.schedule}"

    def clean(self):
        if self.policy_id and self.tier and self.tier > self.policy.max_tier:
            raise ValidationError({"tier": f"The policy stops escalating after tier {self.policy.max_tier}."})


class OnCallContact(models.Model):
    """The stakeholder contact a user on call is paged through (created from their account on first use)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_contact")
    contact = models.ForeignKey("incidents.StakeholderContact", on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.user} paged through contact {self.contact_id}"


class SchedulePage(models.Model):
    """Which schedule put the paged person on call: escalation asks that schedule again."""

    page = models.OneToOneField("incidents.Page", on_delete=models.CASCADE, related_name="+")
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"page {self.page_id} from {self.schedule_id}"


def new_calendar_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarToken(models.Model):
    """The secret in a user's calendar URLs: anyone holding the URL reads the shifts, so it can be replaced."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_token")
    token = models.CharField(max_length=64, unique=True, default=new_calendar_token)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"calendar link of {self.user}"
