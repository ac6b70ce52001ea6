"""Admin for stakeholder contacts, escalation policies, pages and the outbox."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from audit import services as audit
from incidents import channels as channel_registry
from incidents.constants import ContactState, IncidentState, NotificationState, PageState, StakeholderRole
from incidents.models import ContactChannel, EscalationPolicy, Notification, Page, StakeholderContact
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


def reachable_channels_text() -> str:
    labels = [sender.label.split(" (")[0] for sender in channel_registry.contact_senders()]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"


class ContactChannelForm(forms.ModelForm):
    class Meta:
        model = ContactChannel
        fields = ["kind", "address"]
        widgets = {"address": forms.TextInput(attrs={"size": 50})}


class ContactChannelFormSet(BaseInlineFormSet):
    """A contact Fireline cannot reach on any channel is an escalation path that fails on the night."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("address")
        ]
        if not any(
            (sender := channel_registry.sender_for(data.get("kind", ""))) and sender.is_contact_channel for data in kept
        ):
            raise ValidationError(f"Give at least one channel Fireline can reach: {reachable_channels_text()}.")


class ContactChannelInline(admin.TabularInline):
    model = ContactChannel
    form = ContactChannelForm
    formset = ContactChannelFormSet
    fields = ["kind", "address", "verified_at"]
    readonly_fields = ["verified_at"]
    extra = 1
    verbose_name = "channel"
    verbose_name_plural = "channels Fireline reaches this contact on"

    # A contact's addresses are part of the contact: whoever may add or change the contact edits them,
    # with no separate permission for roles to be given.
    def _may_edit(self, request, obj) -> bool:
        action = "add" if obj is None else "change"
        return request.user.has_perm(f"incidents.{action}_stakeholdercontact")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("incidents.view_stakeholdercontact") or self._may_edit(request, obj)

    def has_add_permission(self, request, obj):
        return self._may_edit(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_edit(request, obj)


def _channel_snapshot(contact: StakeholderContact) -> list[str]:
    return [f"{row.kind}: {row.address}" for row in ContactChannel.objects.filter(contact=contact).order_by("pk")]


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
    search_fields = ["name", "team", "channel_rows__address"]
    autocomplete_fields = ["backup_contact", "user"]
    readonly_fields = ["state_badge", "verified_at", "verification_sent_at", "retired_at"]
    fields = [
        "name",
        "role",
        "team",
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
    inlines = [ContactChannelInline]
    actions = ["send_verification", "retire"]
    audited_fields = [
        "name",
        "role",
        "team",
        "phone",
        "time_zone",
        "escalation_tier",
        "backup_contact",
        "user",
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # retire instead: past pages keep pointing at the contact

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("channel_rows")

    def save_model(self, request, obj, form, change):
        record_save(instance=obj, actor=request.user, fields=self.audited_fields)

    def save_formset(self, request, form, formset, change):
        if formset.model is not ContactChannel:
            return super().save_formset(request, form, formset, change)
        contact = form.instance
        before = _channel_snapshot(contact)
        rows = formset.save(commit=False)
        for row in formset.deleted_objects:
            row.delete()
        edited = {row.pk for row, fields in formset.changed_objects if {"kind", "address"} & set(fields)}
        for row in rows:
            if row.pk in edited:
                row.verified_at = None  # a new address is not the one the contact confirmed
            row.save()
        audit.log_changed(
            actor=request.user,
            target=contact,
            before={"channels": before},
            after={"channels": _channel_snapshot(contact)},
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:  # the link goes out once the contact has its channels
            contact_request_verification(contact_id=form.instance.pk, actor=request.user)
            self.message_user(request, f"A verification link was sent to {form.instance.name}.", messages.INFO)

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return badge(CONTACT_COLOURS[obj.state], obj.get_state_display())

    @admin.display(description="channels")
    def channels_list(self, obj):
        return ", ".join(channel_registry.channel_label(c, short=True) for c in obj.channels())

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
    channels = forms.MultipleChoiceField(
        choices=channel_registry.contact_channel_choices, widget=forms.CheckboxSelectMultiple
    )
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
        return ", ".join(channel_registry.channel_label(c, short=True) for c in obj.channels)


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
