"""Post-mortems in the admin: sections edited while a draft, transitions as buttons, the PDF a link away.

The template is editable by the commanders; learnings are inline, and transferable ones are found
across incidents through the Learning changelist (the learning library).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import re_path, reverse
from django.utils.html import format_html, format_html_join

from incidents.models import Incident, Learning, LearningScope, PostMortem, PostMortemState, PostMortemTemplate
from incidents.models.postmortems import SECTIONS, reviewer_roles_of
from incidents.selectors import visible_incidents
from incidents.services.postmortems import (
    postmortem_approve,
    postmortem_create,
    postmortem_pending_changes,
    postmortem_publish,
    postmortem_request_changes,
    postmortem_revise,
    postmortem_submit,
    postmortem_update,
)

from .action_items import action_items_context
from .workflow_buttons import WorkflowButtonsAdminMixin

# The buttons, in order; which of them a user sees is the FSM's answer (state and permission), with
# Submit also asking to edit post-mortems and the new revision (not a state change) for published ones.
ACTION_LABELS = {
    "submit": "Submit for review",
    "request_changes": "Request changes",
    "approve": "Approve",
    "publish": "Publish",
    "revise": "Publish a new revision",
}


STATE_COLOURS = {
    PostMortemState.DRAFT: "grey",
    PostMortemState.IN_REVIEW: "amber",
    PostMortemState.APPROVED: "blue",
    PostMortemState.PUBLISHED: "green",
}


@admin.register(PostMortemTemplate)
class PostMortemTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default", "classification_marking"]
    fields = ["name", "is_default", "classification_marking", *[name for name, _ in SECTIONS]]


class LearningInline(admin.TabularInline):
    model = Learning
    fields = ["scope", "text"]
    extra = 0

    # Learnings are part of the reviewed text: fixed once the post-mortem leaves draft.
    def _is_draft(self, obj) -> bool:
        return obj is None or obj.state == PostMortemState.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_delete_permission(request, obj)


class LibraryScopeFilter(admin.SimpleListFilter):
    """The library opens on the transferable learnings: the ones that apply beyond their own incident."""

    title = "scope"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [
            (LearningScope.TRANSFERABLE, LearningScope.TRANSFERABLE.label),
            (LearningScope.NARROW, LearningScope.NARROW.label),
            ("all", "All"),
        ]

    def choices(self, changelist):
        value = self.value() or LearningScope.TRANSFERABLE
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or LearningScope.TRANSFERABLE
        return queryset if value == "all" else queryset.filter(scope=value)


@admin.register(Learning)
class LearningAdmin(admin.ModelAdmin):
    """The learning library: every learning, searchable, filtered to transferable ones by default use."""

    list_display = ["text_short", "scope", "incident_ref", "category", "feature"]
    list_filter = [LibraryScopeFilter, "postmortem__incident__category", "postmortem__incident__feature"]
    search_fields = ["text", "postmortem__incident__title", "postmortem__root_cause"]
    search_help_text = "Search the learnings, the incidents' titles and root causes."
    list_select_related = ["postmortem__incident__feature"]

    @admin.display(description="category", ordering="postmortem__incident__category")
    def category(self, obj):
        return obj.postmortem.incident.get_category_display() or "—"

    @admin.display(description="feature", ordering="postmortem__incident__feature__name")
    def feature(self, obj):
        return obj.postmortem.incident.feature.name

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(postmortem__incident__in=visible_incidents(user=request.user))

    @admin.display(description="learning")
    def text_short(self, obj):
        return obj.text[:120]

    @admin.display(description="incident", ordering="postmortem__incident_id")
    def incident_ref(self, obj):
        url = reverse("admin:incidents_postmortem_change", args=[obj.postmortem_id])
        return format_html('<a href="{}">{}</a>', url, obj.postmortem.incident.reference)


# "Submit for review" on the change page posts the edited sections with it: saved first, then submitted.
SAVE_AND_SUBMIT = "_save_and_submit"


class RequestChangesForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea, max_length=4000)


@admin.register(PostMortem)
class PostMortemAdmin(WorkflowButtonsAdminMixin, admin.ModelAdmin):
    action_labels = ACTION_LABELS
    action_services = {
        "submit": postmortem_submit,
        "request_changes": postmortem_request_changes,
        "approve": postmortem_approve,
        "publish": postmortem_publish,
        "revise": postmortem_revise,
    }
    action_permissions = {"submit": "incidents.change_postmortem", "revise": "incidents.publish_postmortem"}
    action_states = {"revise": (PostMortemState.PUBLISHED,)}
    action_id_argument = "postmortem_id"
    change_form_template = "admin/incidents/postmortem/change_form.html"
    list_display = ["incident_ref", "state_badge", "published_at", "pdf_link"]
    list_filter = ["state"]
    list_select_related = ["incident"]
    search_fields = ["incident__title", "what_happened", "root_cause"]
    inlines = [LearningInline]
    status_fields = [
        "incident",
        "state_badge",
        "review_note",
        "reviewers",
        "submitted_at",
        "approved_at",
        "approved_by",
        "published_at",
        "published_by",
        "pdf_link",
    ]
    readonly_fields = status_fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(incident__in=visible_incidents(user=request.user))

    def get_fields(self, request, obj=None):
        return [*self.status_fields, "is_public", "classification_marking", *[name for name, _ in SECTIONS]]

    def get_readonly_fields(self, request, obj=None):
        if obj is None or obj.state != PostMortemState.DRAFT:
            return self.get_fields(request, obj)  # review is of a fixed text
        return self.status_fields

    def has_add_permission(self, request):
        return False  # written from the incident page ("Write the post-mortem"), through postmortem_create

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if changes:
            postmortem_update(postmortem_id=obj.pk, changes=changes, actor=request.user)

    def save_related(self, request, form, formsets, change):
        if form.instance.state == PostMortemState.DRAFT:
            super().save_related(request, form, formsets, change)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:  # refused by the service (say, no longer a draft): nothing saved
            self.message_user(request, "Not saved. " + " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def response_change(self, request, obj):
        if SAVE_AND_SUBMIT not in request.POST:
            return super().response_change(request, obj)
        try:
            postmortem_submit(postmortem_id=obj.pk, actor=request.user)
        except PermissionDenied as exc:
            self.message_user(request, f"Your text is saved. {exc or 'You may not do that.'}", messages.ERROR)
        except ValidationError as exc:
            self.message_user(
                request, "Your text is saved, but not submitted. " + " ".join(exc.messages), messages.ERROR
            )
        else:
            self.message_user(request, "Saved and submitted for review.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:incidents_postmortem_change", args=[obj.pk]))

    @admin.display(description="incident", ordering="incident_id")
    def incident_ref(self, obj):
        url = reverse("admin:incidents_incident_change", args=[obj.incident_id])
        return format_html('<a href="{}">{}</a>', url, obj.incident.reference)

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return format_html('<span class="fl-state fl-{}">{}</span>', STATE_COLOURS[obj.state], obj.get_state_display())

    @admin.display(description="reviewers")
    def reviewers(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        parts = []
        for row in obj.review_status():
            approval = row["approval"]
            if approval:
                parts.append(
                    format_html(
                        '<li class="fl-approved">✓ <b>{}</b>: approved by {} at {}</li>',
                        row["label"],
                        approval.user.get_full_name() or approval.user.get_username(),
                        approval.approved_at.strftime("%Y-%m-%d %H:%M UTC"),
                    )
                )
            else:
                parts.append(format_html('<li class="fl-needed">◯ <b>{}</b>: still needed</li>', row["label"]))
        return format_html(
            '<ul class="fl-reviewers" style="margin:0;padding-left:0;list-style:none">{}</ul>',
            format_html_join("", "{}", ((part,) for part in parts)),
        )

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        url = reverse("postmortem-pdf", args=[obj.incident_id])
        return format_html('<a href="{}">Download PDF</a> · <a href="{}?variant=public">public version</a>', url, url)

    def get_urls(self):
        own = [
            re_path(
                r"^write/(?P<incident_id>\d+)/$",
                self.admin_site.admin_view(self.write_view),
                name="incidents_postmortem_write",
            ),
        ]
        return self.action_urls() + own + super().get_urls()

    def write_view(self, request, incident_id):
        """The incident page's "Write the post-mortem": start it from the template, then edit it."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident_id = int(incident_id)
        if not visible_incidents(user=request.user).filter(pk=incident_id).exists():
            raise Http404("No such incident.")
        existing = PostMortem.objects.filter(incident_id=incident_id).first()
        if existing is not None:  # a second click, or a colleague was quicker: open the one there is
            self.message_user(request, "This incident has a post-mortem already.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:incidents_postmortem_change", args=[existing.pk]))
        try:
            postmortem = postmortem_create(incident_id=incident_id, actor=request.user)
        except (PermissionDenied, Incident.DoesNotExist) as exc:
            self.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident_id]))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident_id]))
        self.message_user(
            request,
            "Post-mortem started from the template (the root cause is filled from the investigation): "
            "write each section, save, then submit it for review.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:incidents_postmortem_change", args=[postmortem.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        postmortem = self.get_queryset(request).select_related("incident").filter(pk=object_id).first()
        if postmortem is not None:
            status = postmortem.review_status()
            missing = {row["role"] for row in status if row["approval"] is None}
            required = {row["role"] for row in status}
            my_roles = reviewer_roles_of(request.user, postmortem.incident) & required
            # Request changes and Approve only for a reviewer of this post-mortem; Approve until their role approved
            extra_context["pm_actions"] = [
                (name, label)
                for name, label in self.action_buttons(request, postmortem)
                if (name not in ("approve", "request_changes") or my_roles)
                and (name != "approve" or my_roles & missing)
            ]
            extra_context["pm_object"] = postmortem
            extra_context["pm_save_and_submit"] = SAVE_AND_SUBMIT
            extra_context["pm_review"] = status
            extra_context["pm_my_roles"] = sorted(my_roles)
            extra_context["pm_key_events"] = list(postmortem.key_events())
            extra_context["pm_revisions"] = list(postmortem.revisions.select_related("created_by").order_by("number"))
            extra_context["pm_pending"] = (
                postmortem_pending_changes(postmortem) if postmortem.state == PostMortemState.PUBLISHED else ""
            )
            extra_context.update(action_items_context(request, postmortem.incident, back="postmortem"))
        return super().change_view(request, object_id, form_url, extra_context)

    def action_kwargs(self, request, name: str) -> dict:
        if name == "request_changes":
            form = RequestChangesForm(request.POST)
            return {"note": form.cleaned_data["note"] if form.is_valid() else ""}
        if name == "revise":
            return {"reason": (request.POST.get("reason") or "").strip()[:4000]}
        return {}
