"""Kill switches: one per AI feature, served over OFREP so any OpenFeature SDK can read it."""

from django.core.exceptions import ValidationError
from django.db import models


def validate_cohort_rules(value) -> None:
    """[{"attribute": "plan", "values": ["free"], "enabled": false}, ...] - first match wins."""
    if not isinstance(value, list):
        raise ValidationError("Cohort rules must be a list.")
    for index, rule in enumerate(value):
        if not isinstance(rule, dict):
            raise ValidationError(f"Rule {index + 1} must be an object.")
        if not isinstance(rule.get("attribute"), str) or not rule["attribute"]:
            raise ValidationError(f"Rule {index + 1}: 'attribute' names a context attribute, e.g. plan.")
        values = rule.get("values")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, (str, int, float, bool)) for v in values)
        ):
            raise ValidationError(f"Rule {index + 1}: 'values' is a non-empty list of values to match.")
        if not isinstance(rule.get("enabled"), bool):
            raise ValidationError(f"Rule {index + 1}: 'enabled' is true or false: the value for that cohort.")


class KillSwitch(models.Model):
    """Whether an AI feature is on (true) or off (false), with cohort rules that restrict it."""

    feature = models.OneToOneField("incidents.AIFeature", on_delete=models.CASCADE, related_name="kill_switch")
    is_on = models.BooleanField(default=True)
    cohort_rules = models.JSONField(default=list, blank=True, validators=[validate_cohort_rules])
    version = models.PositiveIntegerField(default=1, help_text="Goes up with every change; ETags are built on it.")
    webhook_url = models.URLField(
        blank=True, help_text="Your own flag system's endpoint: told every change, signed with HMAC-SHA256."
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_read_at = models.DateTimeField(null=True, blank=True, help_text="When the product last evaluated it.")

    def __str__(self) -> str:
        return f"{self.feature.kill_switch_key}: {'on' if self.is_on else 'OFF'}"
