from django.contrib import admin

from .models import ChatRoom, ChatSettings


@admin.register(ChatSettings)
class ChatSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "backend", "room_severities", "note_reaction", "is_enabled"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not ChatSettings.objects.exists()


@admin.register(ChatRoom)
class ChatRoomAdmin(admin.ModelAdmin):
    list_display = ["incident", "backend", "room_id", "name", "is_private", "opened_at", "archived_at"]
    list_filter = ["backend", "is_private"]
    list_select_related = ["incident"]
    search_fields = ["room_id", "name"]
    readonly_fields = [
        "incident",
        "backend",
        "room_id",
        "name",
        "is_private",
        "summary_message_id",
        "invited",
        "opened_at",
        "archived_at",
    ]

    def has_add_permission(self, request):
        return False
