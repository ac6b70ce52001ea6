"""Admin for stakeholder contacts, escalation policies, pages and the outbox."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils.html import format_html

from incidents.constants import Channel, ContactState, IncidentState, NotificationState, PageState, StakeholderRole
from incidents.models import EscalationPolicy, Notification, Page, StakeholderContact
from incidents.selectors import visible_incidents
from incidents.services import record_save
from incidents.services.escalation import page_acknowledge
from incidents.services.notifications import notification_retry
from incidents.services.stakeholders import contact_request_verification, contact_retire

CONTACT_COLOURS = {
    ContactState.UNVERIFIED: "orange",
    ContactState.VERIFIED: "green",
    ContactState.STALE: "red",
    ContactState.RETIRED: "grey",
}
DELIVERY_COLOURS = {
    PageState.PENDING: "amber",
    PageState.SENT: "blue",
    PageState.ACKNOWLEDGED: "green",
    PageState.ESCALATED: "purple",
    PageState.FAILED: "red",
}


def badge(colour: str, text: str):
    return format_html('<span class="fl-state fl-{}">{}</span>', colour, text)


@admin.register(StakeholderContact)
class StakeholderContactAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "role",
        "team",
        "escalation_tier",
        "state_badge",
        "verified_at",
        "channels_list",
        "backup_contact",
    ]
    list_filter = ["state", "role", "escalation_tier", "team"]
    list_select_related = ["backup_contact"]
    search_fields = ["name", "team", "email"]
    autocomplete_fields = ["backup_contact", "user"]
    readonly_fields = ["state_badge", "verified_at", "verification_sent_at", "retired_at"]
    fields = [
        "name",
        "role",
        "team",
        "email",
        "chat_webhook_url",
        "webhook_url",
        "phone",
        "time_zone",
        "escalation_tier",
        "backup_contact",
        "user",
        "state_badge",
        "verified_at",
        "verification_sent_at",
        "retired_at",
    ]
    actions = ["send_verification", "retire"]
    audited_fields = [
        "name",
        "role",
        "team",
        "email",
        "chat_webhook_url",
        "webhook_url",
        "phone",
        "time_zone",
        "escalation_tier",
        "backup_contact",
        "user",
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # retire instead: past pages keep pointing at the contact

    def save_model(self, request, obj, form, change):
        is_new = obj.pk is None
        record_save(instance=obj, actor=request.user, fields=self.audited_fields)
        if is_new:
            contact_request_verification(contact_id=obj.pk, actor=request.user)
            self.message_user(request, f"A verification link was sent to {obj.name}.", messages.INFO)

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return badge(CONTACT_COLOURS[obj.state], obj.get_state_display())

    @admin.display(description="channels")
    def channels_list(self, obj):
        return ", ".join(Channel(c).label.split(" ")[0] for c in obj.channels())

    @admin.action(description="Send a verification link", permissions=["change"])
    def send_verification(self, request, queryset):
        sent = 0
        for contact in queryset.exclude(state=ContactState.RETIRED):
            try:
                contact_request_verification(contact_id=contact.pk, actor=request.user)
                sent += 1
            except ValidationError as exc:
                self.message_user(request, f"{contact.name}: {' '.join(exc.messages)}", messages.ERROR)
        self.message_user(request, f"Verification links sent to {sent} contact(s).", messages.SUCCESS)

    @admin.action(description="Retire the selected contacts", permissions=["change"])
    def retire(self, request, queryset):
        for contact in queryset:
            try:
                contact_retire(contact_id=contact.pk, actor=request.user)
            except PermissionDenied as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
        self.message_user(request, "Retired.", messages.SUCCESS)


class EscalationPolicyForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(choices=StakeholderRole.choices, widget=forms.CheckboxSelectMultiple)
    channels = forms.MultipleChoiceField(choices=Channel.choices, widget=forms.CheckboxSelectMultiple)
    notify_states = forms.MultipleChoiceField(
        choices=IncidentState.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = EscalationPolicy
        fields = ["roles", "channels", "ack_timeout_minutes", "max_tier", "notify_states"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    form = EscalationPolicyForm
    list_display = ["severity", "roles_text", "channels_text", "ack_timeout_minutes", "max_tier"]
    readonly_fields = ["severity"]
    fields = ["severity", "roles", "channels", "ack_timeout_minutes", "max_tier", "notify_states"]
    audited_fields = ["roles", "channels", "ack_timeout_minutes", "max_tier", "notify_states"]

    def has_add_permission(self, request):
        return False  # one policy per severity, seeded

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        record_save(instance=obj, actor=request.user, fields=self.audited_fields)

    @admin.display(description="pages")
    def roles_text(self, obj):
        return ", ".join(StakeholderRole(r).label for r in obj.roles)

    @admin.display(description="channels")
    def channels_text(self, obj):
        return ", ".join(Channel(c).label.split(" ")[0] for c in obj.channels)


class VisibleIncidentMixin:
    """Pages and notifications of a restricted incident are as hidden as the incident."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(Q(incident__isnull=True) | Q(incident__in=visible_incidents(user=request.user).values("pk")))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Page)
class PageAdmin(VisibleIncidentMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "incident",
        "contact",
        "tier",
        "state_badge",
        "ack_due_at",
        "acknowledged_at",
        "reason",
    ]
    list_filter = ["state", "tier"]
    list_select_related = ["incident", "contact"]
    actions = ["acknowledge"]

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return badge(DELIVERY_COLOURS[obj.state], obj.get_state_display())

    @admin.action(description="Acknowledge the selected pages")
    def acknowledge(self, request, queryset):
        for page in queryset:
            try:
                page_acknowledge(page_id=page.pk, actor=request.user, via="admin")
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"{page}: {' '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR)
                return
        self.message_user(request, "Acknowledged.", messages.SUCCESS)


@admin.register(Notification)
class NotificationAdmin(VisibleIncidentMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "state_badge",
        "channel",
        "recipient",
        "subject",
        "attempts",
        "last_error_short",
        "sent_at",
    ]
    list_filter = ["state", "channel"]
    list_select_related = ["incident"]
    search_fields = ["recipient", "subject"]
    actions = ["retry"]

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return badge(DELIVERY_COLOURS.get(obj.state, "grey"), obj.get_state_display())

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return obj.last_error[:120]

    @admin.action(description="Try the selected failed notifications again")
    def retry(self, request, queryset):
        if not request.user.has_perm("incidents.change_notification"):
            self.message_user(request, "You may not retry notifications.", messages.ERROR)
            return
        count = 0
        for notification in queryset.filter(state=NotificationState.FAILED):
            notification_retry(notification_id=notification.pk, actor=request.user)
            count += 1
        self.message_user(request, f"Queued {count} notification(s) again.", messages.SUCCESS)
