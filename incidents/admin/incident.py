"""The incident page: the commander's one screen, and the changelist behind it."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.contrib import admin, messages
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from incidents.constants import (
    CATEGORY_HELP,
    Audience,
    Category,
    IncidentState,
    NotificationState,
    PageState,
)
from incidents.models import Incident
from incidents.playbook import checklist_with_owners
from incidents.selectors import incident_visibility_q
from incidents.services import (
    incident_open,
    incident_update,
    transition_options,
)
from incidents.services.incidents import EDITABLE_FIELDS
from incidents.text import format_duration as duration

from .action_items import IncidentFollowupAdminMixin
from .blockers import link_blockers
from .declare import DeclareIncidentAdminMixin
from .fix_panel import FixPanelAdminMixin
from .forms import ContainmentForm, LabelledSplitDateTime, TimelineNoteForm, TransitionForm, staff_users
from .forms import error_text as _error_text  # noqa: F401  (incidents/admin/reports.py imports it from here)
from .incident_actions import IncidentCommandPanelAdminMixin
from .incident_columns import STATE_COLOURS, IncidentColumnsAdminMixin
from .incident_page import incident_page_cards
from .investigation import InvestigationAdminMixin
from .regulatory_card import RegulatoryAdminMixin

# An incident's reference as people type it; at most 18 digits, so it always fits a 64-bit key.
INCIDENT_REFERENCE = re.compile(r"^\s*(?:INC-?\s*|#)?(\d{1,18})\s*$", re.IGNORECASE)

# Summaries above the incident list ("how incidents were found") are the command centre's reads. The
# command app sits above incidents and registers them at start-up (command/apps.py), so incidents never
# imports it. Each is called with the user and gives the template variable of its name (None: not shown).
CHANGELIST_SUMMARIES: dict[str, Callable[..., object]] = {}


def changelist_summary_register(name: str, selector: Callable[..., object]) -> None:
    CHANGELIST_SUMMARIES[name] = selector


@admin.register(Incident)
class IncidentAdmin(
    IncidentColumnsAdminMixin,
    IncidentCommandPanelAdminMixin,
    DeclareIncidentAdminMixin,
    IncidentFollowupAdminMixin,
    RegulatoryAdminMixin,
    FixPanelAdminMixin,
    InvestigationAdminMixin,
    SimpleHistoryAdmin,
):
    change_form_template = "admin/incidents/incident/change_form.html"
    formfield_overrides = {models.DateTimeField: {"widget": LabelledSplitDateTime}}
    list_display = [
        "reference_link",
        "title",
        "state_badge",
        "severity_badge",
        "category",
        "feature_key",
        "commander",
        "detected_at",
        "time_open",
        "restricted",
    ]
    list_display_links = ["title"]
    list_filter = ["state", "severity", "category", "feature", "detection_signal", "is_restricted"]
    list_select_related = ["feature", "commander"]
    search_fields = ["title", "summary", "feature__key", "feature__name"]
    search_help_text = "Search titles, summaries and features, or a reference such as INC-12."
    autocomplete_fields = ["feature"]
    filter_horizontal = ["members"]
    date_hierarchy = "detected_at"
    list_per_page = 50
    readonly_fields = ["state_badge", "severity_badge", "triage_outcome", "impact"]
    add_fieldsets = [
        (None, {"fields": ["title", "summary", "feature", "detection_signal", "category"]}),
        (
            "Impact (drives the triage matrix)",
            {
                "fields": [
                    "users_affected",
                    "is_public",
                    "involves_privacy",
                    "occurred_at",
                    "detected_at",
                    "public_link",
                    "went_public_at",
                ]
            },
        ),
        ("People", {"fields": ["commander", "members", "is_restricted"]}),
        ("Severity override", {"classes": ["collapse"], "fields": ["severity_override", "severity_override_reason"]}),
    ]
    # Every section of the raw form starts closed: the page above it is how an incident is worked,
    # and a section with an error opens itself (Django's collapse does).
    change_fieldsets = [
        (
            "What and where",
            {"fields": ["title", "summary", "feature", "detection_signal", "category"], "classes": ["collapse"]},
        ),
        (
            "Triage",
            {
                "fields": [
                    "triage_outcome",
                    "users_affected",
                    "is_public",
                    "involves_privacy",
                    "severity_override",
                    "severity_override_reason",
                    "occurred_at",
                    "detected_at",
                    "public_link",
                    "went_public_at",
                ],
                "classes": ["collapse"],
            },
        ),
        ("People and visibility", {"fields": ["commander", "members", "is_restricted"], "classes": ["collapse"]}),
        (
            "Root cause and fix",
            {
                "fields": [
                    "root_cause_layer",
                    "root_cause",
                    "fix_layer",
                    "fix_description",
                    "fix_reference",
                    "fix_approved_by",
                    "fix_layer_justification",
                ],
                "classes": ["collapse"],
            },
        ),
        (
            "Verification, post-mortem and communications",
            {
                "fields": ["verification_summary", "postmortem_summary", "communications_summary"],
                "classes": ["collapse"],
            },
        ),
    ]

    # --- visibility: one queryset for changelist, search, autocomplete, lookups and the page -----

    def get_queryset(self, request):
        return super().get_queryset(request).filter(incident_visibility_q(request.user))

    def get_search_results(self, request, queryset, search_term):
        # "INC-12", "inc-12", "#12" or "12" is a reference: the list search and the autocomplete of
        # every form that points at an incident find it beside the title matches. `queryset` is
        # get_queryset's, so a restricted incident stays hidden from those who may not see it.
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        match = INCIDENT_REFERENCE.match(search_term or "")
        if match:
            results = results | queryset.filter(pk=int(match.group(1)))
        return results, may_have_duplicates

    def has_delete_permission(self, request, obj=None):
        return False  # incidents are dismissed, never deleted: the record is the point

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        for name, selector in CHANGELIST_SUMMARIES.items():
            extra_context[name] = selector(user=request.user)
        return super().changelist_view(request, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        # simple-history falls back to the historical rows when the live object is not found,
        # which would show a restricted incident's history to anyone: check visibility first.
        if not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404
        return super().history_view(request, object_id, extra_context)

    # The raw-form sections this state's next step needs stay open; the rest start closed.
    OPEN_SECTIONS = {
        IncidentState.INVESTIGATING: {"Root cause and fix"},
        IncidentState.FIXED: {"Root cause and fix"},
        IncidentState.VERIFIED: {"Verification, post-mortem and communications"},
        IncidentState.POSTMORTEM: {"Verification, post-mortem and communications"},
    }

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        wanted = set(self.OPEN_SECTIONS.get(obj.state, ()))
        if obj.commander_id is None and obj.is_open:
            wanted.add("People and visibility")
        fieldsets = []
        for name, options in self.change_fieldsets:
            if name in wanted:
                options = {**options, "classes": [c for c in options.get("classes", []) if c != "collapse"]}
            fieldsets.append((name, options))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None and not obj.is_open:
            fields += [f for f in EDITABLE_FIELDS if f not in fields] + ["members"]
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("commander", "fix_approved_by"):
            kwargs["queryset"] = staff_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "members":
            kwargs["queryset"] = staff_users()
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("commander", request.user.pk)
        initial.setdefault("detected_at", timezone.now())
        return initial

    # --- saving goes through the services ------------------------------------------------------

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {f: data[f] for f in form.changed_data if f in EDITABLE_FIELDS or f == "members"}
            if changes:
                incident_update(incident_id=obj.pk, changes=changes, actor=request.user)
        else:
            fields = [f for f in EDITABLE_FIELDS if f in data]
            created = incident_open(
                actor=request.user, **{f: data[f] for f in fields}, members=list(data.get("members") or [])
            )
            obj.pk = obj.id = created.pk

    def response_add(self, request, obj, post_url_continue=None):
        # After opening an incident the commander wants its command panel, not the list.
        if "_addanother" not in request.POST and "_popup" not in request.POST:
            self.message_user(request, f"{obj.reference} opened.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)

    def save_related(self, request, form, formsets, change):
        # members were saved by the service, inside its transaction and its action-log entry
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        incident = (
            self.get_queryset(request)
            .select_related("feature", "commander", "triage_rule", "postmortem")
            .filter(pk=object_id)
            .first()
        )
        if incident is not None:
            now = timezone.now()
            commander = incident.commander
            checklist = checklist_with_owners(
                incident.state,
                commander_name=(commander.get_full_name() or commander.get_username()) if commander else "",
            )
            options = transition_options(incident, request.user)
            # the button that writes the post-mortem, while one is needed and none exists yet
            can_write_postmortem = (
                getattr(incident, "postmortem", None) is None
                and incident.state != IncidentState.DISMISSED
                and (incident.requires_postmortem or incident.state == IncidentState.POSTMORTEM)
                and request.user.has_perm("incidents.add_postmortem")
            )
            link_blockers(options, incident, can_write_postmortem=can_write_postmortem)
            extra_context.update(
                {
                    "incident": incident,
                    "state_colour": STATE_COLOURS[incident.state],
                    "options": options,
                    "can_write_postmortem": can_write_postmortem,
                    "members": list(incident.members.order_by("username")),
                    "clocks": [
                        ("Since detection", duration(incident.time_since_detection(now))),
                        (
                            "Time to contain",
                            duration(incident.time_to_contain())
                            if incident.contained_at
                            else f"not contained ({duration(incident.time_since_detection(now))} so far)"
                            if incident.is_open
                            else "never contained",
                        ),
                        ("Time open", duration(incident.time_open(now))),
                    ],
                    "checklist_title": checklist[0] if checklist else None,
                    "checklist": checklist[1] if checklist else [],
                    "containment_actions": list(
                        incident.containment_actions.select_related(
                            "actor", "approved_by", "reverted_by", "handed_over_to"
                        )
                    ),
                    "default_containment": incident.triage_rule.default_containment if incident.triage_rule else [],
                    "timeline": list(incident.timeline.select_related("actor").order_by("-occurred_at", "-id")[:300]),
                    "timeline_total": incident.timeline.count(),
                    "containment_form": ContainmentForm(
                        initial={
                            "action_type": (incident.triage_rule.default_containment or [None])[0]
                            if incident.triage_rule
                            else None
                        }
                    ),
                    "note_form": TimelineNoteForm(),
                    "pages": list(incident.pages.select_related("contact").order_by("-created_at", "-id")[:50]),
                    "failed_notifications": list(
                        incident.notifications.filter(state=NotificationState.FAILED).select_related("contact")
                    ),
                    "ackable_states": [PageState.PENDING, PageState.SENT, PageState.FAILED],
                    "can_ack": request.user.has_perm("incidents.acknowledge_page"),
                    "can_contain": request.user.has_perm("incidents.add_containmentaction") and incident.is_open,
                    "can_revert": request.user.has_perm("incidents.change_containmentaction"),
                    "can_note": request.user.has_perm("incidents.add_timelineentry"),
                    "category_help": CATEGORY_HELP.get(Category(incident.category)) if incident.category else "",
                    "dismiss_reasons": TransitionForm.base_fields["dismiss_reason"].choices,
                    **self._close_context(incident, options),
                }
            )
            extra_context.update(self.investigation_context(request, incident))
            extra_context.update(self.fix_panel_context(request, incident))
            extra_context.update(self.regulatory_context(request, incident))
            extra_context.update(self.followup_context(request, incident))
            extra_context.update(
                {
                    # one query, however many communications the incident has
                    "comm_rows": list(incident.communications.order_by("-created_at", "-id")),
                    "comm_required": [dict(Audience.choices).get(a, a) for a in incident.required_communications or []],
                    "comm_can_draft": request.user.has_perm("incidents.add_communication"),
                    "comm_audiences": Audience.choices,
                }
            )
            extra_context.update(incident_page_cards(request, incident, extra_context))
        return super().change_view(request, object_id, form_url, extra_context)
