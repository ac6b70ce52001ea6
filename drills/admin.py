"""Drills in the admin: the scenario library, the quarterly policies, and the facilitator's drill page."""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from incidents.admin.forms import error_text as _error_text
from incidents.models import ActionItem, ActionItemKind, KillSwitch
from incidents.selectors import incident_is_visible

from . import services
from .constants import REMINDERS, DrillState, Step
from .models import Drill, DrillPolicy, Scenario, ScenarioExpectedAction, ScenarioInject
from .scoring import SCORE_RULE, drill_score
from .selectors import drill_visibility_q
from .services import escalation_path_stale_contacts
from .timing import drill_step_results
from .trends import drill_trends, trends_svg

STATE_COLOURS = {
    DrillState.PLANNED: "grey",
    DrillState.SCHEDULED: "blue",
    DrillState.RUNNING: "red",
    DrillState.DEBRIEF: "purple",
    DrillState.COMPLETED: "green",
    DrillState.CANCELLED: "grey",
}


def _users():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class LocalDateTimeField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, **kwargs):
        super().__init__(input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"], **kwargs)


class ScheduleForm(forms.Form):
    scheduled_for = LocalDateTimeField(label="When (UTC)")
    participants = forms.ModelMultipleChoiceField(queryset=_users(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["participants"].queryset = _users()


class CancelForm(forms.Form):
    reason = forms.CharField(required=False)


class CorrectionForm(forms.Form):
    step = forms.ChoiceField(choices=Step.choices)
    occurred_at = LocalDateTimeField(required=False, label="Actual time (UTC); empty = not done")
    reason = forms.CharField(required=False)


class GapForm(forms.Form):
    title = forms.CharField(required=False, max_length=300)
    kind = forms.ChoiceField(choices=ActionItemKind.choices, initial=ActionItemKind.PROCESS)
    owner = forms.ModelChoiceField(queryset=_users(), required=False)
    due_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _users()


class CompleteForm(forms.Form):
    debrief_notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ScenarioInjectInline(admin.TabularInline):
    model = ScenarioInject
    extra = 1
    fields = ["minute", "text"]


class ScenarioExpectedActionInline(admin.TabularInline):
    model = ScenarioExpectedAction
    extra = 1
    fields = ["position", "text"]


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "feature", "target_summary", "is_active"]
    list_filter = ["category", "is_active"]
    list_select_related = ["feature"]
    search_fields = ["name", "bad_output"]
    inlines = [ScenarioInjectInline, ScenarioExpectedActionInline]
    fieldsets = [
        (None, {"fields": ["name", "category", "feature", "is_active"]}),
        ("What happens", {"fields": ["bad_output", "briefing", "users_affected", "is_public", "severity_override"]}),
        (
            "Target minutes per step (from the drill's start)",
            {"fields": [f"target_{step}_minutes" for step in Step.values]},
        ),
    ]

    @admin.display(description="Targets (min)")
    def target_summary(self, obj):
        return " · ".join(f"{Step(s).label} {obj.target_minutes(s)}" for s in Step.values)


@admin.register(DrillPolicy)
class DrillPolicyAdmin(admin.ModelAdmin):
    list_display = ["subject_display", "facilitator", "scenario", "time_zone", "is_active"]
    list_filter = ["is_active"]
    list_select_related = ["feature", "facilitator", "scenario"]
    filter_horizontal = ["participants"]
    fields = ["team", "feature", "facilitator", "participants", "scenario", "time_zone", "is_active"]

    @admin.display(description="Team or AI feature", ordering="team")
    def subject_display(self, obj):
        return obj.subject


class DrillAddForm(forms.ModelForm):
    scheduled_for = LocalDateTimeField(
        required=False,
        label="When (UTC)",
        help_text="With a date and participants the drill is scheduled when you save: the participants are "
        "reminded a week, a day and an hour before. Without either it stays Planned; schedule it from its page.",
    )

    class Meta:
        model = Drill
        fields = ["scenario", "feature", "team", "facilitator", "participants", "scheduled_for"]

    def clean_scheduled_for(self):
        when = self.cleaned_data.get("scheduled_for")
        if when is not None and when <= timezone.now():
            raise ValidationError("A drill is scheduled in the future.")
        return when


@admin.register(Drill)
class DrillAdmin(admin.ModelAdmin):
    # What a facilitator scans for first: which drill, its state and score, then when and for whom.
    list_display = [
        "reference_display",
        "scenario",
        "state_badge",
        "score_display",
        "quarter",
        "scheduled_for",
        "subject_display",
        "incident_link",
    ]
    list_filter = ["state", "quarter"]
    list_select_related = ["scenario", "feature", "incident"]
    search_fields = ["scenario__name", "team"]
    change_form_template = "admin/drills/drill/change_form.html"
    change_list_template = "admin/drills/drill/change_list.html"
    readonly_fields = [
        "scenario",
        "policy",
        "feature",
        "team",
        "quarter",
        "facilitator",
        "scheduled_for",
        "started_at",
        "debrief_at",
        "completed_at",
        "cancel_reason",
        "score",
        "debrief_notes",
    ]
    fields = readonly_fields

    # --- list ------------------------------------------------------------------------------------

    @admin.display(description="Drill", ordering="pk")
    def reference_display(self, obj):
        return obj.reference

    @admin.display(description="Team or feature")
    def subject_display(self, obj):
        return obj.subject

    @admin.display(description="State", ordering="state")
    def state_badge(self, obj):
        return format_html('<span class="fl-state fl-{}">{}</span>', STATE_COLOURS[obj.state], obj.get_state_display())

    @admin.display(description="Score", ordering="score")
    def score_display(self, obj):
        return "—" if obj.score is None else f"{obj.score} / 100"

    @admin.display(description="Drill incident")
    def incident_link(self, obj):
        if not obj.incident_id:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:incidents_incident_change", args=[obj.incident_id]),
            obj.incident.reference,
        )

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        # A drill whose incident the user may not see (a restricted scenario) is not listed either.
        return qs.filter(drill_visibility_q(request.user))

    # --- add: a drill planned by hand ------------------------------------------------------------

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = DrillAddForm
            kwargs["fields"] = DrillAddForm.Meta.fields
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return DrillAddForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        drill = services.drill_plan(
            scenario=data["scenario"],
            feature=data.get("feature"),
            team=data.get("team", ""),
            facilitator=data.get("facilitator"),
            participants=data.get("participants") or [],
            scheduled_for=data.get("scheduled_for"),
            actor=request.user,
        )
        obj.pk = drill.pk
        obj.id = drill.pk
        self._schedule_on_add(request, drill, data)

    def _schedule_on_add(self, request, drill: Drill, data) -> None:
        """A date typed on the add form means "schedule it": through the same service as the page's button."""
        when, participants = data.get("scheduled_for"), list(data.get("participants") or [])
        if when is None:
            return
        if not participants:
            self.message_user(
                request,
                "Planned, not scheduled: a drill is scheduled with participants. Choose them on the drill's page "
                "and press Schedule.",
                messages.WARNING,
            )
            return
        try:
            services.drill_schedule(
                drill_id=drill.pk, scheduled_for=when, participants=participants, actor=request.user
            )
        except PermissionDenied:
            self.message_user(
                request,
                "Planned, not scheduled: scheduling a drill needs the Drill Facilitator role. Ask a facilitator to "
                "press Schedule on the drill's page.",
                messages.WARNING,
            )
        except ValidationError as exc:
            self.message_user(request, f"Planned, not scheduled: {_error_text(exc)}", messages.WARNING)
        else:
            self.message_user(
                request,
                f"Scheduled for {when.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC: the participants are reminded "
                "a week, a day and an hour before.",
                messages.SUCCESS,
            )

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    # --- the drill page ----------------------------------------------------------------------------

    def get_urls(self):
        own = [
            path("<int:pk>/act/<str:action>/", self.admin_site.admin_view(self.act_view), name="drills_drill_act"),
            path("trends/", self.admin_site.admin_view(self.trends_view), name="drills_drill_trends"),
        ]
        return own + super().get_urls()

    def _drill_or_404(self, request, pk) -> Drill:
        drill = self.get_queryset(request).select_related("scenario", "incident").filter(pk=pk).first()
        if drill is None:
            raise Http404("No such drill.")
        return drill

    def act_view(self, request, pk, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        drill = self._drill_or_404(request, pk)
        user = request.user
        try:
            message = self._act(drill, action, request.POST, user)
        except PermissionDenied as exc:
            self.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, _error_text(exc), messages.ERROR)
        else:
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:drills_drill_change", args=[pk]))

    def _act(self, drill: Drill, action: str, data, user) -> str:
        if action == "schedule":
            form = ScheduleForm(data)
            if not form.is_valid():
                raise ValidationError({k: v for k, v in form.errors.items()})
            services.drill_schedule(
                drill_id=drill.pk,
                scheduled_for=form.cleaned_data["scheduled_for"],
                participants=form.cleaned_data["participants"],
                actor=user,
            )
            return "Scheduled: the participants are reminded a week, a day and an hour before."
        if action == "cancel":
            form = CancelForm(data)
            form.is_valid()
            services.drill_cancel(drill_id=drill.pk, reason=form.cleaned_data.get("reason", ""), actor=user)
            return "The drill is cancelled."
        if action == "complete":
            form = CompleteForm(data)
            form.is_valid()
            done = services.drill_complete(
                drill_id=drill.pk, debrief_notes=form.cleaned_data.get("debrief_notes") or None, actor=user
            )
            return f"Debrief completed: score {done.score} / 100."
        if action in services.TRANSITION_SERVICES:
            services.TRANSITION_SERVICES[action](drill_id=drill.pk, actor=user)
            return {
                "start": "The drill started: the drill incident is open and the participants are paged.",
                "end_exercise": "Exercise over: debrief the gaps, tick the checklist, then complete.",
            }[action]
        if action == "correct":
            form = CorrectionForm(data)
            if not form.is_valid():
                raise ValidationError({k: v for k, v in form.errors.items()})
            services.drill_correct_step(
                drill_id=drill.pk,
                step=form.cleaned_data["step"],
                occurred_at=form.cleaned_data["occurred_at"],
                reason=form.cleaned_data["reason"],
                actor=user,
            )
            return f"{Step(form.cleaned_data['step']).label} time corrected."
        if action == "checklist":
            ticked = {int(v) for v in data.getlist("done") if v.isdigit()}
            for item in drill.checklist.all():
                services.drill_tick(drill_id=drill.pk, item_id=item.pk, is_done=item.pk in ticked, actor=user)
            return "Checklist saved."
        if action == "gap":
            form = GapForm(data)
            if not form.is_valid():
                raise ValidationError({k: v for k, v in form.errors.items()})
            item = services.drill_add_gap(
                drill_id=drill.pk,
                title=form.cleaned_data["title"],
                kind=form.cleaned_data["kind"],
                owner=form.cleaned_data["owner"],
                due_date=form.cleaned_data["due_date"],
                actor=user,
            )
            return f"Gap recorded as an action item: {item.title}."
        raise Http404("No such action.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        drill = (
            self.get_queryset(request)
            .select_related("scenario", "feature", "incident__feature", "facilitator", "policy")
            .filter(pk=object_id)
            .first()
        )
        if drill is not None:
            results = drill_step_results(drill)
            checklist = list(drill.checklist.select_related("ticked_by"))
            ticked = sum(i.is_done for i in checklist)
            may_run = request.user.has_perm("drills.run_drill")
            gaps = (
                list(
                    ActionItem.objects.filter(incident=drill.incident)
                    .select_related("owner")
                    .order_by("due_date", "pk")
                )
                if drill.incident_id
                else []
            )
            extra_context.update(
                {
                    "drill": drill,
                    "state_colour": STATE_COLOURS[drill.state],
                    "options": services.drill_transition_options(drill, request.user),
                    "may_run": may_run,
                    "participants": list(drill.participants.order_by("username")),
                    "steps": results,
                    "checklist": checklist,
                    "ticked": ticked,
                    "provisional_score": drill_score([r.status for r in results], ticked, len(checklist))
                    if results
                    else None,
                    "pending_steps": sum(r.is_pending for r in results),
                    # Before the start the checklist is empty: the scenario's actions are shown (and counted).
                    "expected_actions": [] if checklist else list(drill.scenario.expected_actions.all()),
                    "score_rule": SCORE_RULE,
                    "gaps": gaps,
                    "stale_contacts": escalation_path_stale_contacts(drill) if drill.incident_id else [],
                    "injects": list(drill.injects.all()) or list(drill.scenario.injects.all()),
                    "reminders": [(r, dict((k, t) for k, _, t in REMINDERS)[r.key]) for r in drill.reminders.all()],
                    "incident_visible": bool(drill.incident_id)
                    and incident_is_visible(user=request.user, incident=drill.incident),
                    "stand_in": KillSwitch.objects.filter(drill_incident_id=drill.incident_id).first()
                    if drill.incident_id
                    else None,
                    "schedule_form": ScheduleForm(
                        initial={
                            "scheduled_for": drill.scheduled_for or (timezone.now() + datetime.timedelta(days=7)),
                            "participants": [u.pk for u in drill.participants.all()],
                        }
                    ),
                    "correction_form": CorrectionForm(),
                    "gap_form": GapForm(
                        initial={
                            "owner": drill.facilitator_id,
                            "due_date": timezone.localdate() + datetime.timedelta(days=services.GAP_DUE_DAYS),
                        }
                    ),
                    "complete_form": CompleteForm(initial={"debrief_notes": drill.debrief_notes}),
                    "active_states": [DrillState.RUNNING, DrillState.DEBRIEF],
                    # Every change goes through the panel's services; the form below is the record.
                    "show_save": False,
                    "show_save_and_continue": False,
                    "show_save_and_add_another": False,
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def trends_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        trends = drill_trends(user=request.user)
        context = {
            **self.admin_site.each_context(request),
            "title": "Drill trends: quarter over quarter",
            "opts": self.model._meta,
            "trends": trends,
            "chart": trends_svg(trends),
            "steps": Step.choices,
        }
        return render(request, "admin/drills/drill/trends.html", context)
