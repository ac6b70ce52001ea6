"""Fire drills: scenarios, the quarterly policy, and the drills run on the real incident workflow."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from incidents.constants import Category, Severity
from incidents.models.notifications import validate_time_zone

from .constants import DrillState, Step

S = DrillState


class Scenario(models.Model):
    """A rehearsal: what went wrong (hypothetically), what happens when, and what the team should do."""

    name = models.CharField(max_length=200, unique=True)
    category = models.CharField(max_length=32, choices=Category.choices)
    feature = models.ForeignKey(
        "incidents.AIFeature",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="drill_scenarios",
        help_text="The AI feature it concerns; empty to use the drill policy's feature.",
    )
    bad_output = models.TextField(help_text="The hypothetical bad output users saw (Markdown).")
    briefing = models.TextField(blank=True, help_text="What the participants are told at the start (Markdown).")
    users_affected = models.PositiveIntegerField(default=0, help_text="Feeds the triage matrix of the drill incident.")
    is_public = models.BooleanField("public?", default=False, help_text="Does the scenario have outside attention?")
    severity_override = models.CharField(
        max_length=4, choices=Severity.choices, blank=True, help_text="Leave empty to let the triage matrix decide."
    )
    target_detect_minutes = models.PositiveSmallIntegerField(default=5)
    target_triage_minutes = models.PositiveSmallIntegerField(default=15)
    target_contain_minutes = models.PositiveSmallIntegerField(default=30)
    target_investigate_minutes = models.PositiveSmallIntegerField(default=45)
    target_fix_minutes = models.PositiveSmallIntegerField(default=120)
    target_communicate_minutes = models.PositiveSmallIntegerField(default=60)
    is_active = models.BooleanField("active?", default=True, help_text="Inactive scenarios are not proposed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "name"]

    def __str__(self) -> str:
        return self.name

    def target_minutes(self, step: str) -> int:
        return getattr(self, f"target_{step}_minutes")

    @property
    def targets(self) -> dict[str, int]:
        return {step: self.target_minutes(step) for step in Step.values}


class ScenarioInject(models.Model):
    """Something that happens during the drill at a given minute: "a journalist asks"."""

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="injects")
    minute = models.PositiveSmallIntegerField(help_text="Minutes after the drill starts.")
    text = models.TextField(help_text="What happens (Markdown).")

    class Meta:
        ordering = ["minute", "id"]

    def __str__(self) -> str:
        return f"+{self.minute} min: {self.text[:60]}"


class ScenarioExpectedAction(models.Model):
    """An action the team is expected to take; the facilitator ticks it in the debrief."""

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="expected_actions")
    text = models.CharField(max_length=300)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class DrillPolicy(models.Model):
    """A team or an AI feature that rehearses once a quarter."""

    team = models.CharField(max_length=120, blank=True, help_text="A team name; or choose an AI feature.")
    feature = models.ForeignKey(
        "incidents.AIFeature", null=True, blank=True, on_delete=models.CASCADE, related_name="drill_policies"
    )
    scenario = models.ForeignKey(
        Scenario,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty to rotate through the active scenarios, one per quarter.",
    )
    facilitator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="drill_policies")
    participants = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", help_text="Proposed as the drill's participants."
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone], help_text="Quarters follow this calendar."
    )
    is_active = models.BooleanField("active?", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "feature__name"]
        verbose_name_plural = "drill policies"
        constraints = [
            models.CheckConstraint(
                condition=(Q(team="") & Q(feature__isnull=False)) | (~Q(team="") & Q(feature__isnull=True)),
                name="drillpolicy_team_xor_feature",
            ),
        ]

    def __str__(self) -> str:
        return f"Drill policy: {self.subject}"

    @property
    def subject(self) -> str:
        return self.feature.name if self.feature_id else self.team

    def clean(self):
        if bool(self.team.strip()) == bool(self.feature_id):
            raise ValidationError({"team": "Give either a team or an AI feature (not both)."})


def has_scheduled_time(drill) -> bool:
    return drill.scheduled_for is not None


has_scheduled_time.failure = "Set the date and time of the drill."


def has_participants(drill) -> bool:
    return drill.pk is not None and drill.participants.exists()


has_participants.failure = "Choose the participants."


def has_feature(drill) -> bool:
    return drill.feature_id is not None or drill.scenario.feature_id is not None


has_feature.failure = "Choose the AI feature the drill incident is about."


class Drill(ConcurrentTransitionMixin, models.Model):
    scenario = models.ForeignKey(Scenario, on_delete=models.PROTECT, related_name="drills")
    policy = models.ForeignKey(DrillPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="drills")
    feature = models.ForeignKey(
        "incidents.AIFeature", null=True, blank=True, on_delete=models.PROTECT, related_name="drills"
    )
    team = models.CharField(max_length=120, blank=True)
    state = FSMField(max_length=16, choices=DrillState.choices, default=S.PLANNED, protected=True, db_index=True)
    quarter = models.CharField(max_length=7, db_index=True, help_text='The calendar quarter, e.g. "2026-Q4".')
    scheduled_for = models.DateTimeField(null=True, blank=True, db_index=True)
    facilitator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="facilitated_drills"
    )
    participants = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="drills")
    incident = models.OneToOneField(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="drill", editable=False
    )
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    debrief_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancel_reason = models.TextField(blank=True, editable=False)
    score = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    debrief_notes = models.TextField(blank=True, help_text="What went well and what did not (Markdown).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-quarter", "scheduled_for", "id"]
        constraints = [
            # Exactly one drill per policy and quarter, however often (or concurrently) the beat runs.
            models.UniqueConstraint(
                fields=["policy", "quarter"], condition=Q(policy__isnull=False), name="drill_one_per_policy_quarter"
            ),
        ]
        permissions = [
            ("run_drill", "Can schedule, start, time, score and complete drills"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.scenario.name}" if self.scenario_id else self.reference

    @property
    def reference(self) -> str:
        return f"DRILL-{self.pk}" if self.pk else "DRILL-new"

    @property
    def subject(self) -> str:
        if self.team:
            return self.team
        return self.feature.name if self.feature_id else ""

    @property
    def drill_feature(self):
        return self.feature if self.feature_id else self.scenario.feature

    @transition(
        field=state,
        source=[S.PLANNED, S.SCHEDULED],
        target=S.SCHEDULED,
        conditions=[has_scheduled_time, has_participants],
        permission="drills.run_drill",
    )
    def schedule(self):
        pass

    @transition(
        field=state,
        source=S.SCHEDULED,
        target=S.RUNNING,
        conditions=[has_participants, has_feature],
        permission="drills.run_drill",
    )
    def start(self):
        self.started_at = timezone.now()

    @transition(field=state, source=S.RUNNING, target=S.DEBRIEF, permission="drills.run_drill")
    def end_exercise(self):
        self.debrief_at = timezone.now()

    @transition(field=state, source=S.DEBRIEF, target=S.COMPLETED, permission="drills.run_drill")
    def complete(self):
        self.completed_at = timezone.now()

    @transition(
        field=state, source=[S.PLANNED, S.SCHEDULED, S.RUNNING], target=S.CANCELLED, permission="drills.run_drill"
    )
    def cancel(self):
        self.cancelled_at = timezone.now()


class DrillReminder(models.Model):
    """A reminder to the participants before the drill: a row with a due time, sent once."""

    drill = models.ForeignKey(Drill, on_delete=models.CASCADE, related_name="reminders")
    key = models.CharField(max_length=8)
    due_at = models.DateTimeField(db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [models.UniqueConstraint(fields=["drill", "key"], name="drillreminder_once")]

    def __str__(self) -> str:
        return f"Reminder {self.key} for DRILL-{self.drill_id}"


class DrillInject(models.Model):
    """A scenario inject due in one running drill: released once, at its minute, by the beat."""

    drill = models.ForeignKey(Drill, on_delete=models.CASCADE, related_name="injects")
    inject = models.ForeignKey(ScenarioInject, null=True, on_delete=models.SET_NULL, related_name="+")
    minute = models.PositiveSmallIntegerField()
    text = models.TextField()
    due_at = models.DateTimeField(db_index=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [models.UniqueConstraint(fields=["drill", "inject"], name="drillinject_once")]

    def __str__(self) -> str:
        return f"+{self.minute} min: {self.text[:60]}"


class DrillChecklistItem(models.Model):
    """An expected action of the scenario, copied at start and ticked by the facilitator."""

    drill = models.ForeignKey(Drill, on_delete=models.CASCADE, related_name="checklist")
    text = models.CharField(max_length=300)
    position = models.PositiveSmallIntegerField(default=0)
    is_done = models.BooleanField("done?", default=False)
    ticked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    ticked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class StepCorrection(models.Model):
    """The facilitator's correction of a step time read from the incident, with the reason."""

    drill = models.ForeignKey(Drill, on_delete=models.CASCADE, related_name="corrections")
    step = models.CharField(max_length=16, choices=Step.choices)
    occurred_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the step was not done.")
    reason = models.TextField()
    corrected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    corrected_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["drill", "step"], name="stepcorrection_one_per_step")]

    def __str__(self) -> str:
        return f"{self.step} corrected on DRILL-{self.drill_id}"
