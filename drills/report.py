"""The drill report PDF, with the post-mortem machinery (WeasyPrint, static-only fetcher, A4)."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.exports.pdf import html_to_pdf
from incidents.models import ActionItem, ActionItemSource
from incidents.models.postmortems import DEFAULT_MARKING
from incidents.text import render_markdown

from .models import Drill
from .scoring import SCORE_RULE
from .services import escalation_path_stale_contacts
from .timing import drill_step_results


def drill_report_context(drill: Drill) -> dict:
    incident = drill.incident
    scenario = drill.scenario
    checklist = list(drill.checklist.all())
    items = (
        list(ActionItem.objects.filter(incident=incident).select_related("owner").order_by("source", "due_date", "pk"))
        if incident
        else []
    )
    return {
        "drill": drill,
        "scenario": scenario,
        "incident": incident,
        "marking": getattr(settings, "FIRELINE_PDF_MARKING", DEFAULT_MARKING),
        "bad_output": render_markdown(scenario.bad_output),
        "briefing": render_markdown(scenario.briefing),
        "injects": [(i.minute, render_markdown(i.text), i.released_at) for i in drill.injects.all()]
        or [(i.minute, render_markdown(i.text), None) for i in scenario.injects.all()],
        "steps": drill_step_results(drill),
        "checklist": checklist,
        "ticked": sum(i.is_done for i in checklist),
        # Before the start the checklist is empty: the report lists (and counts) the scenario's actions.
        "expected_actions": [] if checklist or drill.started_at else list(scenario.expected_actions.all()),
        "score_rule": SCORE_RULE,
        "gaps": [i for i in items if i.source == ActionItemSource.DRILL],
        "other_items": [i for i in items if i.source != ActionItemSource.DRILL],
        "stale_contacts": escalation_path_stale_contacts(drill) if incident else [],
        "timeline": [
            (entry.occurred_at, entry.get_kind_display(), render_markdown(entry.text))
            for entry in (incident.timeline.all() if incident else [])
        ],
        "debrief_notes": render_markdown(drill.debrief_notes),
        "generated_at": timezone.now(),
    }


def drill_report_html(drill: Drill) -> str:
    with timezone.override(datetime.UTC):  # the PDF is a record: one zone for every reader
        return render_to_string("drills/report.html", drill_report_context(drill))


def drill_report_pdf(drill: Drill) -> bytes:
    return html_to_pdf(drill_report_html(drill))
