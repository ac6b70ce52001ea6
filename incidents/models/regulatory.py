"""Regulatory regimes, reportability decisions, obligations with deadlines, and their reminders.

The rules are data (edited by Legal in the admin); the arithmetic and the legal source of every
seeded rule live in `incidents.deadlines`. An obligation copies its deadline when it is created:
editing a rule later never moves a clock that is already running.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import holidays
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from incidents import deadlines
from incidents.deadlines import ClockFrom, ClockStart, OpensOn, ReportRecipient, Unit

from .notifications import validate_time_zone


class DecisionState(models.TextChoices):
    PROPOSED = "proposed", "Proposed (Legal to confirm)"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"


class ObligationState(models.TextChoices):
    OPEN = "open", "Open"
    SUBMITTED = "submitted", "Submitted"
    WAIVED = "waived", "Waived"


def validate_percentages(value) -> None:
    if not isinstance(value, list) or not all(isinstance(v, int | float) and 0 < v < 100 for v in value):
        raise ValidationError("Give a list of percentages between 0 and 100, such as [50, 80].")


def validate_hours(value) -> None:
    if not isinstance(value, list) or not all(isinstance(v, int | float) and v > 0 for v in value):
        raise ValidationError("Give a list of positive numbers of hours, such as [24].")


def default_reminder_percentages() -> list:
    return list(deadlines.DEFAULT_REMINDER_PERCENTAGES)


def default_reminder_hours_before() -> list:
    return list(deadlines.DEFAULT_REMINDER_HOURS_BEFORE)


class Regime(models.Model):
    """A law or rule that can make an incident reportable: who must be told, and what starts the clock."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    citation = models.CharField(max_length=300, help_text="The instrument and article, e.g. AI Act Art. 73.")
    clock_start = models.CharField(max_length=16, choices=ClockStart.choices, default=ClockStart.AWARENESS)
    clock_start_note = models.TextField(blank=True, help_text="What exactly starts the clock, in the law's words.")
    audience = models.CharField(max_length=16, choices=ReportRecipient.choices, default=ReportRecipient.AUTHORITY)
    recipient = models.CharField(max_length=300, blank=True, help_text="Who receives the report.")
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="Calendar and business days are counted on this zone's wall clock.",
    )
    is_active = models.BooleanField(default=True, help_text="Inactive regimes are not offered for new decisions.")
    report_marking = models.CharField(
        max_length=200,
        blank=True,
        help_text="Classification marking printed on this regime's reports (set by Legal). "
        "Empty: the organisation profile's regulator marking.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DeadlineRule(models.Model):
    """One deadline of a regime: a count in a unit from the clock start, with its legal source."""

    regime = models.ForeignKey(Regime, on_delete=models.CASCADE, related_name="rules")
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=200)
    citation = models.TextField(help_text="The article and paragraph, and what it says about the time limit.")
    count = models.PositiveIntegerField()
    unit = models.CharField(max_length=16, choices=Unit.choices)
    holiday_country = models.CharField(
        max_length=8, blank=True, help_text="Business days: the public-holiday calendar (ISO country, e.g. US)."
    )
    holiday_subdivision = models.CharField(max_length=16, blank=True, help_text="Business days: e.g. a state code.")
    due_local_time = models.TimeField(
        null=True,
        blank=True,
        help_text="Day-based rules: due at this local time on the last day (e.g. a filing cut-off). "
        "Empty: the clock start's wall time.",
    )
    is_target = models.BooleanField(
        "internal target?",
        default=False,
        help_text="The law sets no number (e.g. 'without undue delay'): this is our own target, not a legal deadline.",
    )
    is_variant = models.BooleanField(default=False, help_text="Applies only when the reportability decision picks it.")
    replaces_default = models.BooleanField(
        default=False, help_text="A chosen variant takes the place of the regime's standard rules."
    )
    condition = models.TextField(blank=True, help_text="Variants: when this variant applies.")
    after = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followers",
        help_text="The report this one follows (e.g. NIS2's final report follows the incident notification). "
        "Empty for a follow-up: it follows any report of the regime.",
    )
    opens_on = models.CharField(
        max_length=16,
        choices=OpensOn.choices,
        default=OpensOn.DECISION,
        help_text="When this report becomes owed: with the decision, or after something happens to an earlier one.",
    )
    clock_from = models.CharField(
        max_length=16, choices=ClockFrom.choices, default=ClockFrom.TRIGGER, help_text="What the count runs from."
    )
    clock_event = models.CharField(
        max_length=200,
        blank=True,
        help_text="Clock from an event: the event, in the law's words (e.g. 'the information is determined').",
    )
    recipient = models.CharField(
        max_length=300, blank=True, help_text="Who receives this report, when not the regime's recipient."
    )
    reminder_percentages = models.JSONField(
        default=default_reminder_percentages,
        blank=True,
        validators=[validate_percentages],
        help_text="Remind when this share of the window has passed, e.g. [50, 80].",
    )
    reminder_hours_before = models.JSONField(
        default=default_reminder_hours_before,
        blank=True,
        validators=[validate_hours],
        help_text="Remind this many hours before the deadline, e.g. [24].",
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["regime__name", "order", "pk"]
        constraints = [models.UniqueConstraint(fields=["regime", "code"], name="deadline_rule_unique_code")]

    def __str__(self) -> str:
        return f"{self.regime.code}: {self.name}"

    def clean(self):
        if self.unit == Unit.BUSINESS_DAYS:
            supported = holidays.list_supported_countries()
            if self.holiday_country not in supported:
                raise ValidationError({"holiday_country": "Business days need a supported country code, e.g. US."})
            if self.holiday_subdivision and self.holiday_subdivision not in supported[self.holiday_country]:
                raise ValidationError({"holiday_subdivision": "Not a subdivision of that country."})
        if self.replaces_default and not self.is_variant:
            raise ValidationError({"replaces_default": "Only a variant can replace the standard rules."})
        if self.after_id and self.after_id == self.pk:
            raise ValidationError({"after": "A rule cannot start after itself."})
        if self.clock_from == ClockFrom.PREDECESSOR and not self.after_id and self.opens_on == OpensOn.DECISION:
            raise ValidationError({"after": "Name the report whose submission starts this clock."})
        if self.clock_from == ClockFrom.EVENT and not self.clock_event.strip():
            raise ValidationError({"clock_event": "Say which event starts this clock."})

    def deadline_from(self, start: datetime) -> datetime:
        return deadlines.compute_deadline(
            start=start,
            count=self.count,
            unit=self.unit,
            time_zone=self.regime.time_zone,
            holiday_country=self.holiday_country,
            holiday_subdivision=self.holiday_subdivision,
            due_local_time=self.due_local_time,
        )

    @property
    def has_deadline(self) -> bool:
        return self.clock_from != ClockFrom.NONE

    @property
    def summary(self) -> str:
        if self.clock_from == ClockFrom.NONE:
            return f"No deadline: a voluntary report; {self.citation}"
        if self.clock_from == ClockFrom.REQUEST:
            return f"The deadline the authority sets in its request; {self.citation}"
        units = {Unit.HOURS: "hour", Unit.CALENDAR_DAYS: "calendar day", Unit.BUSINESS_DAYS: "business day"}
        unit = units.get(self.unit, "calendar month")
        unit = unit if self.count == 1 else unit + "s"
        if self.clock_from == ClockFrom.PREDECESSOR:
            start = (
                f"the submission of '{self.after.name}'" if self.after_id else "the submission of the earlier report"
            )
        elif self.clock_from == ClockFrom.EVENT:
            start = self.clock_event
        else:
            start = self.regime.get_clock_start_display().lower()
        kind = "internal target" if self.is_target else "deadline"
        return f"{self.count} {unit} from {start} ({kind}); {self.citation}"

    @property
    def recipient_text(self) -> str:
        return self.recipient or self.regime.recipient


# Each clock start kind and the decision's fields holding its instant and its evidence.
TRIGGER_FIELDS = {
    ClockStart.AWARENESS: ("aware_at", "aware_evidence"),
    ClockStart.DISCOVERY: ("discovered_at", "discovery_evidence"),
    ClockStart.MATERIALITY: ("materiality_at", "materiality_evidence"),
}


class ReportabilityDecision(ConcurrentTransitionMixin, models.Model):
    """Which regimes an incident falls under, who decided, when and why, and when the clock started.

    A privacy incident gets a *proposed* decision from Fireline (GDPR Art. 33 and 34) whose
    obligations are open at once, because the 72 hours run from awareness and not from Legal's
    confirmation. Legal confirms it, or rejects it with a reason, which waives its open obligations.
    """

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="reportability")
    state = FSMField(
        max_length=16, choices=DecisionState.choices, default=DecisionState.CONFIRMED, protected=True, db_index=True
    )
    regimes = models.ManyToManyField(Regime, related_name="decisions")
    variants = models.ManyToManyField(DeadlineRule, blank=True, related_name="decisions")
    reason = models.TextField(help_text="Why these regimes apply (or why a proposal was made).")
    clock_started_at = models.DateTimeField(
        help_text="The earliest of the decision's triggers (each regime's clock starts at its own trigger)."
    )
    aware_at = models.DateTimeField(
        null=True, blank=True, help_text="Awareness of the incident (AI Act Art. 73, GDPR Art. 33, NIS2 Art. 23)."
    )
    aware_evidence = models.TextField(blank=True, help_text="What shows when the organisation became aware.")
    discovered_at = models.DateTimeField(
        null=True, blank=True, help_text="Discovery of the incident (California SB 53)."
    )
    discovery_evidence = models.TextField(blank=True)
    materiality_at = models.DateTimeField(
        null=True, blank=True, help_text="Determination that the incident is material (SEC Form 8-K Item 1.05)."
    )
    materiality_evidence = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        permissions = [("confirm_reportabilitydecision", "Can confirm or reject proposed reportability decisions")]

    def __str__(self) -> str:
        return f"Reportability of INC-{self.incident_id} ({self.get_state_display().lower()})"

    def trigger(self, kind: str) -> tuple[datetime | None, str]:
        """The instant and evidence of one trigger (awareness, discovery, materiality)."""
        at_field, evidence_field = TRIGGER_FIELDS[kind]
        return getattr(self, at_field), getattr(self, evidence_field)

    def triggers(self) -> list[tuple[str, datetime, str]]:
        """(label, instant, evidence) of each trigger recorded, in time order."""
        labels = dict(ClockStart.choices)
        rows = [(labels[kind], *self.trigger(kind)) for kind in TRIGGER_FIELDS]
        return sorted((row for row in rows if row[1] is not None), key=lambda row: row[1])

    @transition(
        field=state,
        source=DecisionState.PROPOSED,
        target=DecisionState.CONFIRMED,
        permission="incidents.confirm_reportabilitydecision",
    )
    def confirm(self):
        self.reviewed_at = timezone.now()

    @transition(
        field=state,
        source=DecisionState.PROPOSED,
        target=DecisionState.REJECTED,
        permission="incidents.confirm_reportabilitydecision",
    )
    def reject(self):
        self.reviewed_at = timezone.now()


