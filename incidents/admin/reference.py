"""Admin for the reference data: AI features, the triage matrix, API tokens."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from incidents import containment_types
from incidents.constants import OPEN_STATES, Audience, StakeholderRole
from incidents.models import AIFeature, ApiToken, TriageRule
from incidents.services import record_save
from incidents.services.flags import killswitch_for
from incidents.services.tokens import api_token_revoke
from incidents.text import render_markdown

from .forms import TriageRuleForm


class AuditedSaveMixin:
    """Edits made in the admin go through record_save, so each one lands in the action log."""

    audited_fields: list[str] = []

    def save_model(self, request, obj, form, change):
        record_save(instance=obj, actor=request.user, fields=self.audited_fields)


@admin.register(AIFeature)
class AIFeatureAdmin(AuditedSaveMixin, SimpleHistoryAdmin):
    audited_fields = [
        "name",
        "key",
        "owner_team",
        "kill_switch_key",
        "model_provider",
        "current_model_version",
        "current_prompt_version",
        "fallback_description",
        "rollback_procedure",
        "redact_pii",
        "audit_retention_days",
    ]
    list_display = [
        "name",
        "key",
        "owner_team",
        "kill_switch_key",
        "current_model_version",
        "current_prompt_version",
        "open_incidents",
    ]
    search_fields = ["name", "key", "owner_team"]
    readonly_fields = ["rollback_procedure_preview", "fallback_preview"]
    fieldsets = [
        (None, {"fields": ["name", "key", "owner_team", "kill_switch_key"]}),
        ("What is serving now", {"fields": ["model_provider", "current_model_version", "current_prompt_version"]}),
        (
            "When it misbehaves",
            {
                "fields": [
                    "fallback_description",
                    "fallback_preview",
                    "rollback_procedure",
                    "rollback_procedure_preview",
                ]
            },
        ),
        ("AI audit trail", {"fields": ["redact_pii", "audit_retention_days"]}),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        killswitch_for(obj)  # every feature has a switch the product can read from the start

    def get_queryset(self, request):
        # Counts only incidents everyone may know of; a restricted one does not show up as a number.
        # GROUP BY drops Meta.ordering, and autocomplete pages need a stable order: order explicitly.
        open_unrestricted = Q(incidents__state__in=OPEN_STATES, incidents__is_restricted=False)
        qs = super().get_queryset(request).annotate(open_count=Count("incidents", filter=open_unrestricted))
        return qs.order_by("name", "pk")

    @admin.display(description="open incidents", ordering="open_count")
    def open_incidents(self, obj):
        return obj.open_count

    @admin.display(description="rollback procedure as shown")
    def rollback_procedure_preview(self, obj):
        return render_markdown(obj.rollback_procedure) if obj.pk else "—"

    @admin.display(description="fallback as shown")
    def fallback_preview(self, obj):
        return render_markdown(obj.fallback_description) if obj.pk else "—"


@admin.register(TriageRule)
class TriageRuleAdmin(AuditedSaveMixin, SimpleHistoryAdmin):
    form = TriageRuleForm
    audited_fields = [
        "severity",
        "default_containment",
        "required_stakeholders",
        "requires_postmortem",
        "required_communications",
        "page_within_minutes",
        "notes",
    ]
    list_display = [
        "category",
        "impact",
        "severity_badge",
        "containment",
        "requires_postmortem",
        "stakeholders",
        "page_within_minutes",
    ]
    list_filter = ["category", "impact", "severity"]
    readonly_fields = ["category", "impact"]
    fields = ["category", "impact", *audited_fields]

    def has_add_permission(self, request):
        return False  # the matrix has one cell per category and impact, all seeded

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, obj):
        return format_html('<span class="fl-sev fl-{}">{}</span>', obj.severity.lower(), obj.severity)

    @admin.display(description="default containment")
    def containment(self, obj):
        return " + ".join(containment_types.label(v) for v in obj.default_containment)

    @admin.display(description="stakeholders · communications")
    def stakeholders(self, obj):
        who = ", ".join(StakeholderRole(v).label for v in obj.required_stakeholders)
        to = ", ".join(Audience(v).label for v in obj.required_communications)
        return f"{who} · {to}"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "scopes", "user", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["name", "prefix", "scopes", "user", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # tokens are created with `manage.py create_api_token`, which shows the token once

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        try:
            count = api_token_revoke(token_ids=queryset.values_list("pk", flat=True), actor=request.user)
        except PermissionDenied as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Revoked {count} token{'' if count == 1 else 's'}.", messages.SUCCESS)


__all__ = ["AIFeatureAdmin", "ApiTokenAdmin", "TriageRuleAdmin", "ValidationError"]
