"""Rendering PDFs with WeasyPrint, safely.

User text reaches the HTML only through `render_markdown` (nh3). As a second wall, WeasyPrint gets a
URL fetcher that answers only for the app's own static files, found through the staticfiles finders
and read from disk; every other URL (file://, http(s):// to any host including localhost, data:) is
refused before anything is opened, so a hostile post-mortem can neither read a server file into the
PDF nor make the server send a request. WeasyPrint reports the refusal as a warning and skips the
resource.
"""

from __future__ import annotations

import datetime
import json
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from weasyprint import HTML, Attachment
from weasyprint.urls import URLFetcher, URLFetcherResponse

from incidents.models import Incident, PostMortem
from incidents.models.postmortems import DEFAULT_MARKING
from incidents.text import render_markdown

from .audience import Redactor, Variant, outside_timeline, public_hides_names, public_marking

# A host that never resolves: relative and root-relative URLs in templates join onto it, and only
# its /static/ paths are served by the fetcher below.
PDF_BASE_URL = "https://fireline-pdf.invalid/"


class RefusedURL(ValueError):
    """A URL the PDF renderer may not fetch."""


class StaticOnlyURLFetcher(URLFetcher):
    """Serves `/static/...` from the staticfiles finders; refuses every other URL without opening it."""

    def fetch(self, url, headers=None):
        path = self.static_path(url)
        if path is None:
            raise RefusedURL(f"Refused to fetch {url[:80]!r}: only the app's static files are allowed.")
        found = finders.find(path)
        if not found:
            raise RefusedURL(f"No static file {path!r}.")
        with open(found, "rb") as handle:
            body = handle.read()
        mime_type = mimetypes.guess_type(found)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body, {"Content-Type": mime_type})

    @staticmethod
    def static_path(url: str) -> str | None:
        """The path under STATIC_URL that `url` names on the PDF base host, else None."""
        parts = urlsplit(url)
        base = urlsplit(PDF_BASE_URL)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or parts.query:
            return None
        prefix = "/" + settings.STATIC_URL.strip("/") + "/"
        path = unquote(parts.path)
        if not path.startswith(prefix):
            return None
        relative = path[len(prefix) :]
        if not relative or ".." in relative.split("/") or relative.startswith("/") or "\\" in relative:
            return None
        return relative


def html_to_pdf(html: str, *, archive: bool = False, attachments: Sequence[PdfAttachment] = ()) -> bytes:
    """Render already-built HTML with the restricted fetcher.

    `archive` makes a PDF/A-3b (ISO 19005-3, level B: fonts embedded, colours and metadata declared)
    so the file stays readable for as long as a record must be kept; PDF/A-3 is the part that allows
    embedded files, which carry the machine-readable timeline next to the printed one.

    Every PDF is tagged (headings, paragraphs, tables with their header cells, in reading order) with
    the document's title and language, so a screen reader can read it; one that is not archived is
    declared PDF/UA-1 (ISO 14289-1). WeasyPrint writes one variant per file, so an archive stays
    PDF/A-3b, tagged all the same.
    """
    fetcher = StaticOnlyURLFetcher()
    options: dict = {"pdf_tags": True, "pdf_variant": "pdf/ua-1"}
    if archive:
        options["pdf_variant"] = "pdf/a-3b"
    if attachments:
        options["attachments"] = [
            Attachment(
                string=item.body,
                base_url=PDF_BASE_URL,
                url_fetcher=fetcher,
                name=item.name,
                description=item.description,
                created=item.created,
                modified=item.created,
                relationship="Data",
            )
            for item in attachments
        ]
    return HTML(string=html, base_url=PDF_BASE_URL, url_fetcher=fetcher).write_pdf(**options)


@dataclass(frozen=True)
class PdfAttachment:
    """A file embedded in the PDF; its body is text we built, never a URL."""

    name: str
    body: str
    description: str
    created: datetime.datetime


def timeline_entries(incident: Incident, variant: Variant):
    entries = incident.timeline.select_related("actor").order_by("occurred_at", "pk")
    if variant != Variant.INTERNAL:
        entries = outside_timeline(entries)
    return list(entries)


def cell_markdown(text: str) -> SafeString:
    """Markdown for a table cell: a lone paragraph loses its <p>, one block box less per row.

    Hundreds of timeline rows each wrapped in a paragraph cost WeasyPrint about a fifth of its
    layout time; the outer tags removed are balanced, so the sanitized HTML stays well-formed.
    """
    html = render_markdown(text)
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        return mark_safe(html[3:-4])  # noqa: S308 - a substring of sanitized HTML, its outer tags removed
    return html


