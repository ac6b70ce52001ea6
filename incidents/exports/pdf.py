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

from incidents.models import Incident, OrganisationProfile, PostMortem, PostMortemRevision
from incidents.text import render_markdown

from .audience import (
    Redactor,
    Variant,
    classify_entry,
    hides_names,
    is_outside,
    marking_for,
    may_see,
    organisation,
    person_text,
    redactor_for,
)
from .snapshot import postmortem_snapshot

# A host that never resolves: relative and root-relative URLs in templates join onto it, and only
# its /static/ paths are served by the fetcher below.
PDF_BASE_URL = "https://fireline-pdf.invalid/"


class RefusedURL(ValueError):
    """A URL the PDF renderer may not fetch."""


# The organisation's logo, served from the database row: the one non-static URL the fetcher answers.
LOGO_URL = PDF_BASE_URL + "organisation/logo"


class StaticOnlyURLFetcher(URLFetcher):
    """Serves `/static/...` from the staticfiles finders and the organisation's logo from the database;
    refuses every other URL without opening it."""

    def fetch(self, url, headers=None):
        if url == LOGO_URL:
            profile = OrganisationProfile.objects.filter(pk=1).only("logo", "logo_content_type").first()
            if profile is None or not profile.has_logo:
                raise RefusedURL("No organisation logo.")
            return URLFetcherResponse(url, bytes(profile.logo), {"Content-Type": profile.logo_content_type})
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


def cell_markdown(text: str) -> SafeString:
    """Markdown for a table cell: a lone paragraph loses its <p>, one block box less per row.

    Hundreds of timeline rows each wrapped in a paragraph cost WeasyPrint about a fifth of its
    layout time; the outer tags removed are balanced, so the sanitized HTML stays well-formed.
    """
    html = render_markdown(text)
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        return mark_safe(html[3:-4])  # noqa: S308 - a substring of sanitized HTML, its outer tags removed
    return html


# --- the live incident timeline (summary PDF) ---------------------------------------------------------


@dataclass(frozen=True)
class TimelineItem:
    occurred_at: datetime.datetime
    kind: str
    kind_label: str
    text: str  # the wording this variant may read
    actor_id: int | None
    is_key_event: bool


def timeline_items(incident: Incident, variant: Variant) -> list[TimelineItem]:
    """The incident's timeline as this variant may read it: classed by the audience rule, outside wording."""
    items = []
    for entry in incident.timeline.order_by("occurred_at", "pk"):
        classified = classify_entry(entry.kind, entry.text, is_automatic=entry.is_automatic)
        if not may_see(classified.audience, variant):
            continue
        text = classified.outside_text if is_outside(variant) else entry.text
        items.append(
            TimelineItem(
                entry.occurred_at,
                entry.kind,
                entry.get_kind_display(),
                text,
                entry.actor_id,
                bool(getattr(entry, "is_key_event", False)),
            )
        )
    return items


def timeline_rows(items, redact: Redactor) -> list[dict]:
    return [
        {
            "occurred_at": item.occurred_at,
            "kind": item.kind_label,
            "text": cell_markdown(redact(item.text)),
            "is_key_event": item.is_key_event,
        }
        for item in items
    ]


def timeline_attachment(
    incident_reference: str, title: str, items, redact: Redactor, variant: Variant, created
) -> PdfAttachment:
    """The timeline as JSON, for archives that read data rather than pages (the same entries as printed)."""
    data = {
        "incident": incident_reference,
        "title": title,
        "variant": str(variant),
        "generated_at": created.isoformat(),
        "timeline": [
            {
                "occurred_at": item.occurred_at.isoformat(),
                "kind": item.kind,
                "text": redact(item.text),
                "actor": redact.person_id(item.actor_id) if item.actor_id else None,
                "is_key_event": item.is_key_event,
            }
            for item in items
        ],
    }
    return PdfAttachment(
        name=f"{incident_reference}-timeline.json",
        body=json.dumps(data, ensure_ascii=False, indent=2),
        description=f"Timeline of {incident_reference} as JSON",
        created=created,
    )


def organisation_context(variant: Variant, **marking_kwargs) -> dict:
    """What every document prints about who issued it: the profile, its logo, the marking."""
    profile = organisation()
    return {
        "organisation": profile,
        "organisation_name": profile.name,
        "logo_url": LOGO_URL if profile.has_logo else "",
        "marking": marking_for(variant, profile=profile, **marking_kwargs),
        "variant": variant,
        "is_public": variant == Variant.PUBLIC,
        "is_outside": is_outside(variant),
    }


# --- the post-mortem, rendered from a snapshot ------------------------------------------------------------


class NoSuchRevision(LookupError):
    """The post-mortem has no revision with that number."""


