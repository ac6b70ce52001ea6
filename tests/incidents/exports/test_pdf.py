"""The post-mortem PDF read back with pypdf, and the URL fetcher that keeps it from reading or fetching."""

import io
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pypdf
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from weasyprint import HTML

from incidents.constants import Category, TimelineKind
from incidents.exports import PDF_BASE_URL, StaticOnlyURLFetcher, html_to_pdf, postmortem_pdf
from incidents.exports.pdf import RefusedURL, postmortem_html
from incidents.models import TimelineEntry
from incidents.models.postmortems import SECTIONS
from incidents.services.postmortems import postmortem_create, postmortem_update
from tests.conftest import fresh
from tests.incidents.factories import UserFactory

MARKING = "Confidential — prepared at the direction of counsel"


class RecordingHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(png_bytes())

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    """A real HTTP server on 127.0.0.1 that records every request it receives."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 0, 0)).save(out, format="PNG")
    return out.getvalue()


def read(pdf: bytes) -> pypdf.PdfReader:
    return pypdf.PdfReader(io.BytesIO(pdf))


def image_count(pdf: bytes) -> int:
    return sum(len(page.images) for page in read(pdf).pages)


def incident_with_postmortem(open_incident, commander, entries=0, **text):
    incident = open_incident()
    start = timezone.now() - timedelta(days=2)
    TimelineEntry.objects.bulk_create(
        TimelineEntry(
            incident=incident, occurred_at=start + timedelta(minutes=i), kind=TimelineKind.NOTE, text=f"Event {i}"
        )
        for i in range(entries)
    )
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    if text:
        pm = postmortem_update(postmortem_id=pm.pk, changes=text, actor=commander)
    return pm


def test_pdf_has_sections_marking_on_every_page_page_numbers_and_bookmarks(open_incident, commander):
    pm = incident_with_postmortem(open_incident, commander, entries=300, impact="**5,000** users insulted.")
    reader = read(postmortem_pdf(pm))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) > 1
    text = "\n".join(pages)
    for _, heading in SECTIONS:
        assert heading in text
    assert "Event 0" in text and "Event 299" in text
    for number, page in enumerate(pages, start=1):
        assert MARKING in page, number
        assert pm.incident.reference in page, number
        assert f"Page {number} of {len(pages)}" in page
    assert "Page 1 of" in pages[0]
    outline = [item.title for item in reader.outline if not isinstance(item, list)]
    nested = [item.title for group in reader.outline if isinstance(group, list) for item in group]
    assert any(title.startswith("Post-mortem") for title in outline)
    assert {heading for _, heading in SECTIONS} <= set(nested)


def test_timeline_table_repeats_its_header_on_each_page(open_incident, commander):
    reader = read(postmortem_pdf(incident_with_postmortem(open_incident, commander, entries=300)))
    timeline_pages = [page.extract_text() for page in reader.pages if "Event " in page.extract_text()]
    assert len(timeline_pages) > 1
    assert all("When (UTC)" in page for page in timeline_pages)


def test_marking_comes_from_the_postmortem(open_incident, commander):
    pm = incident_with_postmortem(open_incident, commander, classification_marking="Internal only")
    pages = [page.extract_text() for page in read(postmortem_pdf(pm)).pages]
    assert all("Internal only" in page for page in pages) and MARKING not in "".join(pages)


# --- the URL fetcher ------------------------------------------------------------------------------


def test_fetcher_serves_the_apps_static_files_only(local_server):
    fetcher = StaticOnlyURLFetcher()
    css = fetcher.fetch(PDF_BASE_URL + "static/fireline/fireline.css")
    assert css.read() and "css" in css.headers["Content-Type"]
    port = local_server.server_address[1]
    for url in (
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        f"http://127.0.0.1:{port}/x.png",
        f"https://127.0.0.1:{port}/x.png",
        f"http://localhost:{port}/static/fireline/fireline.css",
        "data:text/plain,hello",
        PDF_BASE_URL + "static/../../../etc/passwd",
        PDF_BASE_URL + "static/%2e%2e/%2e%2e/etc/passwd",
        PDF_BASE_URL + "media/anything.png",
    ):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    assert local_server.requests == []


def test_weasyprint_skips_refused_resources_without_reading_or_requesting(tmp_path, local_server):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    port = local_server.server_address[1]
    html = (
        f'<link rel="stylesheet" href="http://127.0.0.1:{port}/style.css">'
        f'<p>hello</p><img src="file://{secret}"><img src="http://127.0.0.1:{port}/x.png">'
        '<img src="file:///etc/passwd">'
    )
    assert image_count(html_to_pdf(html)) == 0
    assert local_server.requests == []
    # the same file:// image under WeasyPrint's own fetcher is embedded: the assertion above can fail
    assert image_count(HTML(string=f'<img src="file://{secret}">').write_pdf()) == 1


def test_postmortem_with_hostile_text_neither_reads_nor_fetches(open_incident, commander, local_server, monkeypatch):
    port = local_server.server_address[1]
    fetched = []
    original = StaticOnlyURLFetcher.fetch

    def spy(self, url, headers=None):
        fetched.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(StaticOnlyURLFetcher, "fetch", spy)
    pm = incident_with_postmortem(
        open_incident,
        commander,
        what_happened='<img src="file:///etc/passwd"> and ![x](file:///etc/passwd)',
        impact=f"![x](http://127.0.0.1:{port}/x.png) <img src='http://127.0.0.1:{port}/y.png'>",
        root_cause=f'<link rel="stylesheet" href="http://127.0.0.1:{port}/s.css"> [attachment](file:///etc/passwd)',
    )
    html = postmortem_html(pm)
    assert "<img" not in html and "<link" not in html and 'href="file:' not in html
    pdf = postmortem_pdf(pm)
    assert image_count(pdf) == 0
    assert local_server.requests == []
    assert not [url for url in fetched if not url.startswith(PDF_BASE_URL)]
    assert "root:" not in "".join(page.extract_text() for page in read(pdf).pages)


# --- the view and the command ---------------------------------------------------------------------


def test_view_serves_the_pdf_to_members_and_404_to_outsiders(client, open_incident, commander):
    incident = open_incident(title="Leaked addresses", category=Category.DATA_LEAK)
    assert incident.is_restricted
    postmortem_create(incident_id=incident.pk, actor=commander)
    url = reverse("postmortem-pdf", args=[incident.pk])
    client.force_login(commander)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert read(response.content).pages
    client.force_login(fresh(UserFactory(username="other-cmdr", role="Incident Commander")))
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_view_404_without_a_postmortem(client, open_incident, commander):
    incident = open_incident()
    client.force_login(commander)
    assert client.get(reverse("postmortem-pdf", args=[incident.pk])).status_code == 404


def test_export_pdf_command_writes_the_same_pdf(open_incident, commander, tmp_path):
    pm = incident_with_postmortem(open_incident, commander, entries=5)
    target = tmp_path / "pm.pdf"
    with time_machine.travel("2026-03-01 12:00:00+00:00", tick=False):
        call_command("export_pdf", "postmortem", str(pm.incident_id), "-o", str(target))
        expected = postmortem_pdf(pm)
    assert target.read_bytes() == expected


def test_export_pdf_command_says_what_is_missing(db, tmp_path):
    with pytest.raises(CommandError, match="has no post-mortem"):
        call_command("export_pdf", "postmortem", "999999", "-o", str(tmp_path / "x.pdf"))
    assert not (tmp_path / "x.pdf").exists()
