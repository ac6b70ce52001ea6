"""Admin for audit records: the record page, search, attaching evidence to an incident.

The changelist is the audit-trail search. Its base queryset is `audit_record_search`, the filters are
the selector's own Q objects, and links from an incident arrive with the feature, a time window
and the incident to attach to already chosen. Records are read-only for everyone: they are what
the AI product sent, and evidence is frozen on them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from incidents.models import Incident
from incidents.selectors import visible_incidents

from .investigation import (
    audit_record_search,
    evidence_attach,
    record_content_hash,
    text_q,
    user_ref_q,
    verdict_q,
)
from .models import AuditRecord, Evidence, Verdict

VERDICT_COLOURS = {
    Verdict.ALLOW: "green",
    Verdict.FLAG: "amber",
    Verdict.BLOCK: "red",
    Verdict.REWRITE: "purple",
}


def incident_number(value) -> int | None:
    """The incident a user typed: 12, #12, INC-12 and inc 12 all name incident 12."""
    text = str(value or "").strip().upper().removeprefix("INC").lstrip("-# ")
    return int(text) if text.isdigit() else None


# --- filters ----------------------------------------------------------------------------------


class ForIncidentFilter(admin.SimpleListFilter):
    """Carries the incident a search was opened from, so "attach" knows where to; filters nothing.

    It shows in the sidebar only while set, and only for an incident the user can see.
    """

    title = "attaching to"
    parameter_name = "incident"

    def lookups(self, request, model_admin):
        number = incident_number(self.value())
        incident = visible_incidents(user=request.user).filter(pk=number).first() if number else None
        self.incident = incident
        return [(str(incident.pk), f"{incident.reference} {Truncator(incident.title).chars(40)}")] if incident else []

    def queryset(self, request, queryset):
        return queryset


class OccurredFilter(admin.ListFilter):
    """A time window on occurred_at: presets, or a from/to typed in UTC (or arriving in a link)."""

    title = "time"
    template = "admin/audit/auditrecord/occurred_filter.html"
    gte, lt = "occurred_at__gte", "occurred_at__lt"
    PRESETS = [
        ("Last hour", timedelta(hours=1)),
        ("Last 24 hours", timedelta(days=1)),
        ("Last 7 days", timedelta(days=7)),
        ("Last 30 days", timedelta(days=30)),
    ]

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in (self.gte, self.lt):
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]
        self.start = self._parse(self.used_parameters.get(self.gte))
        self.end = self._parse(self.used_parameters.get(self.lt))

    @staticmethod
    def _parse(value: str | None) -> datetime | None:
        if not value:
            return None
        moment = parse_datetime(value.strip().replace(" ", "T", 1))
        if moment is None:
            raise IncorrectLookupParameters(f"Not a date and time: {value!r}")
        # Typed times are UTC, the zone every Fireline screen shows.
        return timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.gte, self.lt]

    def queryset(self, request, queryset):
        if self.start is not None:
            queryset = queryset.filter(occurred_at__gte=self.start)
        if self.end is not None:
            queryset = queryset.filter(occurred_at__lt=self.end)
        return queryset

    @staticmethod
    def _input_value(moment: datetime | None) -> str:
        return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M}" if moment else ""

    @staticmethod
    def _shown(moment: datetime | None) -> str:
        return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}" if moment else ""

    def choices(self, changelist):
        # Kept for the custom from/to form: every other parameter of the current search.
        self.other_params = [(k, v) for k, v in changelist.params.items() if k not in (self.gte, self.lt)]
        self.start_value = self._input_value(self.start)
        self.end_value = self._input_value(self.end)
        now = timezone.now().replace(second=0, microsecond=0)
        yield {
            "selected": self.start is None and self.end is None,
            "query_string": changelist.get_query_string(remove=[self.gte, self.lt]),
            "display": "Any time",
        }
        matched = False
        for label, span in self.PRESETS:
            start = (now - span).isoformat()
            selected = (
                self.end is None and self.start is not None and abs((now - span) - self.start) < timedelta(minutes=2)
            )
            matched |= selected
            yield {
                "selected": selected,
                "query_string": changelist.get_query_string({self.gte: start}, remove=[self.lt]),
                "display": label,
            }
        if (self.start or self.end) and not matched:
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(),
                "display": f"{self._shown(self.start) or '…'} to {self._shown(self.end) or 'now'} UTC",
            }


