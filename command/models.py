"""Quality monitors: thresholds on signals computed from the AI audit trail, per AI feature."""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models


class MonitorSignal(models.TextChoices):
    REFUSAL_RATE = "refusal_rate", "Refusal rate (share of requests moderation blocked)"
    ERROR_RATE = "error_rate", "Error rate (share of requests that failed)"
    COST_PER_REQUEST = "cost_per_request", "Cost per request (mean)"
    LATENCY_P95 = "latency_p95", "Latency p95 (ms)"


# The `signal` label each monitor's alert carries: the seeded alert routing rules match on these
# (incidents migration 0006; "error_rate" is added by this app's migration 0002).
ROUTING_SIGNAL = {
    MonitorSignal.REFUSAL_RATE: "refusal_rate",
    MonitorSignal.ERROR_RATE: "error_rate",
    MonitorSignal.COST_PER_REQUEST: "cost_spike",
    MonitorSignal.LATENCY_P95: "latency_spike",
}

RATE_SIGNALS = {MonitorSignal.REFUSAL_RATE, MonitorSignal.ERROR_RATE}


class QualityMonitor(models.Model):
    """One signal of one AI feature against a threshold, checked every minute by the beat task.

    Crossing the threshold sends one firing alert through the alert intake (so routing rules and
    deduplication apply); going back under sends one resolved alert.
    """

    feature = models.ForeignKey("incidents.AIFeature", on_delete=models.CASCADE, related_name="quality_monitors")
    signal = models.CharField(max_length=32, choices=MonitorSignal.choices)
    threshold = models.FloatField(
        validators=[MinValueValidator(0)],
        help_text="Alert when the signal is above this. Rates are fractions (0.05 = 5%); cost in the "
        "audit records' currency; latency in milliseconds.",
    )
    window_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1)], help_text="The signal is computed over this many minutes."
    )
    min_sample_size = models.PositiveIntegerField(
        default=50, help_text="Fewer requests than this in the window: no verdict, the monitor stays as it is."
    )
    is_enabled = models.BooleanField("enabled?", default=True)

    is_firing = models.BooleanField(default=False, editable=False)
    last_value = models.FloatField(null=True, blank=True, editable=False)
    last_sample_size = models.PositiveIntegerField(null=True, blank=True, editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    fired_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["feature__name", "signal"]
        constraints = [models.UniqueConstraint(fields=["feature", "signal"], name="quality_monitor_once_per_signal")]

    def __str__(self) -> str:
        return f"{self.get_signal_display().split(' (')[0]} of {self.feature.key}" if self.feature_id else "monitor"

    def clean(self):
        if self.signal in RATE_SIGNALS and self.threshold is not None and self.threshold > 1:
            raise ValidationError({"threshold": "A rate is a fraction between 0 and 1: write 5% as 0.05."})

    @property
    def fingerprint(self) -> str:
        """Stable per monitor: every firing of one monitor deduplicates onto the same incident."""
        return f"fireline-quality-monitor-{self.pk}"

    @property
    def routing_signal(self) -> str:
        return ROUTING_SIGNAL[MonitorSignal(self.signal)]

    def format_value(self, value: float | None) -> str:
        if value is None:
            return "–"
        if self.signal in RATE_SIGNALS:
            return f"{value:.1%}"
        if self.signal == MonitorSignal.LATENCY_P95:
            return f"{value:.0f} ms"
        return f"{value:.4f}"
