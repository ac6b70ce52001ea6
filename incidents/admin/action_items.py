"""Action items in the admin: the list of every follow-up (post-mortem and drill), the card on the
incident and post-mortem pages that adds and closes them, the timeline's star button, and the
post-mortem distribution lists.

Everything writes through the services; restricted incidents' items are visible only to those who may
see the incident.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from incidents.constants import StakeholderRole
from incidents.models import (
    ActionItem,
    ActionItemKind,
    ActionItemState,
    DistributionList,
    Incident,
    TimelineEntry,
)
from incidents.selectors import visible_incidents
from incidents.services.action_items import (
    action_item_complete,
    action_item_create,
    action_item_update,
    action_item_wont_do,
)
from incidents.services.postmortems import timeline_entry_star

from .forms import staff_users

STATE_COLOURS = {ActionItemState.OPEN: "amber", ActionItemState.DONE: "green", ActionItemState.WONT_DO: "grey"}
REFERENCE = re.compile(r"^\s*(?:INC-)?(\d+)\s*$", re.IGNORECASE)


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(
            f"{name.replace('_', ' ').capitalize()}: {' '.join(errors)}" if name != "__all__" else " ".join(errors)
            for name, errors in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def _form_errors(form) -> str:
    return " ".join(
        f"{form[name].label if name in form.fields else 'Form'}: {' '.join(errors)}"
        for name, errors in form.errors.items()
    )


class ActionItemCardForm(forms.Form):
    """The one-line form on the incident and post-mortem pages."""

    title = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"placeholder": "what will change"}))
    kind = forms.ChoiceField(label="Type", choices=ActionItemKind.choices)
    owner = forms.ModelChoiceField(queryset=staff_users())
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_ai_%s")
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = staff_users()


class WontDoForm(forms.Form):
    reason = forms.CharField(max_length=4000)


def action_items_context(request, incident: Incident, *, back: str) -> dict:
    """The action items card: two queries (the items with their owners, the owner choices when shown)."""
    items = list(incident.action_items.select_related("owner").order_by("due_date", "id"))
    items.sort(key=lambda item: item.state != ActionItemState.OPEN)  # open ones first, soonest due on top
    today = timezone.localdate()
    user = request.user
    can_change = user.has_perm("incidents.change_actionitem")
    return {
        "ai_items": [
            {
                "item": item,
                "is_overdue": item.state == ActionItemState.OPEN and item.due_date < today,
                "colour": STATE_COLOURS[item.state],
                "can_close": item.state == ActionItemState.OPEN and (can_change or item.owner_id == user.pk),
            }
            for item in items
        ],
        "ai_open_count": sum(item.state == ActionItemState.OPEN for item in items),
        "ai_overdue_count": sum(item.state == ActionItemState.OPEN and item.due_date < today for item in items),
        "ai_can_add": user.has_perm("incidents.add_actionitem"),
        "ai_form": ActionItemCardForm(initial={"owner": incident.commander_id}),
        "ai_back": back,
        "ai_incident": incident,
    }


class IncidentFollowupAdminMixin:
    """For the incident page: the action items card and the timeline's key-event star."""

    def followup_urls(self):
        return [
            path(
                "<int:pk>/timeline/<int:entry_id>/star/",
                self.admin_site.admin_view(self.star_view),
                name="incidents_incident_star",
            )
        ]

    def followup_context(self, request, incident: Incident) -> dict:
        context = action_items_context(request, incident, back="incident")
        context["can_star"] = request.user.has_perm("incidents.change_incident")
        return context

    def star_view(self, request, pk, entry_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not visible_incidents(user=request.user).filter(pk=pk).exists():
            raise Http404("No such incident.")
        if not TimelineEntry.objects.filter(pk=entry_id, incident_id=pk).exists():
            raise Http404("No such timeline entry.")
        star = request.POST.get("star") == "1"
        try:
            timeline_entry_star(entry_id=entry_id, is_key_event=star, actor=request.user)
        except PermissionDenied as exc:
            self.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
        else:
            self.message_user(
                request, "Starred as a key event." if star else "No longer a key event.", messages.SUCCESS
            )
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[pk]) + f"#tl-{entry_id}")


