from django.db import models


class DrillState(models.TextChoices):
    PLANNED = "planned", "Planned"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    DEBRIEF = "debrief", "Debrief"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Step(models.TextChoices):
    """The playbook steps a drill times, in order. Each is read from the drill incident."""

    DETECT = "detect", "Detect"
    TRIAGE = "triage", "Triage"
    CONTAIN = "contain", "Contain"
    INVESTIGATE = "investigate", "Investigate"
    FIX = "fix", "Fix"
    COMMUNICATE = "communicate", "Communicate"


STEP_SOURCES = {
    Step.DETECT: "first page acknowledged by a participant",
    Step.TRIAGE: "incident triaged",
    Step.CONTAIN: "incident contained",
    Step.INVESTIGATE: "investigation started",
    Step.FIX: "incident marked fixed",
    Step.COMMUNICATE: "first communication approved or sent",
}


class StepStatus(models.TextChoices):
    ON_TIME = "on_time", "On time"
    LATE = "late", "Late"
    MISSED = "missed", "Missed"


# Reminders to participants before a scheduled drill: key, how long before, label.
REMINDERS = [
    ("week", 7 * 24 * 60, "in a week"),
    ("day", 24 * 60, "tomorrow"),
    ("hour", 60, "in an hour"),
]
