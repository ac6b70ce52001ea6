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
from django.utils.html import format_html

from incidents.models import Learning, PostMortem, PostMortemState, PostMortemTemplate
from incidents.models.postmortems import SECTIONS
from incidents.selectors import visible_incidents
from incidents.services.postmortems import (
    postmortem_approve,
    postmortem_publish,
    postmortem_request_changes,
    postmortem_submit,
    postmortem_update,
)

# action -> (service, permission, label, states it applies to)
ACTIONS = {
    "submit": (postmortem_submit, "incidents.change_postmortem", "Submit for review", [PostMortemState.DRAFT]),
    "request_changes": (
        postmortem_request_changes,
        "incidents.approve_postmortem",
        "Request changes",
        [PostMortemState.IN_REVIEW],
    ),
    "approve": (postmortem_approve, "incidents.approve_postmortem", "Approve", [PostMortemState.IN_REVIEW]),
    "publish": (postmortem_publish, "incidents.publish_postmortem", "Publish", [PostMortemState.APPROVED]),
}


@admin.register(PostMortemTemplate)
class PostMortemTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default", "classification_marking"]
    fields = ["name", "is_default", "classification_marking", *[name for name, _ in SECTIONS]]


class LearningInline(admin.TabularInline):
    model = Learning
    fields = ["scope", "text"]
    extra = 0


@admin.register(Learning)
class LearningAdmin(admin.ModelAdmin):
    """The learning library: every learning, searchable, filtered to transferable ones by default use."""

    list_display = ["text_short", "scope", "incident_ref"]
    list_filter = ["scope"]
    search_fields = ["text"]
    list_select_related = ["postmortem__incident"]

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


class RequestChangesForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea, max_length=4000)


@admin.register(PostMortem)
class PostMortemAdmin(admin.ModelAdmin):
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
        return [*self.status_fields, "classification_marking", *[name for name, _ in SECTIONS]]

    def get_readonly_fields(self, request, obj=None):
        if obj is None or obj.state != PostMortemState.DRAFT:
            return self.get_fields(request, obj)  # review is of a fixed text
        return self.status_fields

    def has_add_permission(self, request):
        return False  # created from the incident through postmortem_create

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if changes:
            postmortem_update(postmortem_id=obj.pk, changes=changes, actor=request.user)

    def save_related(self, request, form, formsets, change):
        if form.instance.state == PostMortemState.DRAFT:
            super().save_related(request, form, formsets, change)

    @admin.display(description="incident", ordering="incident_id")
    def incident_ref(self, obj):
        url = reverse("admin:incidents_incident_change", args=[obj.incident_id])
        return format_html('<a href="{}">{}</a>', url, obj.incident.reference)

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return format_html('<span class="fl-state">{}</span>', obj.get_state_display())

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return format_html('<a href="{}">Download PDF</a>', reverse("postmortem-pdf", args=[obj.incident_id]))

    def get_urls(self):
        own = [
            re_path(
                r"^(?P<pk>\d+)/(?P<action>submit|request_changes|approve|publish)/$",
                self.admin_site.admin_view(self.action_view),
                name="incidents_postmortem_action",
            )
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        postmortem = self.get_queryset(request).filter(pk=object_id).first()
        if postmortem is not None:
            extra_context["pm_actions"] = [
                (name, label)
                for name, (_, permission, label, states) in ACTIONS.items()
                if postmortem.state in states and request.user.has_perm(permission)
            ]
            extra_context["pm_object"] = postmortem
        return super().change_view(request, object_id, form_url, extra_context)

    def action_view(self, request, pk, action):
        pk = int(pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in ACTIONS or not self.get_queryset(request).filter(pk=pk).exists():
            raise Http404("No such post-mortem.")
        service, permission, label, _ = ACTIONS[action]
        kwargs = {"postmortem_id": pk, "actor": request.user}
        if action == "request_changes":
            form = RequestChangesForm(request.POST)
            kwargs["note"] = form.cleaned_data["note"] if form.is_valid() else ""
        try:
            if not request.user.has_perm(permission):
                raise PermissionDenied(f"You may not {label.lower()}.")
            service(**kwargs)
        except PermissionDenied as exc:
            self.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            self.message_user(request, f"{label}: done.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:incidents_postmortem_change", args=[pk]))
