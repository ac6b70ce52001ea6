"""Post-mortems: one per incident, written from an editable template and reviewed before publishing.

draft -> in_review -> approved -> published; a reviewer who asks for changes sends it back to draft
with a note and clears the approvals given so far. The required reviewers are the incident's
commander and Legal, plus Communications when the post-mortem goes public (the incident is public or
the post-mortem is marked public). Each one's approval is a `PostMortemApproval` row; the post-mortem
becomes approved only when every required reviewer has approved. A published post-mortem is what the
incident's "closed" guard waits for.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from incidents import roles
from incidents.constants import Severity, StakeholderRole

from .organisation import DEFAULT_INTERNAL_MARKING as DEFAULT_MARKING  # kept under its old name

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


class ReviewerRole(models.TextChoices):
    COMMANDER = "commander", "Incident commander"
    LEGAL = "legal", "Legal"
    COMMUNICATIONS = "communications", "Communications"


# The Django groups whose members review as Legal and as Communications; the commander is the incident's.
REVIEWER_GROUPS = {ReviewerRole.LEGAL: roles.LEGAL, ReviewerRole.COMMUNICATIONS: roles.COMMUNICATIONS}


def reviewer_roles_of(user, incident) -> set[str]:
    """The review roles `user` fills on this incident: its commander, a member of Legal or Communications."""
    if user is None or not getattr(user, "pk", None):
        return set()
    roles = set()
    if incident.commander_id == user.pk:
        roles.add(ReviewerRole.COMMANDER)
    groups = {name for name in user.groups.values_list("name", flat=True)}
    roles.update(role for role, group in REVIEWER_GROUPS.items() if group in groups)
    return roles


class LearningScope(models.TextChoices):
    NARROW = "narrow", "Narrow (this feature only)"
    TRANSFERABLE = "transferable", "Transferable (applies elsewhere)"


def every_required_reviewer_approved(postmortem) -> bool:
    """The commander, Legal, and Communications when public: approved by all of them, not by any one."""
    return not postmortem.missing_reviewer_roles()


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
        verbose_name = "post-mortem template"
        verbose_name_plural = "post-mortem templates"

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
    is_public = models.BooleanField(
        "public?",
        default=False,
        help_text="Published outside the company (customers, the press): Communications must approve it too.",
    )

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
        verbose_name = "post-mortem"
        verbose_name_plural = "post-mortems"
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

    # --- reviewers ---------------------------------------------------------------------------------

    @property
    def needs_communications_review(self) -> bool:
        return bool(self.is_public or self.incident.is_public)

    def required_reviewer_roles(self) -> list[str]:
        roles = [ReviewerRole.COMMANDER, ReviewerRole.LEGAL]
        if self.needs_communications_review:
            roles.append(ReviewerRole.COMMUNICATIONS)
        return roles

    def approved_roles(self) -> set[str]:
        return set(self.approvals.values_list("role", flat=True))

    def missing_reviewer_roles(self) -> list[str]:
        approved = self.approved_roles()
        return [role for role in self.required_reviewer_roles() if role not in approved]

    def review_status(self) -> list[dict]:
        """One row per required reviewer: who approved and when, or that it is still needed. One query."""
        approvals = {a.role: a for a in self.approvals.select_related("user")}
        labels = dict(ReviewerRole.choices)
        return [
            {"role": role, "label": labels[role], "approval": approvals.get(role)}
            for role in self.required_reviewer_roles()
        ]

    # --- what the report shows next to the sections ---------------------------------------------------

    def key_events(self):
        """The starred timeline entries, oldest first: the spine of 'What happened'."""
        return self.incident.timeline.filter(is_key_event=True).select_related("actor").order_by("occurred_at", "id")

    def report_action_items(self):
        """What is changing: the incident's post-mortem action items (drill follow-ups stay with the drill)."""
        from incidents.models.actions import ActionItem, ActionItemSource

        return (
            ActionItem.objects.filter(incident_id=self.incident_id, source=ActionItemSource.POSTMORTEM)
            .filter(Q(postmortem__isnull=True) | Q(postmortem=self))
            .select_related("owner")
            .order_by("due_date", "id")
        )

    @property
    def open_action_items(self):
        from incidents.models.actions import ActionItemState

        return self.report_action_items().filter(state=ActionItemState.OPEN)

    @transition(
        field=state,
        source=PostMortemState.IN_REVIEW,
        target=PostMortemState.APPROVED,
        permission="incidents.approve_postmortem",
        conditions=[every_required_reviewer_approved],
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


class PostMortemApproval(models.Model):
    """One required reviewer's approval of the text in review. Cleared when changes are requested."""

    postmortem = models.ForeignKey(PostMortem, on_delete=models.CASCADE, related_name="approvals")
    role = models.CharField(max_length=16, choices=ReviewerRole.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["approved_at", "id"]
        verbose_name = "post-mortem approval"
        verbose_name_plural = "post-mortem approvals"
        constraints = [models.UniqueConstraint(fields=["postmortem", "role"], name="postmortem_one_approval_per_role")]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.user}"


class DistributionList(models.Model):
    """Who hears that a post-mortem of this severity is published: roles, named contacts, plain addresses.

    Drills ignore it (only the drill's participants hear); restricted incidents are announced by
    reference only.
    """

    severity = models.CharField(max_length=4, choices=Severity.choices, unique=True)
    roles = models.JSONField(
        default=list, blank=True, help_text="Stakeholder roles told (their tier-1 contacts), e.g. leadership, legal."
    )
    contacts = models.ManyToManyField("incidents.StakeholderContact", blank=True, related_name="distribution_lists")
    emails = models.TextField(blank=True, help_text="More addresses, one per line (a team list, for example).")
    include_commander = models.BooleanField(default=True, help_text="Tell the incident's commander too.")

    class Meta:
        ordering = ["severity"]
        verbose_name = "post-mortem distribution list"
        verbose_name_plural = "post-mortem distribution lists"

    def __str__(self) -> str:
        return f"Post-mortem distribution for {self.severity}"

    def email_list(self) -> list[str]:
        return [line.strip() for line in self.emails.replace(",", "\n").splitlines() if line.strip()]

    def clean(self):
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        unknown = [r for r in self.roles or [] if r not in StakeholderRole.values]
        if unknown:
            raise ValidationError({"roles": f"Unknown role(s): {', '.join(unknown)}."})
        bad = []
        for address in self.email_list():
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            raise ValidationError({"emails": f"Not an email address: {', '.join(bad)}."})


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


class PostMortemRevision(models.Model):
    """What was published, frozen: the post-mortem and everything its PDF prints, as canonical JSON.

    Publishing stores revision 1; the PDF renders the latest revision, never the live incident, so
    what a reader was given does not change when the incident does. A later change is published as a
    new revision, with the diff from the one before. Rows are never edited or deleted; the SHA-256 of
    the content is written to the action log when the revision is stored.
    """

    postmortem = models.ForeignKey(PostMortem, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    content = models.JSONField(help_text="The snapshot: sections, timeline, key events, action items, reviewers.")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the canonical JSON of the content.")
    diff = models.TextField(blank=True, help_text="What changed from the previous revision (unified diff).")
    reason = models.TextField(blank=True, help_text="Why a new revision was published.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["postmortem", "number"]
        verbose_name = "published post-mortem revision"
        verbose_name_plural = "published post-mortem revisions"
        constraints = [
            models.UniqueConstraint(fields=["postmortem", "number"], name="postmortem_revision_unique_number")
        ]

    def __str__(self) -> str:
        return f"Post-mortem of INC-{self.postmortem.incident_id}, revision {self.number}"
