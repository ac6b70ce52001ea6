from django import forms
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from incidents.constants import Severity

from .models import ChatRoom, ChatSettings


class ChatSettingsForm(forms.ModelForm):
    room_severities = forms.MultipleChoiceField(
        choices=Severity.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Open a room at",
        help_text="Declaring an incident at, or raising it to, one of these severities opens a room for it.",
    )

    class Meta:
        model = ChatSettings
        fields = ["is_enabled", "backend", "room_severities", "note_reaction"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The row's severities (on a new row, the defaults: SEV1 and SEV2) start ticked.
        self.initial["room_severities"] = [str(value) for value in self.instance.room_severities or []]


@admin.register(ChatSettings)
class ChatSettingsAdmin(admin.ModelAdmin):
    """One row of settings: the list is skipped, the link goes straight to the row (or to adding it)."""

    form = ChatSettingsForm
    list_display = ["__str__", "backend", "room_severities", "note_reaction", "is_enabled"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not ChatSettings.objects.exists()

    def changelist_view(self, request, extra_context=None):
        row = ChatSettings.objects.order_by("pk").first()
        if row is not None and self.has_view_or_change_permission(request, row):
            return redirect(reverse("admin:chatops_chatsettings_change", args=[row.pk]))
        if row is None and self.has_add_permission(request):
            return redirect(reverse("admin:chatops_chatsettings_add"))
        return super().changelist_view(request, extra_context)


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
