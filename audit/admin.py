from django.contrib import admin
from django.db.models import Q
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from incidents.selectors import visible_incidents

from .models import ActionLogEntry
from .trail import admin_records, admin_trail  # noqa: F401 - registers their admins


@admin.register(ActionLogEntry)
class ActionLogEntryAdmin(admin.ModelAdmin):
    """The action log, read-only for everyone: no add, change or delete, superusers included."""

    list_display = ["created_at", "actor_label", "verb", "target_label", "incident", "changes"]
    list_filter = ["verb", "target_type"]
    list_select_related = ["incident"]
    search_fields = ["actor_label", "verb", "target_label"]
    date_hierarchy = "created_at"
    list_per_page = 100
    readonly_fields = [f.name for f in ActionLogEntry._meta.fields]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        # Entries about a restricted incident are as hidden as the incident itself.
        return qs.filter(Q(incident__isnull=True) | Q(incident__in=visible_incidents(user=request.user).values("pk")))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}

    @admin.display(description="before → after")
    def changes(self, obj):
        keys = sorted(set(obj.before) | set(obj.after))[:6]
        return format_html_join(
            mark_safe("<br>"), "{}: {} → {}", ((k, obj.before.get(k, ""), obj.after.get(k, "")) for k in keys)
        )
