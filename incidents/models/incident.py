from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from simple_history.models import HistoricalRecords

from incidents.constants import (
    CATEGORY_HELP,
    OPEN_STATES,
    Category,
    DetectionSignal,
    DismissReason,
    Impact,
    IncidentState,
    RootCauseLayer,
    Severity,
)

from . import guards

S = IncidentState

CATEGORY_HELP_TEXT = " ".join(f"{label}: {CATEGORY_HELP[value]}" for value, label in Category.choices)


class IncidentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(state__in=OPEN_STATES)

    def real(self):
        """Everything but drill incidents: what metrics, the status page and legal clocks see."""
        return self.filter(is_drill=False)


class Incident(ConcurrentTransitionMixin, models.Model):
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True, help_text="What is going on, as known now (Markdown).")
    category = models.CharField(max_length=32, choices=Category.choices, blank=True, help_text=CATEGORY_HELP_TEXT)
    detection_signal = models.CharField(max_length=32, choices=DetectionSignal.choices)
    feature = models.ForeignKey("incidents.AIFeature", on_delete=models.PROTECT, related_name="incidents")
    occurred_at = models.DateTimeField(null=True, blank=True, help_text="Best estimate of when it started.")
    detected_at = models.DateTimeField(default=timezone.now)
    users_affected = models.PositiveIntegerField(default=0)
    is_public = models.BooleanField("public?", default=False, help_text="Is there outside attention?")
    involves_privacy = models.BooleanField(
        "privacy involved?", default=False, help_text="Personal data or another legal duty is involved."
    )

    impact = models.CharField(max_length=16, choices=Impact.choices, editable=False, default=Impact.LIMITED)
    triage_rule = models.ForeignKey(
        "incidents.TriageRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    severity = models.CharField(max_length=4, choices=Severity.choices, blank=True, db_index=True, editable=False)
    severity_override = models.CharField(
        max_length=4,
        choices=Severity.choices,
        blank=True,
        help_text="Leave empty to use the triage matrix; set it only with a reason.",
    )
    severity_override_reason = models.TextField(blank=True)
    requires_postmortem = models.BooleanField(default=False, editable=False)
    required_communications = models.JSONField(default=list, blank=True, editable=False)

    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="commanded_incidents"
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="incidents")
    is_restricted = models.BooleanField(
        "restricted?",
        default=False,
        help_text="Only members, Legal and superusers can see a restricted incident. Data leaks start restricted.",
    )
    is_drill = models.BooleanField(default=False, editable=False)
    recurrence_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recurrences",
        editable=False,
        help_text="The closed incident whose alert fired again.",
    )
    alert_count = models.PositiveIntegerField(default=0, editable=False, help_text="Alerts received for it.")
    public_link = models.URLField(
        max_length=1000, blank=True, help_text="External attention: where it went public (article, post, thread)."
    )
    went_public_at = models.DateTimeField(null=True, blank=True, help_text="External attention: when it went public.")

    state = FSMField(max_length=20, choices=IncidentState.choices, default=S.DETECTED, protected=True, db_index=True)
    triaged_at = models.DateTimeField(null=True, blank=True, editable=False)
    contained_at = models.DateTimeField(null=True, blank=True, editable=False)
    investigating_at = models.DateTimeField(null=True, blank=True, editable=False)
    fixed_at = models.DateTimeField(null=True, blank=True, editable=False)
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    postmortem_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    dismissed_at = models.DateTimeField(null=True, blank=True, editable=False)
    reopened_at = models.DateTimeField(null=True, blank=True, editable=False)
    reopen_count = models.PositiveIntegerField(default=0, editable=False)

    containment_skip_reason = models.TextField(blank=True, editable=False)
    root_cause_layer = models.CharField(max_length=16, choices=RootCauseLayer.choices, blank=True)
    root_cause = models.TextField(blank=True, help_text="What caused it, at which layer (Markdown).")
    fix_layer = models.CharField(max_length=16, choices=RootCauseLayer.choices, blank=True)
    fix_description = models.TextField(blank=True)
    fix_reference = models.CharField(
        max_length=300, blank=True, help_text="Pull request, commit, prompt or model version."
    )
    fix_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who approved the fix.",
    )
    fix_layer_justification = models.TextField(
        blank=True, help_text="Required when the fix is at another layer than the root cause."
    )
    verification_summary = models.TextField(
        blank=True, help_text="Eval cases run after the fix and their failure rate against the threshold."
    )
    postmortem_summary = models.TextField(blank=True)
    communications_summary = models.TextField(blank=True, help_text="What was sent, to which audience, when.")
    dismiss_reason = models.CharField(max_length=16, choices=DismissReason.choices, blank=True, editable=False)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates", editable=False
    )
    reopen_reason = models.TextField(blank=True, editable=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])
    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-detected_at"]
        indexes = [models.Index(fields=["state", "severity"]), models.Index(fields=["category"])]
        permissions = [
            ("triage_incident", "Can triage incidents"),
            ("contain_incident", "Can mark incidents contained"),
            ("investigate_incident", "Can start investigating incidents"),
            ("fix_incident", "Can mark incidents fixed"),
            ("verify_incident", "Can mark incidents verified"),
            ("start_postmortem_incident", "Can move incidents to post-mortem"),
            ("close_incident", "Can close incidents"),
            ("dismiss_incident", "Can dismiss incidents"),
            ("reopen_incident", "Can reopen incidents"),
            ("view_restricted_incident", "Can see every restricted incident"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def clean(self):
        errors = {}
        if self.severity_override and not (self.severity_override_reason or "").strip():
            errors["severity_override_reason"] = "Give a reason when you override the triage matrix."
        if self.occurred_at and self.detected_at and self.occurred_at > self.detected_at:
            errors["occurred_at"] = "It cannot have started after it was detected."
        if self.detected_at and self.detected_at > timezone.now() + timedelta(minutes=5):
            errors["detected_at"] = "Detection time is in the future."
        if errors:
            raise ValidationError(errors)

    @property
    def reference(self) -> str:
        return f"INC-{self.pk}" if self.pk else "INC-new"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    # --- clocks: facts read from the state timestamps ---------------------------------------

    def time_since_detection(self, now=None) -> timedelta:
        return (now or timezone.now()) - self.detected_at

    def time_to_contain(self) -> timedelta | None:
        return self.contained_at - self.detected_at if self.contained_at else None

    def time_open(self, now=None) -> timedelta:
        end = self.closed_at or self.dismissed_at or now or timezone.now()
        return end - self.detected_at

    # --- transitions: fields and timestamps only ----------------------------------------------

    @transition(
        field=state,
        source=S.DETECTED,
        target=S.TRIAGED,
        conditions=[guards.has_category, guards.has_severity, guards.has_commander],
        permission="incidents.triage_incident",
    )
    def triage(self):
        self.triaged_at = timezone.now()

    @transition(
        field=state,
        source=S.TRIAGED,
        target=S.CONTAINED,
        conditions=[guards.has_active_containment],
        permission="incidents.contain_incident",
    )
    def contain(self):
        self.contained_at = timezone.now()

    @transition(field=state, source=S.CONTAINED, target=S.INVESTIGATING, permission="incidents.investigate_incident")
    def investigate(self):
        self.investigating_at = timezone.now()

    @transition(
        field=state,
        source=S.TRIAGED,
        target=S.INVESTIGATING,
        conditions=[guards.is_low_severity, guards.has_containment_skip_reason],
        permission="incidents.investigate_incident",
    )
    def investigate_without_containment(self):
        self.investigating_at = timezone.now()

    @transition(
        field=state,
        source=S.INVESTIGATING,
        target=S.FIXED,
        conditions=[guards.has_root_cause, guards.has_fix, guards.fix_layer_matches_root_cause_or_is_justified],
        permission="incidents.fix_incident",
    )
    def mark_fixed(self):
        self.fixed_at = timezone.now()

    @transition(
        field=state,
        source=S.FIXED,
        target=S.VERIFIED,
        conditions=[guards.evals_prove_the_fix],
        permission="incidents.verify_incident",
    )
    def verify(self):
        self.verified_at = timezone.now()

    @transition(field=state, source=S.VERIFIED, target=S.POSTMORTEM, permission="incidents.start_postmortem_incident")
    def start_postmortem(self):
        self.postmortem_at = timezone.now()

    @transition(
        field=state,
        source=[S.VERIFIED, S.POSTMORTEM],
        target=S.CLOSED,
        conditions=[
            guards.has_published_postmortem_if_required,
            guards.has_required_communications_sent,
            guards.regulatory_obligations_submitted_or_waived,
            guards.has_no_unattended_containment,
            guards.has_no_open_pages,
        ],
        permission="incidents.close_incident",
    )
    def close(self):
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=OPEN_STATES,
        target=S.CLOSED,
        conditions=[guards.is_drill_incident, guards.has_no_unattended_containment, guards.has_no_open_pages],
        permission="drills.run_drill",
    )
    def end_drill(self):
        """A drill's incident closes with its drill (completed or cancelled), wherever the exercise stopped."""
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=OPEN_STATES,
        target=S.DISMISSED,
        conditions=[
            guards.has_dismiss_reason,
            guards.names_duplicate_if_duplicate,
            guards.has_no_unattended_containment,
            guards.has_no_open_pages,
        ],
        permission="incidents.dismiss_incident",
    )
    def dismiss(self):
        self.dismissed_at = timezone.now()

    @transition(
        field=state,
        source=[S.FIXED, S.VERIFIED, S.CLOSED],
        target=S.INVESTIGATING,
        conditions=[guards.has_reopen_reason],
        permission="incidents.reopen_incident",
    )
    def reopen(self):
        now = timezone.now()
        self.reopened_at = now
        self.investigating_at = now
        self.reopen_count += 1
        self.closed_at = None
