"""Admin for kill switches, the eval bench, eval runs and verification policies."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Prefetch
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from incidents.channels import feature_webhook_secret
from incidents.models import EvalCase, EvalRun, KillSwitch, KillSwitchHold, VerificationPolicy
from incidents.selectors import visible_incidents
from incidents.services import record_save
from incidents.services.evals import (
    CaseStatus,
    evalcase_create,
    evalcase_retire,
    evalcases_jsonl,
    evalruns_record,
    policy_for,
)
from incidents.services.flags import (
    holders_text,
    killswitch_flip,
    killswitch_set_cohort_rules,
)

from .forms import error_text, staff_users

MANUAL_HARNESS = "manual"


class ReasonActionForm(ActionForm):
    reason = forms.CharField(required=False, label="Reason", widget=forms.TextInput(attrs={"size": 40}))


def _report(modeladmin, request, func, success):
    try:
        func()
    except (PermissionDenied, ValidationError) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        modeladmin.message_user(request, text, messages.ERROR)
        return
    modeladmin.message_user(request, success, messages.SUCCESS)


@admin.register(KillSwitch)
class KillSwitchAdmin(admin.ModelAdmin):
    list_display = [
        "flag_key",
        "feature_name",
        "state",
        "held_by",
        "cohort_text",
        "version",
        "updated_at",
        "last_read_at",
    ]
    list_select_related = ["feature", "stand_in_for", "drill_incident"]
    readonly_fields = ["feature_name", "state", "held_by", "version", "updated_at", "last_read_at", "signing_key"]
    fields = [
        "feature_name",
        "state",
        "held_by",
        "cohort_rules",
        "webhook_url",
        "signing_key",
        "version",
        "updated_at",
        "last_read_at",
    ]
    action_form = ReasonActionForm
    actions = ["turn_off", "turn_on"]

    def has_add_permission(self, request):
        return False  # one per AI feature, made with it

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        active = KillSwitchHold.objects.filter(released_at__isnull=True).select_related("incident", "held_by")
        return super().get_queryset(request).prefetch_related(Prefetch("holds", queryset=active, to_attr="active"))

    @admin.display(description="flag key", ordering="feature__kill_switch_key")
    def flag_key(self, obj):
        return obj.flag_key

    @admin.display(description="feature")
    def feature_name(self, obj):
        if obj.is_stand_in:
            return f"{obj.stand_in_for} (drill stand-in for {obj.drill_incident.reference})"
        return str(obj.feature)

    @admin.display(description="held by")
    def held_by(self, obj):
        holds = getattr(obj, "active", None)
        if holds is None:
            holds = list(obj.holds.filter(released_at__isnull=True).select_related("incident", "held_by"))
        return holders_text(holds) or "—"

    @admin.display(description="feature is")
    def state(self, obj):
        return format_html(
            '<span class="fl-state fl-{}">{}</span>', "green" if obj.is_on else "red", "ON" if obj.is_on else "OFF"
        )

    @admin.display(description="cohorts")
    def cohort_text(self, obj):
        return "; ".join(
            f"{r['attribute']} in {','.join(map(str, r['values']))} → {'on' if r['enabled'] else 'off'}"
            for r in obj.cohort_rules
        )

    @admin.display(description="webhook signing key")
    def signing_key(self, obj):
        return feature_webhook_secret(obj.real_feature.key) if obj.pk else "—"

    def save_model(self, request, obj, form, change):
        # cohort rule edits go through the service (logged, cache dropped, webhook told); the URL is plain data
        if "cohort_rules" in form.changed_data:
            killswitch_set_cohort_rules(
                switch_id=obj.pk,
                rules=form.cleaned_data["cohort_rules"],
                reason="edited in the admin",
                actor=request.user,
            )
        if "webhook_url" in form.changed_data:
            current = KillSwitch.objects.get(pk=obj.pk)
            current.webhook_url = form.cleaned_data["webhook_url"]
            record_save(instance=current, actor=request.user, fields=["webhook_url"])

    @admin.action(description="Turn the feature OFF (give a reason)")
    def turn_off(self, request, queryset):
        self._flip(request, queryset, is_on=False)

    @admin.action(description="Turn the feature back ON (give a reason)")
    def turn_on(self, request, queryset):
        self._flip(request, queryset, is_on=True)

    def _flip(self, request, queryset, *, is_on: bool):
        """A manual flip is a hold of its own; turning on lifts only manual holds, never an incident's."""
        reason = request.POST.get("reason", "")
        for switch in queryset.select_related("feature", "drill_incident"):
            try:
                result = killswitch_flip(switch_id=switch.pk, is_on=is_on, reason=reason, actor=request.user)
            except (PermissionDenied, ValidationError) as exc:
                text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, text, messages.ERROR)
                continue
            if result.is_on:
                self.message_user(request, f"{switch.flag_key} is ON.", messages.SUCCESS)
            elif is_on:
                self.message_user(
                    request,
                    f"{switch.flag_key} stays OFF. Still off: held by {result.still_held_by}.",
                    messages.WARNING,
                )
            else:
                self.message_user(
                    request, f"{switch.flag_key} is OFF (held by hand: {reason.strip()}).", messages.SUCCESS
                )