def timeline_rows(entries, redact: Redactor) -> list[dict]:
    return [
        {
            "occurred_at": entry.occurred_at,
            "kind": entry.get_kind_display(),
            "text": cell_markdown(redact(entry.text)),
            # key events are starred by the commander; older databases have no such column
            "is_key_event": bool(getattr(entry, "is_key_event", False)),
        }
        for entry in entries
    ]


def timeline_attachment(incident: Incident, entries, redact: Redactor, variant: Variant, created) -> PdfAttachment:
    """The incident's timeline as JSON, for archives that read data rather than pages."""
    data = {
        "incident": incident.reference,
        "title": incident.title,
        "variant": str(variant),
        "generated_at": created.isoformat(),
        "timeline": [
            {
                "occurred_at": entry.occurred_at.isoformat(),
                "kind": entry.kind,
                "text": redact(entry.text),
                "actor": redact.person(entry.actor) if entry.actor_id else None,
                "is_key_event": bool(getattr(entry, "is_key_event", False)),
            }
            for entry in entries
        ],
    }
    return PdfAttachment(
        name=f"{incident.reference}-timeline.json",
        body=json.dumps(data, ensure_ascii=False, indent=2),
        description=f"Timeline of {incident.reference} as JSON",
        created=created,
    )


def marking_for(variant: Variant, internal_marking: str) -> str:
    if variant == Variant.PUBLIC:
        return public_marking()
    return internal_marking or getattr(settings, "FIRELINE_PDF_MARKING", DEFAULT_MARKING)


def redactor_for(incident: Incident, variant: Variant) -> Redactor:
    return Redactor(incident, enabled=variant == Variant.PUBLIC and public_hides_names())


def postmortem_context(postmortem: PostMortem, variant: Variant = Variant.INTERNAL) -> dict:
    incident = postmortem.incident
    redact = redactor_for(incident, variant)
    entries = timeline_entries(incident, variant)
    # drill follow-ups stay with the drill's report; this is what the post-mortem commits to
    action_items = list(postmortem.report_action_items())
    reviewers = [
        f"{row['label']}: {redact.person(row['approval'].user)}, {row['approval'].approved_at:%Y-%m-%d}"
        if row["approval"]
        else f"{row['label']}: not yet"
        for row in postmortem.review_status()
    ]
    return {
        "postmortem": postmortem,
        "incident": incident,
        "variant": variant,
        "is_public": variant == Variant.PUBLIC,
        "marking": marking_for(variant, postmortem.classification_marking),
        "approved_by": redact.person(postmortem.approved_by) if postmortem.approved_by_id else "",
        "reviewers": reviewers,
        "sections": [(heading, render_markdown(redact(text))) for _, heading, text in postmortem.sections],
        "timeline": timeline_rows(entries, redact),
        "has_key_events": any(getattr(entry, "is_key_event", False) for entry in entries),
        "action_items": [
            {
                "title": redact(item.title),
                "kind": item.get_kind_display(),
                "owner": redact.person(item.owner),
                "due_date": item.due_date,
                "state": item.get_state_display(),
                "is_overdue": item.is_overdue,
                "wont_do_reason": redact(item.wont_do_reason),
            }
            for item in action_items
        ],
        "learnings": [
            (learning.get_scope_display(), render_markdown(redact(learning.text)))
            for learning in postmortem.learnings.all()
        ],
        "generated_at": timezone.now(),
        "_entries": entries,
        "_redact": redact,
    }


def postmortem_html(postmortem: PostMortem, variant: Variant = Variant.INTERNAL) -> str:
    with timezone.override(datetime.UTC):  # the PDF is a record: one zone for every reader
        return render_to_string("exports/postmortem.html", postmortem_context(postmortem, variant))


def postmortem_pdf(postmortem: PostMortem, *, variant: Variant = Variant.INTERNAL, archive: bool = False) -> bytes:
    with timezone.override(datetime.UTC):
        context = postmortem_context(postmortem, variant)
        html = render_to_string("exports/postmortem.html", context)
    attachments = ()
    if archive:
        attachments = (
            timeline_attachment(
                postmortem.incident, context["_entries"], context["_redact"], variant, context["generated_at"]
            ),
        )
    return html_to_pdf(html, archive=archive, attachments=attachments)
