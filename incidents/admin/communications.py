"""Communications in the admin: text edited while a draft, transitions as buttons, drafts started from the incident.

The list shows only communications of incidents the user can see. Approval buttons appear only to
those who may approve this audience (Legal and Communications for anything external).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import re_path, reverse
from django.utils.html import format_html

from incidents.constants import Audience
from incidents.models import Communication, CommunicationState, CommunicationTemplate, Incident
from incidents.selectors import visible_incidents
from incidents.services.communications import (
    GUIDANCE,
    communication_approve,
    communication_cancel,
    communication_create,
    communication_send,
    communication_send_back,
    communication_submit,
    communication_update,
)

from .workflow_buttons import WorkflowButtonsAdminMixin

S = CommunicationState

# The buttons, in order; which of them a user sees is the FSM's answer (state and permission).
ACTION_LABELS = {
    "submit": "Submit for approval",
    "send_back": "Send back",
    "approve": "Approve",
    "send": "Send",
    "cancel": "Cancel",
}


# "Submit for approval" on the change page posts the edited text with it: saved first, then submitted.
SAVE_AND_SUBMIT = "_save_and_submit"


def readable_error(exc: ValidationError) -> str:
    """The service's words, with the template's guidance quoted as text rather than as raw _Markdown_."""
    return " ".join(GUIDANCE.sub(lambda m: f"“{m.group(0)[1:-1]}”", message) for message in exc.messages)


@admin.register(CommunicationTemplate)
class CommunicationTemplateAdmin(admin.ModelAdmin):
    list_display = ["audience", "subject", "updated_at"]
    fields = ["audience", "subject", "body"]


class DraftForm(forms.Form):
    audience = forms.ChoiceField(choices=Audience.choices)
    recipients = forms.CharField(required=False, max_length=10000)


@admin.register(Communication)
class CommunicationAdmin(WorkflowButtonsAdminMixin, admin.ModelAdmin):
    action_labels = ACTION_LABELS
    action_services = {
        "submit": communication_submit,
        "send_back": communication_send_back,
        "approve": communication_approve,
        "send": communication_send,
        "cancel": communication_cancel,
    }
    action_id_argument = "communication_id"
    action_denied = "You may not {action} this communication."
    change_form_template = "admin/incidents/communication/change_form.html"
    list_display = ["incident_ref", "audience", "subject", "state_badge", "sent_at", "pdf_link"]
    list_filter = ["state", "audience"]
    list_select_related = ["incident"]
    search_fields = ["subject", "body"]
    status_fields = [
        "incident",
        "audience",
        "state_badge",
        "submitted_at",
        "approved_at",
        "approved_by",
        "cancelled_at",
        "cancel_reason",
        "sent_at",
        "sent_by",
        "sent_subject",
        "sent_body",
        "sent_recipients",
        "pdf_link",
    ]
    readonly_fields = status_fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(incident__in=visible_incidents(user=request.user))

    def get_fields(self, request, obj=None):
        return [*self.status_fields, "subject", "body", "recipients"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None or obj.state != S.DRAFT:
            return self.get_fields(request, obj)  # approval is of a fixed text
        return self.status_fields

    def has_add_permission(self, request):
        return False  # drafted from the incident page through communication_create

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if changes:
            communication_update(communication_id=obj.pk, changes=changes, actor=request.user)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:  # refused by the service (say, an address that is not one): nothing saved
            self.message_user(request, f"Not saved. {readable_error(exc)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def response_change(self, request, obj):
        if SAVE_AND_SUBMIT not in request.POST:
            return super().response_change(request, obj)
        back = HttpResponseRedirect(reverse("admin:incidents_communication_change", args=[obj.pk]))
        try:
            if not self.may_act(request.user, obj, "submit"):
                raise PermissionDenied(self.action_denied.format(action=ACTION_LABELS["submit"].lower()))
            communication_submit(communication_id=obj.pk, actor=request.user)
        except PermissionDenied as exc:
            self.message_user(request, f"Your text is saved. {exc or 'You may not do that.'}", messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, f"Your text is saved, but not submitted. {readable_error(exc)}", messages.ERROR)
        else:
            self.message_user(request, "Saved and submitted for approval.", messages.SUCCESS)
        return back

    @admin.display(description="incident", ordering="incident_id")
    def incident_ref(self, obj):
        url = reverse("admin:incidents_incident_change", args=[obj.incident_id])
        return format_html('<a href="{}">{}</a>', url, obj.incident.reference)

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return format_html('<span class="fl-state fl-{}">{}</span>', obj.state_colour, obj.get_state_display())

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        if obj is None or obj.pk is None or obj.state not in (S.APPROVED, S.SENT):
            return "after approval"
        url = reverse("communication-pdf", args=[obj.incident_id, obj.pk])
        return format_html('<a href="{}">PDF</a>', url)

    def get_urls(self):
        own = [
            re_path(
                r"^draft/(?P<incident_id>\d+)/$",
                self.admin_site.admin_view(self.draft_view),
                name="incidents_communication_draft",
            ),
        ]
        return self.action_urls() + own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        communication = self.get_queryset(request).select_related("incident").filter(pk=object_id).first()
        if communication is not None:
            extra_context["comm_actions"] = self.action_buttons(request, communication)
            extra_context["comm_object"] = communication
            extra_context["comm_save_and_submit"] = SAVE_AND_SUBMIT
        return super().change_view(request, object_id, form_url, extra_context)

    def action_kwargs(self, request, name: str) -> dict:
        if name == "send_back":
            return {"note": request.POST.get("note", "")}
        if name == "cancel":
            return {"reason": request.POST.get("reason", "")}
        return {}

    def action_error_text(self, exc: ValidationError) -> str:
        return readable_error(exc)

    def draft_view(self, request, incident_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident_id = int(incident_id)
        if not visible_incidents(user=request.user).filter(pk=incident_id).exists():
            raise Http404("No such incident.")
        back = reverse("admin:incidents_incident_change", args=[incident_id])
        form = DraftForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Choose an audience.", messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            communication = communication_create(
                incident_id=incident_id,
                audience=form.cleaned_data["audience"],
                recipients=form.cleaned_data["recipients"],
                actor=request.user,
            )
        except (PermissionDenied, Incident.DoesNotExist) as exc:
            self.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
            return HttpResponseRedirect(back)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(request, "Draft created from the template: edit it, then submit it.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:incidents_communication_change", args=[communication.pk]))