class _VersionFilter(admin.SimpleListFilter):
    """Versions seen in the current feature and window (the whole trail when none is chosen).

    A version that arrives in the query string is kept as a choice even when it is not in the list,
    so a link can name any version.
    """

    column = ""
    limit = 40

    def lookups(self, request, model_admin):
        qs = AuditRecord.objects.all()
        feature = request.GET.get("feature__id__exact")
        if feature and feature.isdigit():
            qs = qs.filter(feature_id=int(feature))
            for name, lookup in ((OccurredFilter.gte, "occurred_at__gte"), (OccurredFilter.lt, "occurred_at__lt")):
                try:
                    moment = OccurredFilter._parse(request.GET.get(name))
                except IncorrectLookupParameters:
                    moment = None
                if moment is not None:
                    qs = qs.filter(**{lookup: moment})
        versions = list(
            qs.exclude(**{self.column: ""})
            .order_by(f"-{self.column}")
            .values_list(self.column, flat=True)
            .distinct()[: self.limit]
        )
        if self.value() and self.value() not in versions:
            versions.insert(0, self.value())
        return [(v, v) for v in versions]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.column: self.value()}) if self.value() else queryset


class ModelVersionFilter(_VersionFilter):
    title = "model version"
    parameter_name = "model_version"
    column = "model_version"


class PromptVersionFilter(_VersionFilter):
    title = "prompt version"
    parameter_name = "prompt_version"
    column = "prompt_version"


class VerdictFilter(admin.SimpleListFilter):
    title = "moderation verdict"
    parameter_name = "verdict"

    def lookups(self, request, model_admin):
        return Verdict.choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(verdict_q(self.value()))
        except ValidationError as exc:
            raise IncorrectLookupParameters(exc) from exc


# --- the action form --------------------------------------------------------------------------


class EvidenceActionForm(ActionForm):
    incident = forms.CharField(
        required=False,
        label="Incident",
        widget=forms.TextInput(attrs={"placeholder": "INC-…", "size": 8, "aria-label": "Incident number"}),
    )


