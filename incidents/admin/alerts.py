"""Admin for the alert inbox, the raw payloads and the routing rules."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils.html import format_html

from incidents.constants import Category
from incidents.models import AIFeature, Alert, AlertPayload, AlertRoutingRule, AlertState, Incident, PayloadStatus
from incidents.selectors import visible_incidents
from incidents.services import record_save
from incidents.services.alerts import alerts_attach, alerts_dismiss, alerts_open_incident


class InboxFilter(admin.SimpleListFilter):
    """The inbox first: what no rule could route is what needs a person."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("inbox", "In the inbox"), ("routed", "Routed"), ("dismissed", "Dismissed"), ("all", "All")]

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": (self.value() or "inbox") == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "inbox"
        return queryset if value == "all" else queryset.filter(state=value)


class AlertActionForm(ActionForm):
    incident = forms.IntegerField(
        required=False, min_value=1, label="Incident #", widget=forms.NumberInput(attrs={"style": "width:90px"})
    )
    feature = forms.ModelChoiceField(queryset=AIFeature.objects.order_by("name"), required=False)
    category = forms.ChoiceField(choices=[("", "category…")] + Category.choices, required=False)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["received_at", "name", "status", "labels_text", "why", "incident", "is_duplicate"]
    list_filter = [InboxFilter, "integration", "status"]
    list_select_related = ["incident"]
    search_fields = ["name", "fingerprint"]
    readonly_fields = [f.name for f in Alert._meta.fields]
    action_form = AlertActionForm
    actions = ["attach", "open_incident", "dismiss"]
    list_per_page = 100

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(Q(incident__isnull=True) | Q(incident__in=visible_incidents(user=request.user).values("pk")))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="labels")
    def labels_text(self, obj):
        return ", ".join(f"{k}={v}" for k, v in sorted(obj.labels.items()))[:200]

    @admin.display(description="why in the inbox")
    def why(self, obj):
        return obj.annotations.get("fireline_inbox_reason", "") if obj.state == AlertState.INBOX else ""

    def _do(self, request, func, success):
        try:
            result = func()
        except (PermissionDenied, ValidationError, Incident.DoesNotExist) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else (str(exc) or "Not allowed.")
            self.message_user(request, text, messages.ERROR)
            return None
        self.message_user(request, success(result), messages.SUCCESS)
        return result

    @admin.action(description="Attach to incident # (give the number)")
    def attach(self, request, queryset):
        incident_id = request.POST.get("incident")
        if not incident_id or not incident_id.isdigit():
            self.message_user(request, "Give the incident number to attach the alerts to.", messages.ERROR)
            return
        self._do(
            request,
            lambda: alerts_attach(
                alert_ids=list(queryset.values_list("pk", flat=True)), incident_id=int(incident_id), actor=request.user
            ),
            lambda incident: f"Attached to {incident.reference}.",
        )

    @admin.action(description="Open an incident from them (choose feature and category)")
    def open_incident(self, request, queryset):
        feature_id, category = request.POST.get("feature"), request.POST.get("category")
        feature = AIFeature.objects.filter(pk=feature_id).first() if feature_id and feature_id.isdigit() else None
        if feature is None or category not in Category.values:
            self.message_user(request, "Choose the AI feature and the category for the new incident.", messages.ERROR)
            return
        self._do(
            request,
            lambda: alerts_open_incident(
                alert_ids=list(queryset.values_list("pk", flat=True)),
                feature=feature,
                category=category,
                actor=request.user,
            ),
            lambda incident: f"Opened {incident.reference}.",
        )

    @admin.action(description="Dismiss (noise, not an incident)")
    def dismiss(self, request, queryset):
        self._do(
            request,
            lambda: alerts_dismiss(alert_ids=list(queryset.values_list("pk", flat=True)), actor=request.user),
            lambda n: f"Dismissed {n} alert(s).",
        )


@admin.register(AlertPayload)
class AlertPayloadAdmin(admin.ModelAdmin):
    """Every payload as it arrived; the failed ones with what was wrong."""

    list_display = ["received_at", "integration", "status_badge", "error_short", "summary"]
    list_filter = ["status", "integration"]
    readonly_fields = [
        "integration",
        "received_at",
        "content_type",
        "token",
        "status",
        "error",
        "pretty_body",
        "result",
        "processed_at",
    ]
    exclude = ["body"]
    list_per_page = 100

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        colour = {PayloadStatus.PROCESSED: "green", PayloadStatus.FAILED: "red"}.get(obj.status, "amber")
        return format_html('<span class="fl-state fl-{}">{}</span>', colour, obj.get_status_display())

    @admin.display(description="error")
    def error_short(self, obj):
        return obj.error[:200]

    @admin.display(description="result")
    def summary(self, obj):
        r = obj.result or {}
        if not r:
            return ""
        return (
            f"{r.get('alerts', 0)} alerts: {len(r.get('incidents_opened', []))} opened, "
            f"{r.get('deduplicated', 0)} deduplicated, {r.get('inboxed', 0)} inboxed"
        )

    @admin.display(description="body")
    def pretty_body(self, obj):
        try:
            text = json.dumps(json.loads(obj.body), indent=2)
        except ValueError:
            text = obj.body
        return format_html('<pre style="white-space:pre-wrap;max-height:600px;overflow:auto">{}</pre>', text)


class RoutingRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRoutingRule
        fields = ["name", "position", "matchers", "feature", "feature_label", "category", "impact", "is_active"]

    def clean_matchers(self):
        value = self.cleaned_data["matchers"]
        if not isinstance(value, dict) or not value:
            raise ValidationError('Give the labels to match as an object, e.g. {"signal": "refusal_rate"}.')
        bad = [k for k, v in value.items() if not isinstance(v, str)]
        if bad:
            raise ValidationError(f"Label values must be strings: {', '.join(bad)}.")
        return value


@admin.register(AlertRoutingRule)
class AlertRoutingRuleAdmin(admin.ModelAdmin):
    form = RoutingRuleForm
    list_display = ["position", "name", "matchers_text", "feature", "feature_label", "category", "impact", "is_active"]
    list_display_links = ["name"]
    list_editable = ["is_active"]
    list_select_related = ["feature"]
    audited_fields = ["name", "position", "matchers", "feature", "feature_label", "category", "impact", "is_active"]

    def save_model(self, request, obj, form, change):
        record_save(instance=obj, actor=request.user, fields=self.audited_fields)

    @admin.display(description="when labels match")
    def matchers_text(self, obj):
        return ", ".join(f"{k}={v}" for k, v in obj.matchers.items())
