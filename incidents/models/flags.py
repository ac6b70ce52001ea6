"""Kill switches: one per AI feature, served over OFREP so any OpenFeature SDK can read it."""

from django.conf import settings
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
    """Whether an AI feature is on (true) or off (false), with cohort rules that restrict it.

    `is_on` and `cohort_rules` are what the product reads; they are computed from the switch's active
    holds (see KillSwitchHold), never set directly. A drill's incident gets a stand-in switch of its own
    (`drill_incident` set, `feature` empty), served over OFREP under its own key, so a drill never
    changes what real users get.
    """

    feature = models.OneToOneField(
        "incidents.AIFeature", null=True, blank=True, on_delete=models.CASCADE, related_name="kill_switch"
    )
    drill_incident = models.OneToOneField(
        "incidents.Incident", null=True, blank=True, on_delete=models.CASCADE, related_name="drill_switch"
    )
    stand_in_for = models.ForeignKey(
        "incidents.AIFeature",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="stand_in_switches",
        help_text="The real feature a drill's stand-in switch plays.",
    )
    stand_in_key = models.CharField(
        max_length=120, blank=True, help_text="A drill stand-in's own flag key (empty for a real feature's switch)."
    )
    is_on = models.BooleanField(default=True)
    cohort_rules = models.JSONField(default=list, blank=True, validators=[validate_cohort_rules])
    version = models.PositiveIntegerField(default=1, help_text="Goes up with every change; ETags are built on it.")
    webhook_url = models.URLField(
        blank=True, help_text="Your own flag system's endpoint: told every change, signed with HMAC-SHA256."
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_read_at = models.DateTimeField(null=True, blank=True, help_text="When the product last evaluated it.")

    class Meta:
        verbose_name_plural = "kill switches"
        constraints = [
            models.UniqueConstraint(
                fields=["stand_in_key"], condition=~models.Q(stand_in_key=""), name="killswitch_stand_in_key_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(feature__isnull=False, drill_incident__isnull=True)
                | models.Q(feature__isnull=True, drill_incident__isnull=False),
                name="killswitch_feature_or_drill",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.flag_key}: {'on' if self.is_on else 'OFF'}"

    @property
    def is_stand_in(self) -> bool:
        return self.drill_incident_id is not None

    @property
    def flag_key(self) -> str:
        return self.stand_in_key if self.is_stand_in else self.feature.kill_switch_key

    @property
    def real_feature(self):
        return self.stand_in_for if self.is_stand_in else self.feature


class HoldKind(models.TextChoices):
    OFF = "off", "Feature off"
    COHORT = "cohort", "Cohort rule"


class KillSwitchHold(models.Model):
    """One reason a switch is held: an incident's containment, or a commander's manual flip.

    The switch is off while any active "off" hold exists, and a cohort rule stays while any active
    cohort hold names it. Lifting one hold leaves the others in force. A hold stays active after its
    incident closes only when its containment was handed over (with a named owner and a reason).
    """

    switch = models.ForeignKey(KillSwitch, on_delete=models.CASCADE, related_name="holds")
    kind = models.CharField(max_length=8, choices=HoldKind.choices)
    rule = models.JSONField(default=dict, blank=True, help_text="The cohort rule this hold keeps in force.")
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.PROTECT, related_name="switch_holds"
    )
    containment = models.OneToOneField(
        "incidents.ContainmentAction", null=True, blank=True, on_delete=models.PROTECT, related_name="hold"
    )
    reason = models.TextField()
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    held_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    release_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-held_at", "-id"]
        indexes = [models.Index(fields=["switch"], condition=models.Q(released_at__isnull=True), name="hold_active")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.switch_id} by {self.holder_label}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None

    @property
    def holder_label(self) -> str:
        if self.incident_id:
            if self.incident.is_restricted:
                # seen on other incidents' pages, timelines and PDFs: a restricted incident is not named there
                return "a restricted incident"
            severity = f" ({self.incident.severity})" if self.incident.severity else ""
            return f"{self.incident.reference}{severity}"
        who = self.held_by.get_username() if self.held_by_id else "Fireline"
        return f"{who} (manual)"
