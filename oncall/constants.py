from django.db import models

from incidents.roles import SCHEDULE_MANAGER as SCHEDULE_MANAGER  # declared with the other roles


class RotationLength(models.TextChoices):
    DAILY = "daily", "Daily (every N days)"
    WEEKLY = "weekly", "Weekly (every N weeks)"
    CUSTOM = "custom", "Custom (every N hours)"


class OverrideState(models.TextChoices):
    PENDING = "pending", "Waiting for the other person to accept"
    ACTIVE = "active", "Active"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Mon"
    TUESDAY = 1, "Tue"
    WEDNESDAY = 2, "Wed"
    THURSDAY = 3, "Thu"
    FRIDAY = 4, "Fri"
    SATURDAY = 5, "Sat"
    SUNDAY = 6, "Sun"