# --- the admin --------------------------------------------------------------------------------


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    change_form_template = "admin/audit/auditrecord/change_form.html"
    change_list_template = "admin/audit/auditrecord/change_list.html"
    list_display = ["occurred", "request_id", "versions", "verdicts", "exchange"]
    list_display_links = ["occurred", "request_id"]
    list_filter = [
        ForIncidentFilter,
        "feature",
        OccurredFilter,
        ModelVersionFilter,
        PromptVersionFilter,
        VerdictFilter,
    ]
    list_select_related = ["feature"]
    search_fields = ["request_id"]  # the search itself is get_search_results
    search_help_text = (
        "A request id, or text that the input or an output contains. "
        "user:<id> finds one user's requests (the raw id or its stored reference)."
    )
    ordering = ["-occurred_at", "-id"]
    list_per_page = 50
    # Counting a million rows twice per page helps no one: one count, of what matches.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["attach_to_incident"]
    action_form = EvidenceActionForm

    # --- read-only, visible to holders of audit.view_auditrecord --------------------------

    def get_queryset(self, request):
        return audit_record_search(user=request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_evidence_permission(self, request):
        return request.user.has_perm("audit.add_evidence")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.lower().startswith("user:"):
            return queryset.filter(user_ref_q(term[5:])), False
        # A request id is an indexed equality; only when none matches is it read as text.
        by_id = queryset.filter(request_id=term)
        if by_id.exists():
            return by_id, False
        return queryset.filter(text_q(term)), False

    # --- list columns ----------------------------------------------------------------------

    @admin.display(description="occurred (UTC)", ordering="occurred_at")
    def occurred(self, obj):
        return f"{obj.occurred_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"

    @admin.display(description="feature · model · prompt")
    def versions(self, obj):
        return format_html(
            '{}<br><span class="fl-muted">{} · {}</span>',
            obj.feature.key,
            obj.model_version or "—",
            obj.prompt_version or "—",
        )

    @admin.display(description="moderation")
    def verdicts(self, obj):
        decisions = obj.moderation if isinstance(obj.moderation, list) else []
        verdicts = list(dict.fromkeys(str(d.get("verdict", "")) for d in decisions if isinstance(d, dict)))
        return format_html_join(
            " ",
            '<span class="fl-state fl-{}">{}</span>',
            ((VERDICT_COLOURS.get(v, "grey"), v) for v in verdicts if v),
        )

    @admin.display(description="input → what the user saw")
    def exchange(self, obj):
        if obj.content_deleted_at:
            return format_html('<span class="fl-muted">content deleted {}</span>', f"{obj.content_deleted_at:%Y-%m-%d}")
        return format_html(
            '<div class="fl-exchange-in">{}</div><div class="fl-exchange-out">→ {}</div>',
            Truncator(obj.input).chars(140),
            Truncator(obj.user_output).chars(140),
        )

    # --- attaching evidence ---------------------------------------------------------------

    def _incident_param(self, request) -> int | None:
        return incident_number(request.GET.get(ForIncidentFilter.parameter_name))

    def get_actions(self, request):
        actions = super().get_actions(request)
        number = self._incident_param(request)
        if "attach_to_incident" in actions and number:
            func, name, _ = actions["attach_to_incident"]
            actions[name] = (func, name, f"Attach to incident INC-{number} as evidence")
        return actions

    def changelist_view(self, request, extra_context=None):
        number = self._incident_param(request)
        incident = visible_incidents(user=request.user).filter(pk=number).first() if number else None
        extra_context = {
            **(extra_context or {}),
            "attaching_to": incident,
            "can_attach": request.user.has_perm("audit.add_evidence"),
        }
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if incident and context and context.get("action_form") is not None:
            context["action_form"].fields["incident"].initial = f"INC-{number}"
            context["action_form"].fields["action"].initial = "attach_to_incident"
        return response

    @admin.action(permissions=["add_evidence"], description="Attach to incident # (type it beside) as evidence")
    def attach_to_incident(self, request, queryset):
        number = incident_number(request.POST.get("incident")) or self._incident_param(request)
        if number is None:
            self.message_user(request, "Type the incident number to attach the records to (INC-…).", messages.ERROR)
            return None
        incident = visible_incidents(user=request.user).filter(pk=number).first()
        if incident is None:
            self.message_user(request, f"No incident INC-{number}.", messages.ERROR)
            return None
        record_ids = list(queryset.order_by().values_list("pk", flat=True)[:501])
        try:
            created = evidence_attach(incident_id=incident.pk, record_ids=record_ids, actor=request.user)
        except (Incident.DoesNotExist, PermissionDenied) as exc:
            self.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
            return None
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return None
        already = len(record_ids) - len(created)
        self.message_user(
            request,
            format_html(
                'Attached {} record{} to <a href="{}">{}</a> as evidence{}.',
                len(created),
                "" if len(created) == 1 else "s",
                reverse("admin:incidents_incident_change", args=[incident.pk]) + "#evidence",
                incident.reference,
                f"; {already} already attached" if already else "",
            ),
            messages.SUCCESS,
        )
        return None

    # --- the record page ---------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_queryset(request).filter(pk=object_id).first() if str(object_id).isdigit() else None
        if record is not None:
            extra_context = {**(extra_context or {}), **self._record_context(request, record)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _record_context(self, request, record: AuditRecord) -> dict:
        evidence = []
        if request.user.has_perm("audit.view_evidence"):
            current = record_content_hash(record)
            evidence = [
                (e, e.content_hash == current)
                for e in Evidence.objects.filter(
                    record=record, incident__in=visible_incidents(user=request.user).values("pk")
                ).select_related("incident", "attached_by")
            ]
        same_output = record.model_output == record.user_output
        current_hash = record_content_hash(record)
        return {
            "record": record,
            "current_hash": current_hash,
            "hash_matches_ingest": not record.content_hash or record.content_hash == current_hash,
            "decisions": _decisions(record.moderation),
            "documents": _documents(record.retrieved_context),
            "parameters": _pairs(record.parameters),
            "tool_calls": _pretty(record.tool_calls) if record.tool_calls else "",
            "redactions": sorted((record.redactions or {}).items()) if isinstance(record.redactions, dict) else [],
            "same_output": same_output,
            "evidence": evidence,
            "can_attach": request.user.has_perm("audit.add_evidence"),
            "search_url": reverse("admin:audit_auditrecord_changelist"),
        }


def _pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _scalar(value) -> str:
    return value if isinstance(value, str) else _pretty(value)


def _pairs(value) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [(str(k), _scalar(v)) for k, v in sorted(value.items())]
    return [("value", _pretty(value))] if value else []


def _decisions(value) -> list[dict]:
    """Moderation decisions as sent, tolerating odd shapes: the product may not follow the schema."""
    rows = []
    for item in value if isinstance(value, list) else [value] if value else []:
        if not isinstance(item, dict):
            rows.append({"stage": "", "rule": _scalar(item), "verdict": "", "score": None, "colour": "grey"})
            continue
        verdict = str(item.get("verdict", ""))
        score = item.get("score")
        rows.append(
            {
                "stage": _scalar(item.get("stage", "")),
                "rule": _scalar(item.get("rule", "")),
                "verdict": verdict,
                "score": f"{score:.2f}" if isinstance(score, int | float) else _scalar(score) if score else "",
                "colour": VERDICT_COLOURS.get(verdict, "grey"),
                "extra": {k: _scalar(v) for k, v in item.items() if k not in ("stage", "rule", "verdict", "score")},
            }
        )
    return rows


def _documents(value) -> list[dict]:
    docs = []
    for i, item in enumerate(value if isinstance(value, list) else [value] if value else [], start=1):
        if isinstance(item, dict):
            docs.append(
                {
                    "id": _scalar(item.get("id", f"#{i}")),
                    "source": _scalar(item.get("source", "")),
                    "text": _scalar(item.get("text", item.get("content", ""))),
                    "extra": {k: _scalar(v) for k, v in item.items() if k not in ("id", "source", "text", "content")},
                }
            )
        else:
            docs.append({"id": f"#{i}", "source": "", "text": _scalar(item), "extra": {}})
    return docs
