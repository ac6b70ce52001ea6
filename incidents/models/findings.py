from django.conf import settings
from django.db import models

from incidents.constants import RootCauseLayer


class CommonFinding(models.TextChoices):
    PROMPT_REGRESSION = "prompt_regression", "A prompt change introduced a regression"
    MODEL_UPGRADE = "model_upgrade", "A model upgrade changed behaviour"
    RETRIEVAL_UNEXPECTED = "retrieval_unexpected", "Retrieval surfaced unexpected content"
    MODERATION_MISSED = "moderation_missed", "Moderation missed a pattern"
    ARCHITECTURE_ASSUMPTION = "architecture_assumption", "An architectural assumption was violated"
    OTHER = "other", "Other (described below)"


class Finding(models.Model):
    """What the investigation found, at which layer. The one marked root cause feeds the 'fixed' guard."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="findings")
    layer = models.CharField(max_length=16, choices=RootCauseLayer.choices)
    common_finding = models.CharField(max_length=32, choices=CommonFinding.choices, default=CommonFinding.OTHER)
    text = models.TextField(help_text="What was found, with the evidence that shows it (Markdown).")
    is_root_cause = models.BooleanField(default=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_layer_display()}: {self.get_common_finding_display()}"
