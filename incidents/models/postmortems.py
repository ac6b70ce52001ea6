"""Post-mortems: one per incident, written from an editable template and reviewed before publishing.

draft -> in_review -> approved -> published; a reviewer who asks for changes sends it back to draft
with a note. The reviewers are whoever holds `approve_postmortem` (the commander's and Legal's
groups). A published post-mortem is what the incident's "closed" guard waits for.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

DEFAULT_MARKING = "Confidential — prepared at the direction of counsel"

# The five sections, in the order they are written and printed: (field, heading).
SECTIONS = [
    ("what_happened", "What happened"),
    ("impact", "Impact"),
    ("root_cause", "Root cause"),
    ("why_not_caught", "Why it was not caught earlier"),
    ("what_is_changing", "What is changing"),
]


class PostMortemState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    PUBLISHED = "published", "Published"


class LearningScope(models.TextChoices):
    NARROW = "narrow", "Narrow (this feature only)"
    TRANSFERABLE = "transferable", "Transferable (applies elsewhere)"


class PostMortemTemplate(models.Model):
    """The starting text of each section; edited in the admin, copied into a post-mortem when it is created."""

    name = models.CharField(max_length=100, unique=True)
    is_default = models.BooleanField(default=False, help_text="Used when no template is chosen.")
    classification_marking = models.CharField(max_length=200, default=DEFAULT_MARKING, blank=True)
    what_happened = models.TextField(blank=True, help_text="Guidance for 'What happened' (Markdown).")
    impact = models.TextField(blank=True, help_text="Guidance for 'Impact' (Markdown).")
    root_cause = models.TextField(blank=True, help_text="Guidance for 'Root cause' (Markdown).")
    why_not_caught = models.TextField(blank=True, help_text="Guidance for 'Why it was not caught earlier'.")
    what_is_changing = models.TextField(blank=True, help_text="Guidance for 'What is changing' (Markdown).")

    class Meta:
        ordering = ["-is_default", "name"]

    def __str__(self) -> str:
        return self.name


class PostMortem(FSMModelMixin, models.Model):
    """The incident's post-mortem. Section text is Markdown, rendered only through the sanitizer."""

    incident = models.OneToOneField("incidents.Incident", on_delete=models.CASCADE, related_name="postmortem")
    template = models.ForeignKey(PostMortemTemplate, null=True, blank=True, on_delete=models.SET_NULL)
    state = FSMField(
        max_length=16, choices=PostMortemState.choices, default=PostMortemState.DRAFT, protected=True, db_index=True
    )
    classification_marking = models.CharField(
        max_length=200, blank=True, default=DEFAULT_MARKING, help_text="Printed on every page of the PDF."
    )
    what_happened = models.TextField(blank=True, help_text="Narrative; the incident's timeline is appended.")
    impact = models.TextField(blank=True, help_text="Users affected, what they saw, what they did.")
    root_cause = models.TextField(blank=True, help_text="From the findings.")
    why_not_caught = models.TextField(blank=True, help_text="Gaps in eval, monitoring, process.")
    what_is_changing = models.TextField(blank=True, help_text="The action items.")
    review_note = models.TextField(blank=True, help_text="The last reviewer's request for changes.")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("approve_postmortem", "Can approve post-mortems or send them back for changes"),
            ("publish_postmortem", "Can publish approved post-mortems"),
        ]

    def __str__(self) -> str:
        return f"Post-mortem of INC-{self.incident_id}"

    @property
    def sections(self) -> list[tuple[str, str, str]]:
        return [(name, heading, getattr(self, name)) for name, heading in SECTIONS]

    @transition(field=state, source=PostMortemState.DRAFT, target=PostMortemState.IN_REVIEW)
    def submit(self):
        self.submitted_at = timezone.now()

    @transition(
        field=state,
        source=PostMortemState.IN_REVIEW,
        target=PostMortemState.DRAFT,
        permission="incidents.approve_postmortem",
    )
    def request_changes(self):
        self.submitted_at = None

    @transition(
        field=state,
        source=PostMortemState.IN_REVIEW,
        target=PostMortemState.APPROVED,
        permission="incidents.approve_postmortem",
    )
    def approve(self):
        self.approved_at = timezone.now()

    @transition(
        field=state,
        source=PostMortemState.APPROVED,
        target=PostMortemState.PUBLISHED,
        permission="incidents.publish_postmortem",
    )
    def publish(self):
        self.published_at = timezone.now()


class Learning(models.Model):
    """What the incident taught: narrow (this feature) or transferable (searchable across incidents)."""

    postmortem = models.ForeignKey(PostMortem, on_delete=models.CASCADE, related_name="learnings")
    scope = models.CharField(max_length=16, choices=LearningScope.choices, default=LearningScope.NARROW)
    text = models.TextField(help_text="Markdown.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:60]