def has_waive_reason(obligation) -> bool:
    return bool((obligation.waive_reason or "").strip())


has_waive_reason.failure = "Give the reason the obligation does not apply or was met otherwise."


class RegulatoryObligation(ConcurrentTransitionMixin, models.Model):
    """One report owed to one audience under one rule, with its deadline: open -> submitted | waived."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="regulatory_obligations")
    decision = models.ForeignKey(ReportabilityDecision, on_delete=models.CASCADE, related_name="obligations")
    rule = models.ForeignKey(DeadlineRule, on_delete=models.PROTECT, related_name="obligations")
    state = FSMField(
        max_length=16, choices=ObligationState.choices, default=ObligationState.OPEN, protected=True, db_index=True
    )
    clock_started_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty while the clock waits for an earlier report to be submitted."
    )
    clock_basis = models.TextField(blank=True, help_text="What started the clock, when, and the evidence.")
    deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    sequence = models.PositiveSmallIntegerField(
        default=1, help_text="The n-th report under this rule (GDPR phases, SEC amendments can repeat)."
    )
    follows = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="next_steps",
        help_text="The earlier report of the chain that this one follows.",
    )
    requested_by = models.CharField(max_length=300, blank=True, help_text="The authority that asked for it.")
    requested_at = models.DateTimeField(null=True, blank=True)
    is_incomplete = models.BooleanField(
        "incomplete?", default=False, help_text="Sent incomplete: the information still missing follows later."
    )
    is_ongoing = models.BooleanField(
        "incident still ongoing?", default=False, help_text="Sent while the incident was still ongoing."
    )
    is_target = models.BooleanField(default=False, help_text="An internal target, not a legal deadline.")
    rule_summary = models.TextField(help_text="The rule as it read when the obligation was created.")
    recipient = models.CharField(max_length=300, blank=True)

    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_to = models.CharField(max_length=300, blank=True)
    submission_reference = models.CharField(max_length=300, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    report_file = models.FileField(
        upload_to="regulatory/%Y/%m/", blank=True, help_text="The exact document sent, kept as sent."
    )
    report_sha256 = models.CharField(max_length=64, blank=True)

    waived_at = models.DateTimeField(null=True, blank=True)
    waived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    waive_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["deadline", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "rule", "sequence"], name="obligation_unique_rule_step")
        ]
        permissions = [
            ("submit_regulatoryobligation", "Can record a regulatory report as submitted"),
            ("waive_regulatoryobligation", "Can waive a regulatory obligation (Legal)"),
        ]

    def __str__(self) -> str:
        if not self.rule_id:
            return "obligation"
        return f"INC-{self.incident_id}: {self.step_name}"

    @property
    def step_name(self) -> str:
        """The rule's name, numbered when the rule repeats (GDPR's second phase, a second 8-K/A)."""
        return self.rule.name if self.sequence == 1 else f"{self.rule.name} ({self.sequence})"

    @property
    def submitted_as(self) -> str:
        """What the report was when sent (NIS2 Art. 23(4)(e): a final report sent mid-incident is a progress report)."""
        if self.is_ongoing:
            return "progress report (incident still ongoing)"
        if self.is_incomplete:
            return "incomplete report (information to follow)"
        return ""

    @property
    def is_open(self) -> bool:
        return self.state == ObligationState.OPEN

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.is_open and self.deadline is not None and self.deadline <= (now or timezone.now())

    def time_left(self, now: datetime | None = None) -> timedelta | None:
        if self.deadline is None:
            return None
        return self.deadline - (now or timezone.now())

    @transition(
        field=state,
        source=ObligationState.OPEN,
        target=ObligationState.SUBMITTED,
        permission="incidents.submit_regulatoryobligation",
    )
    def submit(self):
        self.submitted_at = self.submitted_at or timezone.now()

    @transition(
        field=state,
        source=ObligationState.OPEN,
        target=ObligationState.WAIVED,
        conditions=[has_waive_reason],
        permission="incidents.waive_regulatoryobligation",
    )
    def waive(self):
        self.waived_at = timezone.now()


class RegulatoryReminder(models.Model):
    """A reminder point of an obligation, as a row with a due time: the beat task sends each once."""

    class Outcome(models.TextChoices):
        PENDING = "", "Pending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped (a later point was due at the same time)"

    obligation = models.ForeignKey(RegulatoryObligation, on_delete=models.CASCADE, related_name="reminders")
    key = models.CharField(max_length=32)
    label = models.CharField(max_length=100)
    due_at = models.DateTimeField(db_index=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True, default="")

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["obligation", "key"], name="reminder_unique_point")]

    def __str__(self) -> str:
        return f"{self.obligation}: {self.label}"
