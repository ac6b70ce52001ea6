from django.contrib import admin
from django.utils.html import format_html

from incidents.admin.reference import AuditedSaveMixin

from .models import QualityMonitor


@admin.register(QualityMonitor)
class QualityMonitorAdmin(AuditedSaveMixin, admin.ModelAdmin):
    audited_fields = ["feature", "signal", "threshold", "window_minutes", "min_sample_size", "is_enabled"]
    list_display = [
        "feature",
        "signal",
        "threshold_shown",
        "window_minutes",
        "min_sample_size",
        "is_enabled",
        "status",
        "last_checked_at",
    ]
    list_filter = ["signal", "is_enabled", "is_firing", "feature"]
    list_select_related = ["feature"]
    fields = [
        "feature",
        "signal",
        "threshold",
        "window_minutes",
        "min_sample_size",
        "is_enabled",
        "status",
        "last_value_shown",
        "last_sample_size",
        "last_checked_at",
        "fired_at",
        "resolved_at",
    ]
    readonly_fields = ["status", "last_value_shown", "last_sample_size", "last_checked_at", "fired_at", "resolved_at"]

    @admin.display(description="threshold", ordering="threshold")
    def threshold_shown(self, obj):
        return obj.format_value(obj.threshold)

    @admin.display(description="last value")
    def last_value_shown(self, obj):
        return obj.format_value(obj.last_value)

    @admin.display(description="now", ordering="is_firing")
    def status(self, obj):
        if obj.pk is None or obj.last_checked_at is None:
            return "not checked yet"
        if obj.is_firing:
            return format_html('<span class="fl-state fl-red">FIRING</span> {}', obj.format_value(obj.last_value))
        return format_html('<span class="fl-state fl-green">ok</span> {}', obj.format_value(obj.last_value))
