from django import forms
from django.contrib import admin

from incidents.channels import event_webhook_secret

from .models import EventSubscription, LifecycleEvent


class EventSubscriptionForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=LifecycleEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )

    class Meta:
        model = EventSubscription
        fields = ["name", "url", "events", "include_restricted", "is_active"]


@admin.register(EventSubscription)
class EventSubscriptionAdmin(admin.ModelAdmin):
    form = EventSubscriptionForm
    list_display = ["name", "url", "events", "include_restricted", "is_active"]
    list_filter = ["is_active", "include_restricted"]
    readonly_fields = ["signing_key"]

    @admin.display(description="Signing key (HMAC-SHA256 of timestamp.body; give it to the receiver)")
    def signing_key(self, obj):
        return event_webhook_secret(obj.pk) if obj and obj.pk else "— shown once saved"
