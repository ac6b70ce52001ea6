"""The incident summary PDF: the facts, the clocks, what was done and said, and what is still owed.

The internal version is the whole record for the team and legal. The public version (`Variant.PUBLIC`)
leaves out manual notes and paging chatter, findings and evidence (the incident's root-cause text is
the root-cause finding, so only its layer is shown), internal communications and the
regulatory obligations (a filing's state is between the company and its authority), and names no
employee when `FIRELINE_PDF_PUBLIC_HIDES_NAMES` is on. Evidence is listed only when the caller says
the reader may see it (`include_evidence`).
"""

from __future__ import annotations

import datetime

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from incidents.constants import Audience
from incidents.models import Communication, CommunicationState, Incident
from incidents.services.flags import switch_export_text
from incidents.text import SUMMARY, format_duration, render_markdown

from .audience import Variant, redactor_for, shows
from .pdf import html_to_pdf, organisation_context, timeline_attachment, timeline_items, timeline_rows

# The state timestamps, in the order the playbook reaches them: (label, field).
MILESTONES = [
    ("Detected", "detected_at"),
    ("Triaged", "triaged_at"),
    ("Contained", "contained_at"),
    ("Investigating", "investigating_at"),
    ("Fixed", "fixed_at"),
    ("Verified", "verified_at"),
    ("Post-mortem", "postmortem_at"),
    ("Closed", "closed_at"),
    ("Dismissed", "dismissed_at"),
]
PUBLIC_AUDIENCES = (Audience.PUBLIC, Audience.AFFECTED_USERS)
PHASE_COLOURS = ["#c0392b", "#e67e22", "#d4ac0d", "#2e86c1", "#17a589", "#7d3c98", "#566573", "#888888"]


def duration_text(delta: datetime.timedelta | None) -> str:
    """2d 3h, 4h 05m, 12m; "not yet" when the clock has not stopped."""
    return format_duration(delta, SUMMARY)


def milestones(incident: Incident) -> list[tuple[str, datetime.datetime]]:
    reached = [(label, getattr(incident, field)) for label, field in MILESTONES]
    return sorted(((label, at) for label, at in reached if at), key=lambda item: item[1])


def phase_chart(incident: Incident, now: datetime.datetime) -> SafeString:
    """How long the incident spent in each phase, as an SVG bar chart (labels are ours, never user text)."""
    points = milestones(incident)
    end = now if incident.is_open else points[-1][1]
    phases = []
    ends = [at for _, at in points[1:]] + [end]
    for n, ((label, start), stop) in enumerate(zip(points, ends, strict=True)):
        is_current = n == len(points) - 1 and incident.is_open
        if stop > start or is_current:
            phases.append((label, start, stop))
    if not phases:
        return SafeString("")
    origin = points[0][1]
    total = max((end - origin).total_seconds(), 60.0)
    width, label_width, row = 170.0, 32.0, 7.0  # mm
    bar_width = width - label_width - 22
    rows = []
    for n, (label, start, stop) in enumerate(phases):
        x = label_width + bar_width * (start - origin).total_seconds() / total
        w = max(bar_width * (stop - start).total_seconds() / total, 0.6)
        y = n * row
        label_text = f"{label} (now)" if incident.is_open and n == len(phases) - 1 else label
        rows.append(
            format_html(
                '<text x="0" y="{}" font-size="3.2">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
                '<text x="{}" y="{}" font-size="3">{}</text>',
                f"{y + 4.6:.1f}",
                label_text,
                f"{x:.2f}",
                f"{y + 1:.1f}",
                f"{w:.2f}",
                f"{row - 2:.1f}",
                PHASE_COLOURS[n % len(PHASE_COLOURS)],
                f"{x + w + 1.5:.2f}",
                f"{y + 4.6:.1f}",
                duration_text(stop - start),
            )
        )
    height = row * len(phases) + 1
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}mm" height="{}mm" viewBox="0 0 {} {}" '
        'font-family="DejaVu Sans" role="img" aria-label="Time in each phase">{}</svg>',
        width,
        height,
        width,
        height,
        format_html_join("", "{}", ((r,) for r in rows)),
    )


