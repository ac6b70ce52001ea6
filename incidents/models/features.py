from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

key_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]{0,99}$",
    "Use lower-case letters, digits, dots, dashes and underscores, starting with a letter or digit.",
)


class AIFeature(models.Model):
    """An AI feature of the product: what incidents happen to, and what the kill switch turns off."""

    name = models.CharField(max_length=120)
    key = models.CharField(
        max_length=100,
        unique=True,
        validators=[key_validator],
        help_text="Stable identifier the product uses, e.g. support-bot.",
    )
    owner_team = models.CharField(max_length=120)
    kill_switch_key = models.CharField(
        max_length=100,
        unique=True,
        validators=[key_validator],
        help_text="The flag key the product evaluates to know whether this feature is on.",
    )
    model_provider = models.CharField(max_length=80, blank=True)
    current_model_version = models.CharField(max_length=120, blank=True)
    current_prompt_version = models.CharField(max_length=120, blank=True)
    fallback_description = models.TextField(
        blank=True, help_text="What users get when the AI feature is off (Markdown)."
    )
    rollback_procedure = models.TextField(
        blank=True, help_text="How to roll the prompt or model back, step by step (Markdown)."
    )
    redact_pii = models.BooleanField(
        "redact personal data?",
        default=True,
        help_text="Run the redaction rules on inputs and outputs of its audit records before they are stored.",
    )
    audit_retention_days = models.PositiveIntegerField(
        default=90, help_text="Audit records older than this are deleted, unless on legal hold."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = "AI feature"

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"
