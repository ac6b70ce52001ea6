from django.conf import settings
from django.db import models

from incidents.constants import TimelineKind


class TimelineEntry(models.Model):
    """What happened when: automatic entries for every transition and containment, plus notes."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="timeline")
    occurred_at = models.DateTimeField(db_index=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=16, choices=TimelineKind.choices)
    text = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_automatic = models.BooleanField(default=True)
    is_key_event = models.BooleanField(
        default=False, help_text="Starred: shown first in the post-mortem's 'What happened'."
    )

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name_plural = "timeline entries"

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.text[:60]}"
