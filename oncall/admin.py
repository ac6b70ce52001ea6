"""Schedules in the admin: layers and policy tiers inline, overrides through their own form, the timeline on top.

Every staff user reads schedules and may add an override (the service decides whether it counts at once
or waits for the other person); editing schedules is for Incident Commanders and Schedule Managers.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from audit import services as audit
from incidents.models import EscalationPolicy
from incidents.services import record_save

from . import calendars, services
from .constants import OverrideState, Weekday
from .models import ImportedShift, Layer, Override, PolicyTier, Schedule
from .tasks import import_calendar
from .timeline import schedule_timeline_get

SCHEDULE_FIELDS = ["name", "description", "time_zone"]
LAYER_FIELDS = [
    "schedule",
    "name",
    "priority",
    "time_zone",
    "rotation_start",
    "handoff_time",
    "length",
    "interval",
    "restrict_weekdays",
    "restrict_start",
    "restrict_end",
    "ical_url",
]
TIER_FIELDS = ["policy", "tier", "schedule"]


def _is_staff(request) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


def _error_text(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return " ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
    return " ".join(exc.messages)


class LayerForm(forms.ModelForm):
    rotation = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Usernames in rotation order, separated by commas: the first takes the first shift.",
    )
    restrict_weekdays = forms.TypedMultipleChoiceField(
        choices=Weekday.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Restrict to days",
        help_text="On call only in windows that start on these days; none means no restriction.",
    )

    class Meta:
        model = Layer
        fields = [
            "name",
            "priority",
            "time_zone",
            "rotation_start",
            "handoff_time",
            "length",
            "interval",
            "rotation",
            "restrict_weekdays",
            "restrict_start",
            "restrict_end",
            "ical_url",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["rotation"].initial = ", ".join(
                m.user.get_username() for m in self.instance.memberships.select_related("user")
            )

    def clean_rotation(self):
        try:
            return services.parse_rotation(self.cleaned_data.get("rotation") or "")
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["rotation"]) from exc

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("rotation") and cleaned.get("ical_url"):
            self.add_error("rotation", "An imported layer takes its people from the feed: leave the rotation empty.")
        if (
            "rotation" not in self.errors
            and not cleaned.get("rotation")
            and not cleaned.get("ical_url")
            and not cleaned.get("DELETE")
        ):
            self.add_error("rotation", "Name the people in the rotation, or give a calendar feed to import.")
        return cleaned


class LayerInline(admin.StackedInline):
    model = Layer
    form = LayerForm
    extra = 0
    fieldsets = [
        (
            None,
            {"fields": [("name", "priority"), ("rotation_start", "handoff_time", "time_zone"), ("length", "interval")]},
        ),
        ("Who", {"fields": ["rotation"]}),
        ("Restriction", {"fields": ["restrict_weekdays", ("restrict_start", "restrict_end")]}),
        ("Imported calendar (read-only layer)", {"fields": ["ical_url", "ical_fetched_at", "ical_error"]}),
    ]
    readonly_fields = ["ical_fetched_at", "ical_error"]

    @admin.display(description="rotation")
    def rotation(self, obj):
        """Shown to those who may only read the schedule (the editable form has its own field)."""
        return ", ".join(m.user.get_username() for m in obj.memberships.select_related("user")) or "-"


class PolicyTierInline(admin.TabularInline):
    model = PolicyTier
    extra = 0
    verbose_name = "escalation policy tier that pages this schedule"
    verbose_name_plural = "escalation policies that page this schedule"


class OverrideInline(admin.TabularInline):
    """Read-only here: overrides go through their own form, where the rules for who may add one apply."""

    model = Override
    extra = 0
    fields = ["user", "starts_at", "ends_at", "reason", "state", "created_by"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(ends_at__gte=timezone.now())
            .exclude(state__in=[OverrideState.CANCELLED, OverrideState.DECLINED])
            .select_related("schedule", "user", "created_by")
        )

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "layer_count", "updated_at"]
    search_fields = ["name"]
    inlines = [LayerInline, OverrideInline, PolicyTierInline]
    change_form_template = "oncall/schedule_change_form.html"
    actions = ["import_feeds"]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(layers_n=Count("layers"))

    @admin.display(description="layers", ordering="layers_n")
    def layer_count(self, obj):
        return obj.layers_n

    def has_view_permission(self, request, obj=None):
        return _is_staff(request)

    def has_module_permission(self, request):
        return _is_staff(request)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else [LayerInline, PolicyTierInline]

    def save_model(self, request, obj, form, change):
        record_save(instance=obj, actor=request.user, fields=SCHEDULE_FIELDS)

    def save_formset(self, request, form, formset, change):
        """Layers and policy tiers are saved one by one into the action log; a layer's people through the service."""
        if formset.model not in (Layer, PolicyTier):
            return super().save_formset(request, form, formset, change)
        fields = LAYER_FIELDS if formset.model is Layer else TIER_FIELDS
        with transaction.atomic():
            for obj in formset.save(commit=False):
                record_save(instance=obj, actor=request.user, fields=fields)
            for obj in formset.deleted_objects:
                audit.log_changed(actor=request.user, target=obj, before=audit.snapshot(obj, fields), after={})
                obj.delete()
            if formset.model is not Layer:
                return None
            for layer_form in formset.forms:
                layer = layer_form.instance
                if not layer.pk or layer_form in formset.deleted_forms or not layer_form.has_changed():
                    continue
                services.layer_set_rotation(
                    layer=layer, users=layer_form.cleaned_data.get("rotation") or [], actor=request.user
                )
                if layer.ical_url and "ical_url" in layer_form.changed_data:
                    # a new feed is fetched at once, not at the next hourly import
                    transaction.on_commit(lambda pk=layer.pk: import_calendar.delay(pk))
        return None

    def get_urls(self):
        return [
            path(
                "calendar-link/",
                self.admin_site.admin_view(self.replace_calendar_link),
                name="oncall_calendar_link_replace",
            ),
            *super().get_urls(),
        ]

    def replace_calendar_link(self, request):
        if request.method != "POST":
            raise PermissionDenied("Use the button on a schedule page.")
        services.calendar_token_replace(user=request.user, actor=request.user)
        self.message_user(request, "New calendar links: the old ones no longer work.", messages.SUCCESS)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:oncall_schedule_changelist")
        return HttpResponseRedirect(target)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        schedule = get_object_or_404(Schedule, pk=object_id)
        token = services.calendar_token_get(user=request.user).token
        base = request.build_absolute_uri("/")[:-1]
        extra_context = {
            **(extra_context or {}),
            "timeline": schedule_timeline_get(schedule=schedule, now=timezone.now()),
            "calendar_schedule_url": base + reverse("oncall:schedule-ics", args=[token, schedule.pk]),
            "calendar_mine_url": base + reverse("oncall:user-ics", args=[token]),
            "override_add_url": reverse("admin:oncall_override_add") + f"?schedule={schedule.pk}",
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Import the calendar feeds of the selected schedules now")
    def import_feeds(self, request, queryset):
        if not services.may_edit_schedules(request.user):
            self.message_user(request, "Only Incident Commanders and Schedule Managers edit schedules.", messages.ERROR)
            return
        for layer in Layer.objects.filter(schedule__in=queryset).exclude(ical_url=""):
            try:
                count = calendars.layer_import_ical(layer_id=layer.pk, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{layer}: {_error_text(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"{layer}: {count} shift(s) imported.", messages.SUCCESS)


class OverrideForm(forms.ModelForm):
    actor = None  # set by OverrideAdmin.get_form: the rules depend on who adds the override

    class Meta:
        model = Override
        fields = ["schedule", "user", "starts_at", "ends_at", "reason"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            services.override_check(
                schedule=cleaned.get("schedule"),
                user=cleaned.get("user"),
                starts_at=cleaned.get("starts_at"),
                ends_at=cleaned.get("ends_at"),
                reason=cleaned.get("reason", ""),
                actor=self.actor,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(Override)
class OverrideAdmin(admin.ModelAdmin):
    form = OverrideForm
    list_display = ["schedule", "user", "starts_at", "ends_at", "reason", "state", "replaces", "created_by"]
    list_filter = ["state", "schedule"]
    list_select_related = ["schedule", "user", "replaces", "created_by"]
    search_fields = ["reason", "user__username", "schedule__name"]
    actions = ["accept", "decline", "cancel"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def has_view_permission(self, request, obj=None):
        return _is_staff(request)

    def has_module_permission(self, request):
        return _is_staff(request)

    def has_add_permission(self, request):
        return _is_staff(request)  # the service decides whether it counts at once or waits for a yes

    def has_change_permission(self, request, obj=None):
        return False  # an override is cancelled and added again, never edited in place

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return ["schedule", "user", "starts_at", "ends_at", "reason", "state", "replaces", "created_by"] if obj else []

    def save_model(self, request, obj, form, change):
        obj_saved = services.override_create(
            schedule=form.cleaned_data["schedule"],
            user=form.cleaned_data["user"],
            starts_at=form.cleaned_data["starts_at"],
            ends_at=form.cleaned_data["ends_at"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )
        obj.pk = obj_saved.pk
        obj.state = obj_saved.state

    def response_add(self, request, obj, post_url_continue=None):
        if obj.state == OverrideState.PENDING:
            self.message_user(
                request, f"Asked {obj.user} to take the shift; it counts once they accept.", messages.INFO
            )
        return HttpResponseRedirect(reverse("admin:oncall_schedule_change", args=[obj.schedule_id]))

    def _decide(self, request, queryset, service, done: str):
        for override in queryset:
            try:
                service(override_id=override.pk, actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                text = _error_text(exc) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, f"{override}: {text}", messages.ERROR)
            else:
                self.message_user(request, f"{override}: {done}.", messages.SUCCESS)

    @admin.action(description="Accept the selected shifts handed to me")
    def accept(self, request, queryset):
        self._decide(request, queryset, services.override_accept, "accepted")

    @admin.action(description="Decline the selected shifts handed to me")
    def decline(self, request, queryset):
        self._decide(request, queryset, services.override_decline, "declined")

    @admin.action(description="Cancel the selected overrides")
    def cancel(self, request, queryset):
        self._decide(request, queryset, services.override_cancel, "cancelled")


@admin.register(PolicyTier)
class PolicyTierAdmin(admin.ModelAdmin):
    list_display = ["policy", "tier", "schedule"]
    list_select_related = ["policy", "schedule"]
    list_filter = ["policy"]


@admin.register(ImportedShift)
class ImportedShiftAdmin(admin.ModelAdmin):
    """What the feeds brought in: read-only, replaced at each import."""

    list_display = ["layer", "label", "user", "starts_at", "ends_at"]
    list_select_related = ["layer__schedule", "user"]
    list_filter = ["layer"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PolicyScheduleInline(admin.TabularInline):
    model = PolicyTier
    fk_name = "policy"
    extra = 0
    verbose_name = "on-call schedule paged at a tier"
    verbose_name_plural = "on-call schedules paged at each tier (whoever is on call when the page is sent)"


def _with_schedule_tiers(policy_admin: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """The escalation policy page, with the schedules it pages per tier (rows of this app)."""
    return type(policy_admin.__name__, (policy_admin,), {"inlines": [*policy_admin.inlines, PolicyScheduleInline]})


if EscalationPolicy in admin.site._registry:  # incidents is installed before oncall: its admin is registered
    _policy_admin = type(admin.site._registry[EscalationPolicy])
    admin.site.unregister(EscalationPolicy)
    admin.site.register(EscalationPolicy, _with_schedule_tiers(_policy_admin))
