"""The post-mortem PDF the public reads is tagged for screen readers (PDF/UA): a structure tree with
headings and table header cells, the document's language and its title shown as the window title."""

import io

import pypdf
import pytest
from pypdf.generic import IndirectObject

from incidents import services
from incidents.constants import Category, DetectionSignal
from incidents.exports import pdf as exports_pdf
from incidents.exports.audience import Variant
from incidents.models import PostMortem
from incidents.services.postmortems import postmortem_approve, postmortem_create, postmortem_publish, postmortem_submit
from tests.conftest import fresh
from tests.incidents.factories import AIFeatureFactory, UserFactory
from tests.incidents.postmortem_text import write_sections


def structure_roles(node, seen: set[str], depth: int = 0) -> None:
    """Every /S (structure type) in the tree under `node`."""
    if isinstance(node, IndirectObject):
        node = node.get_object()
    if depth > 200:
        return
    if isinstance(node, pypdf.generic.ArrayObject):
        for child in node:
            structure_roles(child, seen, depth + 1)
    elif isinstance(node, pypdf.generic.DictionaryObject):
        if "/S" in node:
            seen.add(str(node["/S"]))
        if "/K" in node:
            structure_roles(node["/K"], seen, depth + 1)


def xmp(catalog) -> bytes:
    """The document's XMP metadata, where PDF/A and PDF/UA declare themselves."""
    return catalog["/Metadata"].get_object().get_data() if "/Metadata" in catalog else b""


@pytest.fixture
def published(db):
    commander = fresh(UserFactory(username="cmdr", role="Incident Commander"))
    legal = fresh(UserFactory(username="lawyer", role="Legal"))
    incident = services.incident_open(
        actor=commander,
        title="Assistant showed other customers' orders",
        summary="The assistant quoted other customers' order numbers to 40 users.",
        category=Category.DATA_LEAK,
        detection_signal=DetectionSignal.USER_REPORT,
        feature=AIFeatureFactory(),
        commander=commander,
        users_affected=40,
    )
    services.timeline_add_note(incident_id=incident.pk, text="Kill switch confirmed off.", actor=commander)
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    write_sections(pm.pk, commander)
    postmortem_submit(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=legal)
    postmortem_publish(postmortem_id=pm.pk, actor=legal)
    return PostMortem.objects.get(pk=pm.pk)


def test_the_public_postmortem_pdf_is_tagged_with_title_and_language(published):
    data = exports_pdf.postmortem_pdf(published, variant=Variant.PUBLIC)
    reader = pypdf.PdfReader(io.BytesIO(data))
    catalog = reader.trailer["/Root"]
    assert "/StructTreeRoot" in catalog, "the PDF has no structure tree: a screen reader sees loose text"
    assert bool(catalog["/MarkInfo"]["/Marked"])
    assert str(catalog.get("/Lang", "")).startswith("en"), f"document language: {catalog.get('/Lang')!r}"
    assert bool(catalog["/ViewerPreferences"]["/DisplayDocTitle"])
    title = reader.metadata.title or ""
    assert published.incident.reference in title, f"document title: {title!r}"
    roles: set[str] = set()
    structure_roles(catalog["/StructTreeRoot"], roles)
    assert {"/H1", "/H2", "/P"} <= roles, f"structure types: {sorted(roles)}"
    assert "/TH" in roles and "/Table" in roles, f"tables without header cells: {sorted(roles)}"
    assert b"pdfuaid:part" in xmp(catalog), "not declared PDF/UA"


def test_the_archived_pdf_stays_pdf_a_and_is_tagged_too(published):
    data = exports_pdf.postmortem_pdf(published, variant=Variant.PUBLIC, archive=True)
    catalog = pypdf.PdfReader(io.BytesIO(data)).trailer["/Root"]
    assert "/StructTreeRoot" in catalog and str(catalog.get("/Lang", "")).startswith("en")
    assert b"pdfaid:part" in xmp(catalog), "no longer PDF/A"
