"""The eval bench: cases that reproduce failures, and the runs the team's harness reports."""

import math
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Subquery

from incidents.constants import Category, Severity

WILSON_Z = 1.959963984540054  # two-sided 95%


def wilson_upper_bound(failures: int, trials: int, z: float = WILSON_Z) -> float:
    """Upper end of the Wilson score interval for the failure rate.

    A rate from a handful of runs says little; the bound says how bad it could still be. With zero
    failures in n trials the bound is z²/(n + z²), not zero.
    """
    if trials <= 0:
        return 1.0
    p = failures / trials
    denominator = 1 + z * z / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return min(1.0, (centre + margin) / denominator)


class VerificationPolicy(models.Model):
    """How good 'fixed' must be, per severity: enough trials, and a bound on the failure rate."""

    severity = models.CharField(max_length=4, choices=Severity.choices, unique=True)
    min_trials = models.PositiveIntegerField(default=20)
    max_failure_rate = models.FloatField(help_text="The 95% Wilson upper bound must be at or under this (0-1).")

    class Meta:
        ordering = ["severity"]
        verbose_name_plural = "verification policies"

    def __str__(self) -> str:
        return f"{self.severity}: ≥{self.min_trials} trials, bound ≤ {self.max_failure_rate:.1%}"


class EvalCase(models.Model):
    """A permanent bench case. Never deleted: retired with a reason."""

    feature = models.ForeignKey("incidents.AIFeature", on_delete=models.PROTECT, related_name="eval_cases")
    input = models.TextField()
    expected_behaviour = models.TextField()
    failure_category = models.CharField(max_length=32, choices=Category.choices, blank=True)
    failure_finding = models.TextField(blank=True, help_text="The failure pattern this case catches.")
    source_incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    incidents = models.ManyToManyField(
        "incidents.Incident",
        blank=True,
        related_name="eval_cases",
        help_text="Incidents whose verification depends on this case.",
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"EV-{self.pk}: {self.expected_behaviour[:60]}"

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None


class EvalRun(models.Model):
    """One harness run of one case: trials and failures, with what it ran on."""

    case = models.ForeignKey(EvalCase, on_delete=models.PROTECT, related_name="runs")
    trials = models.PositiveIntegerField()
    failures = models.PositiveIntegerField()
    seeds = models.JSONField(default=list, blank=True)
    model_version = models.CharField(max_length=120, blank=True)
    prompt_version = models.CharField(max_length=120, blank=True)
    harness = models.CharField(max_length=120, blank=True)
    ran_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who ran it, for a run recorded by hand; a harness's runs leave it empty.",
    )
    ran_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ran_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(failures__lte=models.F("trials")), name="eval_run_failures_within_trials"
            )
        ]
        indexes = [models.Index(fields=["case", "-ran_at"])]

    def __str__(self) -> str:
        return f"EV-{self.case_id} {self.failures}/{self.trials} at {self.ran_at:%Y-%m-%d %H:%M}"

    @property
    def failure_rate(self) -> float:
        return self.failures / self.trials if self.trials else 1.0

    @property
    def upper_bound(self) -> float:
        return wilson_upper_bound(self.failures, self.trials)


# --- the 'is it fixed?' gate, read by the Mark verified guard, the Evals card and the services -----------

DEFAULT_POLICY = VerificationPolicy(severity="", min_trials=20, max_failure_rate=0.05)


@dataclass
class CaseStatus:
    case: EvalCase
    run: EvalRun | None
    min_trials: int
    threshold: float

    @property
    def bound(self) -> float | None:
        return self.run.upper_bound if self.run else None

    @property
    def why_not(self) -> str:
        if self.run is None:
            return "no run reported yet"
        if self.run.trials < self.min_trials:
            return f"{self.run.trials} trials; at least {self.min_trials} are needed"
        if self.run.upper_bound > self.threshold:
            return (
                f"failure rate {self.run.failure_rate:.1%}, upper bound {self.run.upper_bound:.1%} "
                f"is over the {self.threshold:.1%} threshold"
            )
        return ""

    @property
    def passes(self) -> bool:
        return not self.why_not


def policy_for(severity: str) -> VerificationPolicy:
    return VerificationPolicy.objects.filter(severity=severity).first() or DEFAULT_POLICY


def incident_eval_status(incident) -> list[CaseStatus]:
    """Each live case linked to the incident with its latest run: two queries, whatever the bench size."""
    policy = policy_for(incident.severity)
    latest = EvalRun.objects.filter(case=OuterRef("pk")).order_by("-ran_at", "-id").values("pk")[:1]
    cases = list(
        incident.eval_cases.filter(retired_at__isnull=True).annotate(latest_run=Subquery(latest)).order_by("pk")
    )
    runs = EvalRun.objects.in_bulk([c.latest_run for c in cases if c.latest_run])
    return [
        CaseStatus(case=c, run=runs.get(c.latest_run), min_trials=policy.min_trials, threshold=policy.max_failure_rate)
        for c in cases
    ]


def evals_blockers(incident) -> list[str]:
    statuses = incident_eval_status(incident)
    if not statuses:
        return ["Link at least one eval case that reproduces the failure."]
    return [f"EV-{s.case.pk}: {s.why_not}" for s in statuses if not s.passes]
