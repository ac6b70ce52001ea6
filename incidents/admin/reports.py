"""Admin for the user report inbox.

A responder reads the inbox, sees which reports belong together, and attaches them to an incident,
opens one from them, or dismisses them. Similar open reports (same feature and category, or the same
AI request) are counted on every row and the biggest groups are shown above the list, so fifty
reports of one problem read as one systemic issue, not fifty annoyances.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator

from incidents.constants import Category
from incidents.models import Incident, ReportState, UserReport
from incidents.selectors import visible_incidents
from incidents.services.reports import (
    DISMISS_REASON_MAX,
    report_attach,
    report_dismiss,
    report_groups,
    report_list,
    report_open_incident,
    report_visibility_q,
    similar_open_q,
)

from .incident import STATE_COLOURS, _error_text

# Reasons responders give most; the field takes any text.
DISMISS_SUGGESTIONS = [
    "Spam or abuse of the form",
    "Not an AI problem: a product bug or a support request",
    "The answer was correct",
    "Not enough information to act on",
    "Test report",
]
SYSTEMIC_AT = 5  # this many similar open reports get the alarm colour


class ReportStateFilter(admin.SimpleListFilter):
    """The inbox by default: what nobody has triaged yet is what needs a person."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [*ReportState.choices, ("all", "All")]

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": (self.value() or ReportState.INBOX) == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or ReportState.INBOX
        return queryset if value == "all" else queryset.filter(state=value)


class _OnlyWhenActiveFilter(admin.SimpleListFilter):
    """A filter reached by links (a group, a row's count); it shows in the sidebar only while in use."""

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, self.describe(value))] if value else []

    def describe(self, value) -> str:
        return value


class SimilarToFilter(_OnlyWhenActiveFilter):
    title = "similar to"
    parameter_name = "similar_to"

    def describe(self, value) -> str:
        return f"report #{value}"

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        seed = (
            UserReport.objects.filter(report_visibility_q(request.user), pk=int(value)).first()
            if value.isdigit()
            else None
        )
        return queryset.filter(similar_open_q(seed)) if seed else queryset.none()


class RequestIdFilter(_OnlyWhenActiveFilter):
    title = "request id"
    parameter_name = "request_id"

    def queryset(self, request, queryset):
        return queryset.filter(request_id=self.value()) if self.value() else queryset


