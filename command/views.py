"""The command centre (the admin index), the readiness scorecard and the metrics page.

Views read through the selectors in dashboard, readiness and metrics; they hold no rules of their own.
Each is wrapped in admin_view in the URLconf: staff login, like the rest of the admin.
"""

from __future__ import annotations

import csv
from datetime import timedelta

from django import forms
from django.contrib import admin
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from incidents.constants import Category, DetectionSignal, Severity
from incidents.exports.pdf import html_to_pdf
from incidents.models import AIFeature

from .charts import SEVERITY_COLOURS, Series, bar_chart_svg
from .dashboard import command_centre_get
from .links import admin_url
from .metrics import DURATIONS, MetricsFilterError, format_duration, metrics_csv_rows, metrics_get, quarter_start
from .readiness import scorecard_get

SEVERITY_LABELS = [(s, s) for s in Severity.values] + [("", "untriaged")]


def _admin_context(request, title: str) -> dict:
    return {**admin.site.each_context(request), "title": title, "subtitle": None}


@require_GET
def command_centre(request):
    centre = command_centre_get(user=request.user)
    severities = [
        {
            "value": value,
            "label": label,
            "count": centre.severity_counts.get(value, 0),
            "css": (value or "none").lower(),
        }
        for value, label in SEVERITY_LABELS
    ]
    incidents_url = admin_url("incidents_incident_changelist")
    context = {
        **_admin_context(request, "Command centre"),
        "app_list": admin.site.get_app_list(request),
        "centre": centre,
        "severities": severities,
        "incidents_url": incidents_url,
        "links": {
            "obligations": admin_url("incidents_regulatoryobligation_changelist", query={"due": "overdue"}),
            "action_items": admin_url("incidents_actionitem_changelist"),
            "notifications": admin_url("incidents_notification_changelist", query={"state__exact": "failed"}),
            "pages": admin_url("incidents_page_changelist"),
            "alerts": admin_url("incidents_alert_changelist", query={"state": "inbox"}),
            "reports": admin_url("incidents_userreport_changelist", query={"state": "inbox"}),
            "drills": admin_url("drills_drill_changelist"),
            "monitors": admin_url("command_qualitymonitor_changelist"),
        },
    }
    return TemplateResponse(request, "command/index.html", context)


@require_GET
def readiness(request):
    scorecard = scorecard_get()
    context = {**_admin_context(request, "Readiness scorecard"), "scorecard": scorecard}
    return TemplateResponse(request, "command/readiness.html", context)


@require_GET
def readiness_pdf(request):
    scorecard = scorecard_get()
    html = render_to_string("command/readiness_pdf.html", {"scorecard": scorecard, "generated_at": timezone.now()})
    response = HttpResponse(html_to_pdf(html), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="fireline-readiness-{timezone.localdate():%Y-%m-%d}.pdf"'
    return response


class MetricsFilterForm(forms.Form):
    feature = forms.ModelChoiceField(
        queryset=AIFeature.objects.order_by("name"), required=False, empty_label="all features"
    )
    category = forms.ChoiceField(choices=[("", "all categories"), *Category.choices], required=False)
    quarter = forms.CharField(required=False, max_length=7, help_text="e.g. 2026-Q4; empty for the last 8 quarters")

    def clean_quarter(self):
        value = self.cleaned_data["quarter"].strip().upper()
        if value:
            try:
                quarter_start(value)
            except MetricsFilterError as exc:
                raise forms.ValidationError(str(exc)) from None
        return value


def _metrics_or_errors(request):
    form = MetricsFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return form, None
    data = form.cleaned_data if request.GET else {}
    metrics = metrics_get(
        user=request.user,
        feature=data.get("feature"),
        category=data.get("category") or "",
        quarter=data.get("quarter") or "",
    )
    return form, metrics


def _charts(metrics) -> dict:
    quarters = metrics.quarters
    per_quarter = bar_chart_svg(
        title="Incidents per quarter, by severity",
        categories=quarters,
        series=[
            Series(label, SEVERITY_COLOURS[value], [metrics.per_quarter[q][value] for q in quarters])
            for value, label in SEVERITY_LABELS
        ],
        y_label="incidents",
    )
    signals = DetectionSignal.values
    detect = bar_chart_svg(
        title="Time to detect by signal (hours)",
        categories=[DetectionSignal(s).label.split(" (")[0] for s in signals],
        series=[
            Series("median", "#1565c0", [_seconds(metrics.detect_by_signal[s].median) for s in signals]),
            Series("p90", "#90caf9", [_seconds(metrics.detect_by_signal[s].p90) for s in signals]),
        ],
        stacked=False,
        y_label="hours",
        scale=lambda v: v / 3600,
        value_text=lambda v: format_duration(_delta(v)),
    )
    contain = bar_chart_svg(
        title="Median time to contain, fix and close per quarter (hours)",
        categories=quarters,
        series=[
            Series(
                DURATIONS[name][0], colour, [_seconds(metrics.durations_per_quarter[q][name].median) for q in quarters]
            )
            for name, colour in (("contain", "#2e7d32"), ("fix", "#1565c0"), ("close", "#6a1b9a"))
        ],
        stacked=False,
        y_label="hours",
        scale=lambda v: v / 3600,
        value_text=lambda v: format_duration(_delta(v)),
    )
    evals = bar_chart_svg(
        title="Eval cases added per quarter",
        categories=quarters,
        series=[Series("eval cases added", "#00838f", [metrics.evals_per_quarter.get(q, 0) for q in quarters])],
        y_label="cases",
    )
    return {"per_quarter": per_quarter, "detect": detect, "durations": contain, "evals": evals}


def _seconds(value):
    return value.total_seconds() if value is not None else 0


def _delta(seconds):
    return timedelta(seconds=seconds) if seconds else None


@require_GET
def metrics(request):
    form, data = _metrics_or_errors(request)
    context = {**_admin_context(request, "Response metrics"), "form": form, "metrics": data}
    if data is None:
        return TemplateResponse(request, "command/metrics.html", context, status=400)
    context.update(
        charts=_charts(data),
        duration_rows=[
            {"label": label, "value": data.durations[name]} for name, (label, _start, _end) in DURATIONS.items()
        ],
        signal_rows=[
            {"label": DetectionSignal(s).label, "value": data.detect_by_signal[s]} for s in DetectionSignal.values
        ],
        category_rows=[
            {
                "label": Category(c).label if c else "no category yet",
                "counts": [data.by_category_severity[c][s] for s, _ in SEVERITY_LABELS],
                "total": sum(data.by_category_severity[c].values()),
            }
            for c in [*Category.values, ""]
        ],
        severity_labels=[label for _value, label in SEVERITY_LABELS],
        csv_query=request.GET.urlencode(),
    )
    return TemplateResponse(request, "command/metrics.html", context)


@require_GET
def metrics_csv(request):
    form, data = _metrics_or_errors(request)
    if data is None:
        errors = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in form.errors.items())
        return HttpResponse(f"Bad filter: {errors}\n", status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="fireline-metrics-{timezone.localdate():%Y-%m-%d}.csv"'
    writer = csv.writer(response)
    writer.writerows(metrics_csv_rows(data))
    return response