def _when(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if value else None


def postmortem_context(
    postmortem: PostMortem, variant: Variant = Variant.INTERNAL, *, revision: int | None = None
) -> dict:
    """The post-mortem as printed: the stored revision once published (the latest unless one is named),
    the live post-mortem before that. Both go through the same snapshot, so they print alike."""
    revisions = list(postmortem.revisions.select_related("created_by").order_by("number"))
    chosen: PostMortemRevision | None = None
    if revision is not None:
        chosen = next((r for r in revisions if r.number == revision), None)
        if chosen is None:
            raise NoSuchRevision(f"This post-mortem has no revision {revision}.")
    elif revisions:
        chosen = revisions[-1]
    content = chosen.content if chosen is not None else postmortem_snapshot(postmortem)
    hide = hides_names(variant)
    redact = Redactor(content["people"], hide_names=hide)
    outside = is_outside(variant)
    items = [
        TimelineItem(
            _when(item["occurred_at"]),
            item["kind"],
            item["kind_label"],
            item["outside_text"] if outside else item["text"],
            item["actor"],
            item["is_key_event"],
        )
        for item in content["timeline"]
        if may_see(item["audience"], variant)
    ]
    people = content["people"]

    def full_name(pk) -> str:
        row = people.get(str(pk)) if pk is not None else None
        return "" if row is None or hide else row["name"]

    reviewers = [
        {
            "label": row["label"],
            "name": full_name(row["user"]),
            "approved_at": _when(row["approved_at"]),
        }
        for row in content["reviewers"]
    ]
    context = organisation_context(variant, internal=content["postmortem"]["classification_marking"])
    context.update(
        {
            "postmortem": postmortem,
            "pm": content["postmortem"],
            "incident": content["incident"],
            "revision": chosen,
            "revisions": [
                {
                    "number": r.number,
                    "created_at": r.created_at,
                    "sha256": r.sha256,
                    "reason": "" if outside else r.reason,
                    "by": redact.person(r.created_by) if r.created_by_id else "",
                }
                for r in revisions
                if chosen is None or r.number <= chosen.number
            ],
            "diff": chosen.diff if chosen is not None and not outside else "",
            "published_at": _when(content["postmortem"]["published_at"]),
            "reviewers": reviewers,
            "show_names": not hide,
            "sections": [(s["heading"], render_markdown(redact(s["text"]))) for s in content["sections"]],
            "timeline": timeline_rows(items, redact),
            "has_key_events": any(item.is_key_event for item in items),
            "action_items": [
                {
                    "title": redact(item["title"]),
                    "kind": item["kind"],
                    "owner": redact.person_id(item["owner"], fallback="not assigned"),
                    "due_date": datetime.date.fromisoformat(item["due_date"]) if item["due_date"] else None,
                    "state": item["state"],
                    "is_overdue": item["is_overdue"],
                    "wont_do_reason": "" if outside else redact(item["wont_do_reason"]),
                }
                for item in content["action_items"]
            ],
            "learnings": []
            if outside
            else [(row["scope"], render_markdown(redact(row["text"]))) for row in content.get("learnings", [])],
            "generated_at": timezone.now(),
            "_items": items,
            "_redact": redact,
        }
    )
    return context


def postmortem_html(postmortem: PostMortem, variant: Variant = Variant.INTERNAL, *, revision: int | None = None) -> str:
    with timezone.override(datetime.UTC):  # the PDF is a record: one zone for every reader
        return render_to_string("exports/postmortem.html", postmortem_context(postmortem, variant, revision=revision))


def postmortem_pdf(
    postmortem: PostMortem,
    *,
    variant: Variant = Variant.INTERNAL,
    archive: bool = False,
    revision: int | None = None,
) -> bytes:
    with timezone.override(datetime.UTC):
        context = postmortem_context(postmortem, variant, revision=revision)
        html = render_to_string("exports/postmortem.html", context)
    attachments = ()
    if archive:
        incident = context["incident"]
        attachments = (
            timeline_attachment(
                incident["reference"],
                incident["title"],
                context["_items"],
                context["_redact"],
                variant,
                context["generated_at"],
            ),
        )
    return html_to_pdf(html, archive=archive, attachments=attachments)


__all__ = [
    "LOGO_URL",
    "PDF_BASE_URL",
    "NoSuchRevision",
    "PdfAttachment",
    "StaticOnlyURLFetcher",
    "TimelineItem",
    "html_to_pdf",
    "marking_for",
    "organisation_context",
    "person_text",
    "postmortem_context",
    "postmortem_html",
    "postmortem_pdf",
    "redactor_for",
    "timeline_attachment",
    "timeline_items",
    "timeline_rows",
]