class OverdueFilter(admin.SimpleListFilter):
    title = "due"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("week", "Due within 7 days"), ("later", "Due later")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "overdue":
            return queryset.overdue(today)
        if self.value() == "week":
            return queryset.open().filter(due_date__gte=today, due_date__lte=today + timezone.timedelta(days=7))
        if self.value() == "later":
            return queryset.open().filter(due_date__gt=today + timezone.timedelta(days=7))
        return queryset


class ActionItemAdminForm(forms.ModelForm):
    class Meta:
        model = ActionItem
        fields = ["incident", "source", "title", "kind", "owner", "due_date", "details"]

    def clean_due_date(self):
        due_date = self.cleaned_data["due_date"]
        if due_date and "due_date" in self.changed_data and due_date < timezone.localdate():
            raise ValidationError("The due date is in the past: pick today or later.")
        return due_date


@admin.register(ActionItem)
class ActionItemAdmin(admin.ModelAdmin):
    """Every action item, post-mortem and drill follow-ups together; overdue ones in red."""

    form = ActionItemAdminForm
    change_form_template = "admin/incidents/actionitem/change_form.html"
    list_display = ["title", "incident_ref", "source", "kind", "owner", "due", "state_badge"]
    list_filter = ["state", "kind", "source", OverdueFilter, ("owner", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["incident", "owner"]
    search_fields = ["title", "details", "incident__title"]
    search_help_text = "Search the title, or an incident reference such as INC-12."
    autocomplete_fields = ["incident"]
    list_per_page = 100
    status_fields = ["incident_ref", "state_badge", "wont_do_reason", "closed_at", "closed_by", "created_by"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(incident__in=visible_incidents(user=request.user))

    def get_search_results(self, request, queryset, search_term):
        match = REFERENCE.match(search_term or "")
        if match:
            return queryset.filter(incident_id=int(match.group(1))), False
        return super().get_search_results(request, queryset, search_term)

    def has_delete_permission(self, request, obj=None):
        return False  # closed as done or won't do, never deleted: the follow-up is the record

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "incident":
            kwargs["queryset"] = visible_incidents(user=request.user)
        if db_field.name == "owner":
            kwargs["queryset"] = staff_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["incident", "source", "title", "kind", "owner", "due_date", "details"]
        return [*self.status_fields, "source", "title", "kind", "owner", "due_date", "details"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.state != ActionItemState.OPEN:
            return self.get_fields(request, obj)
        return [*self.status_fields, "source"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in data}
            if changes:
                action_item_update(item_id=obj.pk, changes=changes, actor=request.user)
        else:
            created = action_item_create(
                incident_id=data["incident"].pk,
                title=data["title"],
                kind=data["kind"],
                owner=data["owner"],
                due_date=data["due_date"],
                details=data.get("details") or "",
                source=data["source"],
                actor=request.user,
            )
            obj.pk = obj.id = created.pk

    # --- columns ---------------------------------------------------------------------------------

    @admin.display(description="incident", ordering="incident_id")
    def incident_ref(self, obj):
        url = reverse("admin:incidents_incident_change", args=[obj.incident_id])
        drill = " (drill)" if obj.incident.is_drill else ""
        return format_html('<a href="{}">{}</a>{}', url, obj.incident.reference, drill)

    @admin.display(description="due", ordering="due_date")
    def due(self, obj):
        if obj.is_overdue:
            late = (timezone.localdate() - obj.due_date).days
            return format_html(
                '<span class="fl-overdue" style="color:#c62828;font-weight:bold">{} · overdue {} day{}</span>',
                obj.due_date.isoformat(),
                late,
                "" if late == 1 else "s",
            )
        return obj.due_date.isoformat()

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return format_html('<span class="fl-state fl-{}">{}</span>', STATE_COLOURS[obj.state], obj.get_state_display())

    # --- the buttons -------------------------------------------------------------------------------

    def get_urls(self):
        own = [
            path(
                "add-to/<int:incident_id>/",
                self.admin_site.admin_view(self.add_to_view),
                name="incidents_actionitem_add_to",
            ),
            path(
                "<int:pk>/close/<str:how>/",
                self.admin_site.admin_view(self.close_view),
                name="incidents_actionitem_close",
            ),
        ]
        return own + super().get_urls()

    def _back(self, request, incident_id: int, item_id: int | None = None):
        back = request.POST.get("back")
        if back == "postmortem":
            pm = Incident.objects.filter(pk=incident_id).values_list("postmortem__pk", flat=True).first()
            if pm:
                return HttpResponseRedirect(reverse("admin:incidents_postmortem_change", args=[pm]) + "#action-items")
        if back == "item" and item_id:
            return HttpResponseRedirect(reverse("admin:incidents_actionitem_change", args=[item_id]))
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident_id]) + "#action-items")

    def _run(self, request, func, success: str):
        try:
            func()
        except Incident.DoesNotExist as exc:
            raise Http404("No such incident.") from exc
        except PermissionDenied as exc:
            self.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, _errors(exc), messages.ERROR)
        else:
            self.message_user(request, success, messages.SUCCESS)

    def add_to_view(self, request, incident_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not visible_incidents(user=request.user).filter(pk=incident_id).exists():
            raise Http404("No such incident.")
        form = ActionItemCardForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Action item not added. " + _form_errors(form), messages.ERROR)
            return self._back(request, incident_id)
        data = form.cleaned_data
        self._run(
            request,
            lambda: action_item_create(
                incident_id=incident_id,
                title=data["title"],
                kind=data["kind"],
                owner=data["owner"],
                due_date=data["due_date"],
                actor=request.user,
            ),
            "Action item added.",
        )
        return self._back(request, incident_id)

    def close_view(self, request, pk, how):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        item = self.get_queryset(request).filter(pk=pk).first()
        if item is None or how not in ("done", "wont_do"):
            raise Http404("No such action item.")
        if how == "done":
            self._run(request, lambda: action_item_complete(item_id=pk, actor=request.user), "Marked done.")
        else:
            form = WontDoForm(request.POST)
            reason = form.cleaned_data["reason"] if form.is_valid() else ""
            self._run(
                request,
                lambda: action_item_wont_do(item_id=pk, reason=reason, actor=request.user),
                "Marked won't do.",
            )
        return self._back(request, item.incident_id, pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        item = self.get_queryset(request).select_related("owner").filter(pk=object_id).first()
        if item is not None:
            extra_context["ai_object"] = item
            extra_context["ai_can_close"] = item.state == ActionItemState.OPEN and (
                request.user.has_perm("incidents.change_actionitem") or item.owner_id == request.user.pk
            )
        return super().change_view(request, object_id, form_url, extra_context)


class DistributionListForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(
        choices=StakeholderRole.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = DistributionList
        fields = ["severity", "roles", "contacts", "emails", "include_commander"]


@admin.register(DistributionList)
class DistributionListAdmin(admin.ModelAdmin):
    """Who hears of a published post-mortem, per severity. Drills tell only their participants."""

    form = DistributionListForm
    list_display = ["severity", "roles_text", "contact_count", "include_commander"]
    filter_horizontal = ["contacts"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_contacts=Count("contacts"))

    @admin.display(description="roles (tier-1 contacts)")
    def roles_text(self, obj):
        labels = dict(StakeholderRole.choices)
        return ", ".join(labels.get(r, r) for r in obj.roles or []) or "—"

    @admin.display(description="named contacts")
    def contact_count(self, obj):
        return obj.n_contacts


__all__ = [
    "ActionItemAdmin",
    "DistributionListAdmin",
    "IncidentFollowupAdminMixin",
    "action_items_context",
]
