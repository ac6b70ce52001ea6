from django.conf import settings
from django.db import models

from incidents import containment_types


class ContainmentAction(models.Model):
    """One entry of an incident's containment ledger: who did what, when, approved by whom."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.PROTECT, related_name="containment_actions")
    action_type = models.CharField(max_length=32, choices=containment_types.choices)
    parameters = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_reversible = models.BooleanField(default=True)
    performed_at = models.DateTimeField()
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revert_reason = models.TextField(blank=True)
    handed_over_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who answers for this containment after the incident closed with it still in force.",
    )
    handover_reason = models.TextField(blank=True)
    handed_over_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-performed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_type_display()} on {self.incident.reference}" if self.incident_id else "containment"

    @property
    def is_active(self) -> bool:
        return self.reverted_at is None

    def parameters_text(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.parameters.items())