class CategoryFilter(admin.SimpleListFilter):
    """Like the built-in one, plus "none given" (reporters may skip the category)."""

    title = "category"
    parameter_name = "category"
    NONE = "none"

    def lookups(self, request, model_admin):
        return [*Category.choices, (self.NONE, "None given")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(category="" if value == self.NONE else value)


class IncidentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        severity = obj.severity or "untriaged"
        return f"{obj.reference} · {severity} · {obj.get_state_display()} · {obj.feature.name} · {obj.title}"


class AttachForm(forms.Form):
    incident = IncidentChoiceField(queryset=Incident.objects.none(), empty_label="Choose an open incident…")

    def __init__(self, *args, user, feature_ids, **kwargs):
        super().__init__(*args, **kwargs)
        # Only open, real incidents this user may see; those about the same feature first.
        self.fields["incident"].queryset = (
            visible_incidents(user=user)
            .open()
            .real()
            .select_related("feature")
            .annotate(
                other_feature=Case(
                    When(feature_id__in=feature_ids, then=Value(0)), default=1, output_field=IntegerField()
                )
            )
            .order_by("other_feature", "-detected_at", "-id")
        )


class DismissForm(forms.Form):
    reason = forms.CharField(
        max_length=DISMISS_REASON_MAX,
        label="Why are these reports dismissed?",
        widget=forms.TextInput(attrs={"list": "dismiss-suggestions", "size": 70, "autofocus": True}),
    )


@admin.register(UserReport)
class UserReportAdmin(admin.ModelAdmin):
    change_list_template = "admin/incidents/userreport/change_list.html"
    list_display = [
        "received",
        "about",
        "report_text",
        "similar",
        "request",
        "where",
    ]
    list_display_links = ["received"]
    list_filter = [ReportStateFilter, SimilarToFilter, RequestIdFilter, "feature", CategoryFilter, "source"]
    search_fields = ["what_user_saw", "what_was_wrong", "request_id", "feature__key", "feature__name"]
    ordering = ["-received_at", "-id"]
    list_per_page = 100
    actions = ["attach_to_incident", "open_incident", "dismiss"]
    fieldsets = [
        (None, {"fields": ["feature", "category", "what_user_saw", "what_was_wrong", "request_id"]}),
        ("Received", {"fields": ["received_at", "source", "contact_shown"]}),
        ("Triage", {"fields": ["state", "incident_link", "handled_by", "handled_at", "similar"]}),
    ]
    readonly_fields = [
        "feature",
        "category",
        "what_user_saw",
        "what_was_wrong",
        "request_id",
        "received_at",
        "source",
        "contact_shown",
        "state",
        "incident_link",
        "handled_by",
        "handled_at",
        "similar",
    ]

    def get_queryset(self, request):
        return report_list(user=request.user)

    def has_add_permission(self, request):
        return False  # reports come from users, through the API or the public form

    def has_change_permission(self, request, obj=None):
        # Triage (the actions) needs the change permission; a report itself is never edited.
        return obj is None and super().has_change_permission(request)

    def get_list_display(self, request):
        # In the inbox every row's state is "in the inbox": the column only takes room from the text.
        if request.GET.get(ReportStateFilter.parameter_name, ReportState.INBOX) == ReportState.INBOX:
            return [name for name in self.list_display if name != "where"]
        return self.list_display

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        groups = report_groups(user=request.user)
        for group in groups:
            if "request_id" in group:
                group["query"] = urlencode({"request_id": group["request_id"]})
            else:
                group["query"] = urlencode(
                    {"feature__id__exact": group["feature_id"], "category": group["category"] or CategoryFilter.NONE}
                )
        extra_context["report_groups"] = groups
        extra_context.setdefault("title", "User report inbox")
        extra_context["systemic_at"] = SYSTEMIC_AT
        return super().changelist_view(request, extra_context)

    # --- columns --------------------------------------------------------------------------------

    @admin.display(description="received", ordering="received_at")
    def received(self, obj):
        return format_html(
            '<span title="{}">#{}<br><span class="fl-muted">{}</span></span>',
            obj.received_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            obj.pk,
            obj.received_at.strftime("%d %b %H:%M"),
        )

    @admin.display(description="feature · category", ordering="feature__name")
    def about(self, obj):
        return format_html(
            '{}<br><span class="fl-muted">{}</span>', obj.feature.name, obj.get_category_display() or "no category"
        )

    @admin.display(description="what the user saw · what was wrong")
    def report_text(self, obj):
        return format_html(
            '<div class="fl-quote">{}</div><div class="fl-why">{}</div>',
            Truncator(obj.what_user_saw).chars(160),
            Truncator(obj.what_was_wrong).chars(160),
        )

    @admin.display(description="similar open", ordering="similar_open")
    def similar(self, obj):
        count = getattr(obj, "similar_open", None)
        if count is None:  # the detail page: one report, counted on demand
            count = UserReport.objects.filter(similar_open_q(obj)).count()
        others = count - (1 if obj.state == ReportState.INBOX else 0)
        if others <= 0:
            return format_html('<span class="fl-muted">{}</span>', "none")
        url = reverse("admin:incidents_userreport_changelist") + "?" + urlencode({"similar_to": obj.pk})
        css = "fl-similar fl-systemic" if count >= SYSTEMIC_AT else "fl-similar"
        return format_html(
            '<a class="{}" href="{}" title="Open reports with the same feature and category, or the same request id">'
            "{} open</a>",
            css,
            url,
            count,
        )

    @admin.display(description="request id", ordering="request_id")
    def request(self, obj):
        if not obj.request_id:
            return ""
        url = reverse("admin:incidents_userreport_changelist") + "?" + urlencode({"request_id": obj.request_id})
        return format_html('<a href="{}"><code>{}</code></a>', url, Truncator(obj.request_id).chars(24))

    @admin.display(description="state", ordering="state")
    def where(self, obj):
        if obj.state == ReportState.ATTACHED and obj.incident_id:
            return format_html(
                '<a href="{}"><span class="fl-state fl-{}">{}</span></a>',
                reverse("admin:incidents_incident_change", args=[obj.incident_id]),
                STATE_COLOURS[obj.incident.state],
                obj.incident.reference,
            )
        colour = {ReportState.INBOX: "orange", ReportState.DISMISSED: "grey"}.get(obj.state, "blue")
        return format_html('<span class="fl-state fl-{}">{}</span>', colour, obj.get_state_display())

    @admin.display(description="incident")
    def incident_link(self, obj):
        if not obj.incident_id:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:incidents_incident_change", args=[obj.incident_id]), obj.incident
        )

    @admin.display(description="contact")
    def contact_shown(self, obj):
        if not obj.contact:
            return "none given"
        return f"{obj.contact} (the reporter agreed to be contacted about this report)"

    # --- actions ----------------------------------------------------------------------------------

    def _intermediate(self, request, queryset, *, action, title, form, template):
        reports = list(queryset.select_related("feature").order_by("-received_at", "-id"))
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "action": action,
            "form": form,
            "reports": reports[:20],
            "more": max(len(reports) - 20, 0),
            "report_count": len(reports),
            "selected_ids": [r.pk for r in reports],
            "checkbox_name": ACTION_CHECKBOX_NAME,
            "dismiss_suggestions": DISMISS_SUGGESTIONS,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, template, context)

    def _report(self, request, exc) -> None:
        if isinstance(exc, ValidationError):
            text = _error_text(exc)
        elif isinstance(exc, Incident.DoesNotExist):
            text = "No incident with that id."
        else:
            text = str(exc) or "You may not do that."
        self.message_user(request, text, messages.ERROR)

    @admin.action(description="Attach to incident…", permissions=["change"])
    def attach_to_incident(self, request, queryset):
        feature_ids = set(queryset.values_list("feature_id", flat=True))
        if "apply" in request.POST:
            form = AttachForm(request.POST, user=request.user, feature_ids=feature_ids)
            if form.is_valid():
                ids = list(queryset.values_list("pk", flat=True))
                try:
                    incident = report_attach(
                        report_ids=ids, incident_id=form.cleaned_data["incident"].pk, actor=request.user
                    )
                except (PermissionDenied, ValidationError, Incident.DoesNotExist) as exc:
                    self._report(request, exc)
                    return None
                self.message_user(request, f"{len(ids)} report(s) attached to {incident.reference}.", messages.SUCCESS)
                return None
        else:
            form = AttachForm(user=request.user, feature_ids=feature_ids)
        return self._intermediate(
            request,
            queryset,
            action="attach_to_incident",
            title="Attach reports to an incident",
            form=form,
            template="admin/incidents/userreport/action_form.html",
        )

    @admin.action(description="Open an incident from these reports", permissions=["change"])
    def open_incident(self, request, queryset):
        try:
            incident = report_open_incident(report_ids=list(queryset.values_list("pk", flat=True)), actor=request.user)
        except (PermissionDenied, ValidationError, Incident.DoesNotExist) as exc:
            self._report(request, exc)
            return None
        self.message_user(
            request,
            f"{incident.reference} opened from {incident.users_affected} report(s). Check its category and impact.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident.pk]))

    @admin.action(description="Dismiss…", permissions=["change"])
    def dismiss(self, request, queryset):
        if "apply" in request.POST:
            form = DismissForm(request.POST)
            if form.is_valid():
                try:
                    count = report_dismiss(
                        report_ids=list(queryset.values_list("pk", flat=True)),
                        actor=request.user,
                        reason=form.cleaned_data["reason"],
                    )
                except (PermissionDenied, ValidationError) as exc:
                    self._report(request, exc)
                    return None
                self.message_user(request, f"{count} report(s) dismissed.", messages.SUCCESS)
                return None
        else:
            form = DismissForm()
        return self._intermediate(
            request,
            queryset,
            action="dismiss",
            title="Dismiss reports",
            form=form,
            template="admin/incidents/userreport/action_form.html",
        )