class EvalRunInline(admin.TabularInline):
    model = EvalRun
    extra = 0
    can_delete = False
    fields = ["ran_at", "trials", "failures", "rate", "bound", "model_version", "prompt_version", "harness", "ran_by"]
    readonly_fields = fields
    ordering = ["-ran_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ran_by")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="failure rate")
    def rate(self, obj):
        return f"{obj.failure_rate:.1%}"

    @admin.display(description="95% upper bound")
    def bound(self, obj):
        return f"{obj.upper_bound:.1%}"


@admin.register(EvalCase)
class EvalCaseAdmin(admin.ModelAdmin):
    list_display = ["reference", "feature", "expected_behaviour", "failure_category", "source", "retired_at"]
    list_filter = ["feature", "failure_category", ("retired_at", admin.EmptyFieldListFilter)]
    list_select_related = ["feature"]
    search_fields = ["input", "expected_behaviour", "failure_finding"]
    autocomplete_fields = ["feature", "incidents"]
    readonly_fields = ["author", "created_at", "retired_at", "retired_reason", "record_run"]
    fields = [
        "record_run",
        "feature",
        "input",
        "expected_behaviour",
        "failure_category",
        "failure_finding",
        "source_incident",
        "incidents",
        "author",
        "created_at",
        "retired_at",
        "retired_reason",
    ]
    inlines = [EvalRunInline]
    action_form = ReasonActionForm
    actions = ["retire", "export_jsonl"]

    def get_queryset(self, request):
        # a restricted incident behind a case is shown only to those who may see the incident
        visible = visible_incidents(user=request.user).filter(pk=OuterRef("source_incident_id"))
        return super().get_queryset(request).annotate(source_visible=Exists(visible))

    def get_readonly_fields(self, request, obj=None):
        # a case is evidence of what 'fixed' meant: once written, its text stays as it was; the incident
        # links are kept by the services, so the form can never drop one the editor cannot see
        fixed = ["feature", "input", "expected_behaviour", "source_incident", "incidents"]
        return self.readonly_fields + (fixed + ["linked_incidents"] if obj else [])

    def get_fields(self, request, obj=None):
        fields = list(self.fields)
        if obj is None:
            fields.remove("record_run")
        else:
            fields = [f for f in fields if f not in ("source_incident", "incidents")] + ["linked_incidents"]
        return fields

    @admin.display(description="runs")
    def record_run(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:incidents_evalrun_add") + f"?case={obj.pk}"
        return format_html(
            '<a class="button" id="record-manual-run" href="{}">Record a run by hand</a> '
            '<span class="fl-muted">for a team without an eval harness: trials, failures and who ran them</span>',
            url,
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "incidents":
            kwargs["queryset"] = visible_incidents(user=request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="source incident", ordering="source_incident")
    def source(self, obj):
        if obj.source_incident_id is None:
            return "—"
        return f"INC-{obj.source_incident_id}" if getattr(obj, "source_visible", False) else "restricted"

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:  # the links this reader may know about, resolved with the reader's visibility
            obj.visible_links = list(visible_incidents(user=request.user).filter(eval_cases=obj).order_by("pk"))
        return obj

    @admin.display(description="incidents it proves")
    def linked_incidents(self, obj):
        return ", ".join(i.reference for i in getattr(obj, "visible_links", [])) or "—"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "source_incident":
            kwargs["queryset"] = visible_incidents(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False  # the bench is permanent: retire instead

    @admin.display(description="case", ordering="pk")
    def reference(self, obj):
        return f"EV-{obj.pk}"

    def save_model(self, request, obj, form, change):
        if change:
            record_save(instance=obj, actor=request.user, fields=["failure_category", "failure_finding"])
            return
        data = form.cleaned_data
        created = evalcase_create(
            feature=data["feature"],
            input=data["input"],
            expected_behaviour=data["expected_behaviour"],
            actor=request.user,
            failure_category=data["failure_category"],
            failure_finding=data["failure_finding"],
            source_incident=data["source_incident"],
            incidents=list(data.get("incidents") or []),
        )
        obj.pk = obj.id = created.pk

    def save_related(self, request, form, formsets, change):
        # On add the service has linked the source incident and the chosen incidents; the form's own
        # save_m2m would set the links to the form's list alone and drop the source incident.
        if change:
            super().save_related(request, form, formsets, change)
            return
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def response_add(self, request, obj, post_url_continue=None):
        # Added from an incident's Evals card: back to that card, where the run is recorded next.
        incident = obj.source_incident
        if incident is not None and "_continue" not in request.POST and "_addanother" not in request.POST:
            self.message_user(
                request,
                f"EV-{obj.pk} added and linked to {incident.reference}: record a run for it.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident.pk]) + "#evals")
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Retire the selected cases (give a reason)")
    def retire(self, request, queryset):
        reason = request.POST.get("reason", "")
        for case in queryset:
            _report(
                self,
                request,
                lambda c=case: evalcase_retire(case_id=c.pk, reason=reason, actor=request.user),
                f"EV-{case.pk} retired.",
            )

    @admin.action(description="Export the selected cases as JSON Lines")
    def export_jsonl(self, request, queryset):
        response = HttpResponse(evalcases_jsonl(queryset, user=request.user), content_type="application/x-ndjson")
        response["Content-Disposition"] = 'attachment; filename="fireline-eval-bench.jsonl"'
        return response


class ManualEvalRunForm(forms.ModelForm):
    """A run recorded by hand: the same numbers a harness sends, and who ran it."""

    class Meta:
        model = EvalRun
        fields = ["case", "trials", "failures", "ran_by", "ran_at", "model_version", "prompt_version"]
        labels = {"ran_by": "Who ran it", "ran_at": "Ran at"}
        help_texts = {
            "trials": "How many times the case's input was run.",
            "failures": "How many of those runs showed the failure.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ran_by"].required = True
        self.fields["ran_by"].queryset = staff_users()
        self.fields["case"].queryset = EvalCase.objects.filter(retired_at__isnull=True).select_related("feature")

    def clean_trials(self):
        trials = self.cleaned_data["trials"]
        if trials < 1:
            raise forms.ValidationError("Run the case at least once.")
        return trials

    def clean(self):
        data = super().clean()
        trials, failures = data.get("trials"), data.get("failures")
        if trials is not None and failures is not None and failures > trials:
            self.add_error("failures", f"At most the number of trials ({trials}).")
        return data


@admin.register(EvalRun)
class EvalRunAdmin(admin.ModelAdmin):
    """Eval runs: the harness's arrive over the API; a team without one records a run here by hand."""

    form = ManualEvalRunForm
    list_display = ["run", "case_ref", "trials", "failures", "rate", "bound", "harness", "ran_by", "ran_at"]
    list_filter = ["harness"]
    list_select_related = ["case", "ran_by"]
    date_hierarchy = "ran_at"
    readonly_fields = ["harness_text", "rate", "bound"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["case", "trials", "failures", "ran_by", "ran_at", "model_version", "prompt_version", "harness_text"]
        return [
            "case",
            "trials",
            "failures",
            "rate",
            "bound",
            "ran_by",
            "ran_at",
            "model_version",
            "prompt_version",
            "harness",
            "seeds",
            "received_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False  # a run is evidence of what was measured: never edited

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("ran_by", request.user.pk)
        initial.setdefault("ran_at", timezone.now())
        return initial

    @admin.display(description="run", ordering="pk")
    def run(self, obj):
        return f"run {obj.pk}"

    @admin.display(description="case", ordering="case_id")
    def case_ref(self, obj):
        url = reverse("admin:incidents_evalcase_change", args=[obj.case_id])
        return format_html('<a href="{}">EV-{}</a>', url, obj.case_id)

    @admin.display(description="harness")
    def harness_text(self, obj):
        return f"{MANUAL_HARNESS} (recorded by hand in Fireline)"

    @admin.display(description="failure rate")
    def rate(self, obj):
        return f"{obj.failure_rate:.1%}"

    @admin.display(description="95% upper bound")
    def bound(self, obj):
        return f"{obj.upper_bound:.1%}"

    def _incident(self, request):
        """The incident page the run was recorded from (?incident=ID), if the user may see it."""
        incident_id = request.GET.get("incident", "")
        if not incident_id.isdigit():
            return None
        return visible_incidents(user=request.user).filter(pk=int(incident_id)).first()

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        run = {
            "case": data["case"].pk,
            "trials": data["trials"],
            "failures": data["failures"],
            "ran_by": data["ran_by"],
            "ran_at": data["ran_at"],
            "model_version": data["model_version"],
            "prompt_version": data["prompt_version"],
        }
        # the harness's path: the same validation, the same regression check, the same gate
        (stored,) = evalruns_record(runs=[run], harness=MANUAL_HARNESS, actor=request.user)
        obj.pk = obj.id = stored.pk

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except (ValidationError, PermissionDenied) as exc:
            text = error_text(exc) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, f"Run not recorded. {text}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def response_add(self, request, obj, post_url_continue=None):
        incident = self._incident(request)
        numbers = (
            f"EV-{obj.case_id}: {obj.failures} of {obj.trials} trials failed, 95% upper bound {obj.upper_bound:.1%}"
        )
        if incident is None:
            self.message_user(request, f"Run recorded by hand. {numbers}.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:incidents_evalcase_change", args=[obj.case_id]))
        # the verdict the verified gate will give for this incident's severity, from the gate itself
        policy = policy_for(incident.severity)
        status = CaseStatus(case=obj.case, run=obj, min_trials=policy.min_trials, threshold=policy.max_failure_rate)
        if status.passes:
            self.message_user(request, f"Run recorded by hand. {numbers}: it passes.", messages.SUCCESS)
        else:
            self.message_user(
                request, f"Run recorded by hand, but it does not pass: {status.why_not}.", messages.WARNING
            )
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident.pk]) + "#evals")


@admin.register(VerificationPolicy)
class VerificationPolicyAdmin(admin.ModelAdmin):
    list_display = ["severity", "min_trials", "max_failure_rate"]
    readonly_fields = ["severity"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        record_save(instance=obj, actor=request.user, fields=["min_trials", "max_failure_rate"])
