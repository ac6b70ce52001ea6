from django.core.exceptions import ValidationError
from django.db import models
from django.utils.deconstruct import deconstructible
from django.utils.module_loading import import_string
from simple_history.models import HistoricalRecords

from incidents.constants import Category, Impact, Severity


@deconstructible
class ChoiceListValidator:
    """A JSON list whose items must all be values of one TextChoices."""

    def __init__(self, choices_path: str, label: str):
        self.choices_path = choices_path
        self.label = label

    def __call__(self, value):
        choices = import_string(self.choices_path)
        if not isinstance(value, list):
            raise ValidationError(f"{self.label} must be a list.")
        unknown = [str(v) for v in value if v not in choices.values]
        if unknown:
            raise ValidationError(f"Unknown {self.label.lower()}: {', '.join(unknown)}.")

    def __eq__(self, other):
        return isinstance(other, ChoiceListValidator) and (self.choices_path, self.label) == (
            other.choices_path,
            other.label,
        )


validate_containment_list = ChoiceListValidator("incidents.constants.ContainmentType", "Containment options")
validate_stakeholder_list = ChoiceListValidator("incidents.constants.StakeholderRole", "Stakeholder roles")
validate_audience_list = ChoiceListValidator("incidents.constants.Audience", "Audiences")


class TriageRule(models.Model):
    """One cell of the triage matrix: category x impact -> severity -> response.

    Seeded by a data migration for all six categories and four impact levels; editable in the admin.
    """

    category = models.CharField(max_length=32, choices=Category.choices)
    impact = models.CharField(max_length=16, choices=Impact.choices)
    severity = models.CharField(max_length=4, choices=Severity.choices)
    default_containment = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_containment_list],
        help_text="Containment offered first, in order.",
    )
    required_stakeholders = models.JSONField(default=list, blank=True, validators=[validate_stakeholder_list])
    requires_postmortem = models.BooleanField(default=True)
    required_communications = models.JSONField(default=list, blank=True, validators=[validate_audience_list])
    page_within_minutes = models.PositiveIntegerField(
        default=15, help_text="How fast the first responder must acknowledge the page."
    )
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["category", "impact"]
        constraints = [models.UniqueConstraint(fields=["category", "impact"], name="triage_rule_unique_cell")]

    def __str__(self) -> str:
        return f"{self.get_category_display()} × {self.get_impact_display().split(':')[0]} → {self.severity}"
