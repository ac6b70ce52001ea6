"""Action items: what changes after an incident or a drill, with an owner and a due date.

open -> done, or open -> won't do (with a reason). Items come from a post-mortem's "What is
changing" or from a drill's debrief (gaps in tooling or process); both are listed together.
Reminders before the due date and when overdue are rows found by the minute beat task.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition


class ActionItemState(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    WONT_DO = "wont_do", "Won't do"


class ActionItemKind(models.TextChoices):
    PREVENT = "prevent", "Prevent"
    DETECT = "detect", "Detect"
    MITIGATE = "mitigate", "Mitigate"
    PROCESS = "process", "Process"


class ActionItemSource(models.TextChoices):
    POSTMORTEM = "postmortem", "Post-mortem"
    DRILL = "drill", "Drill debrief"


class ActionItemQuerySet(models.QuerySet):
    def open(self):
        return self.filter(state=ActionItemState.OPEN)

    def overdue(self, today=None):
        today = today or timezone.localdate()
        return self.filter(state=ActionItemState.OPEN, due_date__lt=today)


class ActionItem(FSMModelMixin, models.Model):
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="action_items")
    postmortem = models.ForeignKey(
        "incidents.PostMortem", null=True, blank=True, on_delete=models.SET_NULL, related_name="action_items"
    )
    source = models.CharField(max_length=16, choices=ActionItemSource.choices, default=ActionItemSource.POSTMORTEM)
    title = models.CharField(max_length=300)
    details = models.TextField(blank=True, help_text="Markdown.")
    kind = models.CharField("type", max_length=16, choices=ActionItemKind.choices)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="action_items")
    due_date = models.DateField(db_index=True)
    state = FSMField(
        max_length=16, choices=ActionItemState.choices, default=ActionItemState.OPEN, protected=True, db_index=True
    )
    wont_do_reason = models.TextField("why it will not be done", blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ActionItemQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["state", "due_date"], name="actionitem_state_due")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.state == ActionItemState.OPEN and self.due_date < timezone.localdate()

    @transition(field=state, source=ActionItemState.OPEN, target=ActionItemState.DONE)
    def complete(self):
        self.closed_at = timezone.now()

    @transition(field=state, source=ActionItemState.OPEN, target=ActionItemState.WONT_DO)
    def wont_do(self):
        self.closed_at = timezone.now()


class ActionItemReminder(models.Model):
    """A reminder to the owner as a row with a due time: found by the minute beat task, sent once.

    The key names the point and the due date it was planned for ("before-3d:2026-12-04", "overdue:..."),
    so a changed due date plans fresh points and never re-sends or loses one.
    """

    class Outcome(models.TextChoices):
        PENDING = "", "Pending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped (a later point was due at the same time)"
        CANCELLED = "cancelled", "Cancelled (item closed or due date changed)"

    item = models.ForeignKey(ActionItem, on_delete=models.CASCADE, related_name="reminders")
    key = models.CharField(max_length=48)
    label = models.CharField(max_length=100)
    due_at = models.DateTimeField(db_index=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True, default="")

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["item", "key"], name="actionitem_reminder_unique_point")]

    def __str__(self) -> str:
        return f"{self.item}: {self.label}"
