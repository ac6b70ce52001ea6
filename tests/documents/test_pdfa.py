"""The archive PDFs checked against the structural requirements of PDF/A-3b (ISO 19005-3, level B).

veraPDF (the reference validator) needs a Java runtime and a download this machine cannot make, so
these are the checks it would run that matter for these documents, read with pypdf: identification in
the XMP metadata, an sRGB output intent with its ICC profile, every font embedded, a file identifier, no
encryption or JavaScript, annotations printable, and each embedded file an associated file with its
relationship, MIME type and dates (ISO 19005-3 §6.8).
"""

import io

import pypdf
import pytest
from django.urls import reverse
from pypdf.generic import IndirectObject

from .conftest import pdf_text


def resolve(value):
    return value.get_object() if isinstance(value, IndirectObject) else value


def fonts_of(reader: pypdf.PdfReader):
    """Every font dictionary the pages use, with the descendant of a composite (Type0) font."""
    seen = {}
    for page in reader.pages:
        resources = resolve(page.get("/Resources")) or {}
        for font in (resolve(resources.get("/Font")) or {}).values():
            font = resolve(font)
            seen[id(font)] = font
            for descendant in resolve(font.get("/DescendantFonts")) or []:
                descendant = resolve(descendant)
                seen[id(descendant)] = descendant
    return list(seen.values())


def pdfa_problems(data: bytes) -> list[str]:
    """What keeps the file from being PDF/A-3b, as a list of findings (empty when none)."""
    problems = []
    header, second = data.split(b"\n", 2)[:2]
    if not header.startswith(b"%PDF-1.") or int(header[7:8]) < 4:
        problems.append(f"header {header!r}: PDF/A-3 needs PDF 1.4 or later")
    if not any(byte > 127 for byte in second[1:5]):
        problems.append("no binary comment after the header (6.1.2)")
    reader = pypdf.PdfReader(io.BytesIO(data))
    trailer, root = reader.trailer, resolve(reader.trailer["/Root"])
    if "/Encrypt" in trailer:
        problems.append("encrypted (6.1.3)")
    if "/ID" not in trailer:
        problems.append("no file identifier in the trailer (6.1.3)")
    # identification (6.6.4) and metadata consistency (6.6.2.3)
    xmp = reader.xmp_metadata
    if xmp is None:
        problems.append("no XMP metadata stream in the catalog (6.6.2.1)")
    else:
        ns = "http://www.aiim.org/pdfa/ns/id/"
        descriptions = xmp.rdf_root.getElementsByTagNameNS("http://www.w3.org/1999/02/22-rdf-syntax-ns#", "Description")
        ident = {(d.getAttributeNS(ns, "part"), d.getAttributeNS(ns, "conformance")) for d in descriptions}
        if ("3", "B") not in ident:
            problems.append(f"XMP identifies {ident}, not PDF/A-3B (6.6.4)")
        info_title = (reader.metadata or {}).get("/Title")
        if info_title and xmp.dc_title and info_title not in xmp.dc_title.values():
            problems.append("the Info title and the XMP dc:title differ (6.6.2.3)")
    # output intent (6.2.3)
    intents = [resolve(i) for i in resolve(root.get("/OutputIntents")) or []]
    pdfa_intents = [i for i in intents if i.get("/S") == "/GTS_PDFA1"]
    if not pdfa_intents:
        problems.append("no GTS_PDFA1 output intent (6.2.3)")
    for intent in pdfa_intents:
        profile = resolve(intent.get("/DestOutputProfile"))
        if profile is None or profile.get("/N") not in (1, 3, 4) or b"acsp" not in profile.get_data()[:128]:
            problems.append("the output intent has no valid ICC profile (6.2.3)")
    # fonts embedded (6.2.11.4)
    for font in fonts_of(reader):
        if font.get("/Subtype") in ("/Type0", "/Type3"):
            continue  # a composite font's glyphs are in its descendant; Type3 glyphs are content streams
        descriptor = resolve(font.get("/FontDescriptor"))
        if descriptor is None or not any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")):
            problems.append(f"font {font.get('/BaseFont')} is not embedded (6.2.11.4)")
    # no JavaScript, printable annotations (6.5, 6.6.1)
    names = resolve(root.get("/Names")) or {}
    if "/JavaScript" in names or "/AA" in root:
        problems.append("JavaScript or additional actions (6.6.1)")
    for page in reader.pages:
        for annot in resolve(page.get("/Annots")) or []:
            annot = resolve(annot)
            if annot.get("/Subtype") != "/Popup" and not int(annot.get("/F", 0)) & 4:
                problems.append("an annotation without the print flag (6.5.3)")
    # embedded files are associated files (6.8)
    embedded = resolve(names.get("/EmbeddedFiles")) if names else None
    specs = []
    if embedded is not None:
        listing = resolve(embedded.get("/Names")) or []
        specs = [resolve(listing[i + 1]) for i in range(0, len(listing), 2)]
    associated = {id(resolve(a)) for a in resolve(root.get("/AF")) or []}
    for spec in specs:
        name = spec.get("/UF") or spec.get("/F")
        if spec.get("/AFRelationship") not in ("/Source", "/Data", "/Alternative", "/Supplement", "/Unspecified"):
            problems.append(f"{name}: no AFRelationship (6.8)")
        if id(spec) not in associated:
            problems.append(f"{name}: not listed in the catalog's AF array (6.8)")
        if not (spec.get("/F") and spec.get("/UF")):
            problems.append(f"{name}: the file specification needs F and UF (6.8)")
        stream = resolve(resolve(spec["/EF"]).get("/F"))
        if not stream.get("/Subtype"):
            problems.append(f"{name}: the embedded file has no MIME type (6.8)")
        if not (resolve(stream.get("/Params")) or {}).get("/ModDate"):
            problems.append(f"{name}: the embedded file has no modification date (6.8)")
    return problems


@pytest.fixture
def reader(client, documented, people):
    client.force_login(people["legal"])
    return client


ARCHIVES = [
    ("postmortem-pdf", {}, True),
    ("postmortem-pdf", {"variant": "public"}, True),
    ("summary-pdf", {}, True),
    ("summary-pdf", {"variant": "public"}, True),
    ("regulator-pdf", {}, False),
]


@pytest.mark.parametrize("name,params,has_timeline", ARCHIVES)
def test_every_archive_pdf_is_structurally_pdfa_3b(reader, documented, name, params, has_timeline):
    args = [documented.pk, "eu-ai-act-73"] if name == "regulator-pdf" else [documented.pk]
    response = reader.get(reverse(name, args=args), {**params, "archive": "1"})
    assert response.status_code == 200
    assert pdfa_problems(response.content) == []
    attachments = pypdf.PdfReader(io.BytesIO(response.content)).attachments
    assert bool(attachments) == has_timeline
    assert pdf_text(response.content)  # and it still reads as text


def test_the_checks_catch_a_plain_pdf(reader, documented):
    plain = reader.get(reverse("summary-pdf", args=[documented.pk])).content
    problems = pdfa_problems(plain)
    assert any("XMP" in p for p in problems) and any("output intent" in p for p in problems)
