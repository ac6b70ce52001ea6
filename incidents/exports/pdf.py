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
import mimetypes
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from incidents.models import PostMortem
from incidents.models.postmortems import DEFAULT_MARKING
from incidents.text import render_markdown

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


def html_to_pdf(html: str) -> bytes:
    """Render already-built HTML with the restricted fetcher."""
    return HTML(string=html, base_url=PDF_BASE_URL, url_fetcher=StaticOnlyURLFetcher()).write_pdf()


def postmortem_context(postmortem: PostMortem) -> dict:
    incident = postmortem.incident
    return {
        "postmortem": postmortem,
        "incident": incident,
        "marking": postmortem.classification_marking or getattr(settings, "FIRELINE_PDF_MARKING", DEFAULT_MARKING),
        "sections": [(heading, render_markdown(text)) for _, heading, text in postmortem.sections],
        "timeline": [
            (entry.occurred_at, entry.get_kind_display(), render_markdown(entry.text))
            for entry in incident.timeline.all()
        ],
        "learnings": [
            (learning.get_scope_display(), render_markdown(learning.text)) for learning in postmortem.learnings.all()
        ],
        "generated_at": timezone.now(),
    }


def postmortem_html(postmortem: PostMortem) -> str:
    with timezone.override(datetime.UTC):  # the PDF is a record: one zone for every reader
        return render_to_string("exports/postmortem.html", postmortem_context(postmortem))


def postmortem_pdf(postmortem: PostMortem) -> bytes:
    return html_to_pdf(postmortem_html(postmortem))