def summary_context(incident: Incident, variant: Variant = Variant.INTERNAL, *, include_evidence: bool = True) -> dict:
    is_public = variant == Variant.PUBLIC
    redact = redactor_for(incident, variant)
    now = timezone.now()
    items = timeline_items(incident, variant)
    containment = incident.containment_actions.select_related("actor", "approved_by", "reverted_by").order_by(
        "performed_at", "pk"
    )
    sent = Communication.objects.filter(incident=incident, state=CommunicationState.SENT).select_related("sent_by")
    if is_public:
        sent = sent.filter(audience__in=PUBLIC_AUDIENCES)

    def text(field: str, value: str) -> str:
        return render_markdown(redact(value)) if shows(field, variant) and (value or "").strip() else ""

    context = organisation_context(variant)
    context.update(
        {
            "incident": incident,
            "feature": incident.feature,
            "commander": redact.person(incident.commander, fallback="not assigned"),
            "summary": text("incident.summary", incident.summary),
            "root_cause": text("incident.root_cause", incident.root_cause),
            "fix_description": text("incident.fix_description", incident.fix_description),
            "show_override_reason": shows("incident.severity_override_reason", variant),
            "show_fix_reference": shows("incident.fix_reference", variant),
            "show_users_affected": shows("incident.users_affected", variant),
            "milestones": milestones(incident),
            "time_to_contain": duration_text(incident.time_to_contain()),
            "time_open": duration_text(incident.time_open(now)),
            "chart": phase_chart(incident, now),
            "show_containment_people": shows("containment.people", variant),
            "containment": [
                {
                    "performed_at": action.performed_at,
                    "action": action.get_action_type_display(),
                    "description": redact(action.description) if shows("containment.description", variant) else "",
                    "by": redact.person(action.actor),
                    "approved_by": redact.person(action.approved_by) if action.approved_by_id else "",
                    "is_reversible": action.is_reversible,
                    "reverted_at": action.reverted_at,
                    "revert_reason": redact(action.revert_reason)
                    if shows("containment.revert_reason", variant)
                    else "",
                }
                for action in containment
            ],
            "timeline": timeline_rows(items, redact),
            "switch_state": switch_export_text(incident, name_holders=not is_public),
            "communications": [
                {
                    "sent_at": comm.sent_at,
                    "audience": comm.get_audience_display(),
                    "subject": redact(comm.sent_subject),
                    "recipients": len(comm.sent_recipients or []),
                    "sent_by": redact.person(comm.sent_by) if comm.sent_by_id else "",
                }
                for comm in sent.order_by("sent_at", "pk")
            ],
            "generated_at": now,
            "_items": items,
            "_redact": redact,
        }
    )
    if shows("finding.*", variant):
        context["findings"] = [
            {
                "layer": finding.get_layer_display(),
                "common": finding.get_common_finding_display(),
                "text": render_markdown(redact(finding.text)),
                "is_root_cause": finding.is_root_cause,
            }
            for finding in incident.findings.order_by("created_at", "pk")
        ]
    if shows("obligation.*", variant):
        context["obligations"] = list(
            incident.regulatory_obligations.select_related("rule", "rule__regime").order_by("deadline", "pk")
        )
    if include_evidence and shows("evidence.*", variant):
        context["evidence"] = list(incident.evidence.select_related("record").order_by("attached_at", "pk"))
    return context


def summary_pdf(
    incident: Incident, *, variant: Variant = Variant.INTERNAL, archive: bool = False, include_evidence: bool = True
) -> bytes:
    with timezone.override(datetime.UTC):  # the PDF is a record: one zone for every reader
        context = summary_context(incident, variant, include_evidence=include_evidence)
        html = render_to_string("exports/summary.html", context)
    attachments = ()
    if archive:
        attachments = (
            timeline_attachment(
                incident.reference,
                incident.title,
                context["_items"],
                context["_redact"],
                variant,
                context["generated_at"],
            ),
        )
    return html_to_pdf(html, archive=archive, attachments=attachments)


def summary_html(incident: Incident, variant: Variant = Variant.INTERNAL, *, include_evidence: bool = True) -> str:
    with timezone.override(datetime.UTC):
        context = summary_context(incident, variant, include_evidence=include_evidence)
        return render_to_string("exports/summary.html", context)
