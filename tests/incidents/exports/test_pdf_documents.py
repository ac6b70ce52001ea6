"""The incident summary and communication PDFs, the public variants and the PDF/A-3b archive, read back with pypdf."""

import io
import json
import re
from datetime import date, timedelta

import pypdf
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from audit.trail.investigation import evidence_attach
from incidents.constants import Audience, Category, ContainmentType, RootCauseLayer, TimelineKind
from incidents.exports import (
    PDF_BASE_URL,
    NotExportable,
    StaticOnlyURLFetcher,
    Variant,
    communication_pdf,
    postmortem_pdf,
    regulator_pdf,
    summary_pdf,
)
from incidents.exports.communication import communication_html
from incidents.exports.summary import summary_html
from incidents.models import (
    ActionItem,
    ActionItemKind,
    Communication,
    CommunicationState,
    Regime,
    TimelineEntry,
)
from incidents.services import timeline_add_note
from incidents.services.containment import containment_record
from incidents.services.findings import finding_record
from incidents.services.postmortems import postmortem_create, postmortem_update
from incidents.services.regulatory import reportability_decide
from tests.audit.factories import make_record
from tests.conftest import fresh
from tests.incidents.exports import test_pdf
from tests.incidents.exports.test_pdf import image_count
from tests.incidents.factories import UserFactory
from tests.incidents.postmortem_text import submit_written

local_server = test_pdf.local_server  # the recording HTTP server fixture

MARKING = "Confidential — prepared at the direction of counsel"
NOTE = "Internal note: the night shift ignored the alert"
FINDING = "Moderation rule 17 was disabled by a config push"
SUMMARY_SECTIONS = [
    "Facts",
    "Clocks",
    "Containment ledger",
    "Findings",
    "Timeline",
    "Communications sent",
    "Regulatory obligations",
]


def read(pdf: bytes) -> pypdf.PdfReader:
    return pypdf.PdfReader(io.BytesIO(pdf))


def pages_of(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in read(pdf).pages]


def text_of(pdf: bytes) -> str:
    return " ".join("\n".join(pages_of(pdf)).split())


def communication(incident, audience=Audience.INTERNAL, state=CommunicationState.SENT, **fields):
    """A communication in the given state, as the services leave it (the state field is protected)."""
    now = timezone.now()
    values = {
        "incident": incident,
        "audience": audience,
        "state": state,
        "subject": f"{audience} update",
        "body": f"What happened, for {audience}.",
        "recipients": "ops@example.com, cto@example.com" if audience != Audience.PUBLIC else "",
        "approved_at": now if state in (CommunicationState.APPROVED, CommunicationState.SENT) else None,
    }
    values.update(fields)
    if state == CommunicationState.SENT:
        values.setdefault("sent_at", now)
        values.setdefault("sent_subject", values["subject"])
        values.setdefault("sent_body", values["body"])
        values.setdefault("sent_recipients", [] if audience == Audience.PUBLIC else ["ops@example.com"])
    return Communication.objects.create(**values)


@pytest.fixture
def worked(open_incident, commander, responder, legal, feature):
    """An incident with every kind of record: notes, a named change, containment, a finding, evidence,
    communications to two audiences, an obligation and a post-mortem with action items."""
    incident = open_incident(
        title="Assistant insulted customers",
        summary=f"The assistant insulted **customers**; {commander.get_username()} is on it.",
        users_affected=4200,
    )
    incident.members.add(responder)
    timeline_add_note(incident_id=incident.pk, text=NOTE, actor=commander)
    TimelineEntry.objects.create(
        incident=incident,
        kind=TimelineKind.CHANGE,
        text=f"Prompt v41 rolled back by {responder.get_username()}",
        actor=responder,
        occurred_at=incident.detected_at + timedelta(minutes=5),
        is_key_event=True,
    )
    containment_record(
        incident_id=incident.pk,
        action_type=ContainmentType.FEATURE_FLAG_OFF,
        actor=responder,
        approved_by=commander,
        description="Flag support-bot-enabled off",
    )
    finding_record(
        incident_id=incident.pk,
        layer=RootCauseLayer.MODERATION,
        common_finding="moderation_missed",
        text=FINDING,
        is_root_cause=True,
        actor=responder,
    )
    evidence_attach(
        incident_id=incident.pk,
        record_ids=[make_record(feature, 7, request_id="req-secret-7").pk],
        actor=responder,
        note="the insulting answer",
    )
    communication(incident, Audience.INTERNAL, subject="Internal: all hands on the bot")
    communication(incident, Audience.PUBLIC, subject="We fixed a problem with the assistant")
    reportability_decide(
        incident_id=incident.pk,
        regimes=[Regime.objects.get(code="eu-ai-act-73")],
        reason="Serious incident under the AI Act.",
        actor=commander,
    )
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    pm = postmortem_update(
        postmortem_id=pm.pk,
        changes={
            "what_happened": f"{commander.get_username()} paged {responder.email} at night.",
            "impact": "4,200 users saw insults.",
        },
        actor=commander,
    )
    for n, kind in enumerate([ActionItemKind.PREVENT, ActionItemKind.DETECT]):
        ActionItem.objects.create(
            incident=incident,
            postmortem=pm,
            title=f"Action {n}: guard the moderation config",
            kind=kind,
            owner=responder,
            due_date=date(2031, 1, 10 + n),
        )
    incident.refresh_from_db()
    return incident


# --- the incident summary -------------------------------------------------------------------------


def test_summary_has_every_section_marking_page_numbers_bookmarks_and_a_vector_chart(worked, commander):
    pdf = summary_pdf(worked)
    pages = pages_of(pdf)
    text = text_of(pdf)
    for heading in SUMMARY_SECTIONS:
        assert heading in text, heading
    for number, page in enumerate(pages, start=1):
        assert MARKING in page and worked.reference in page
        assert f"Page {number} of {len(pages)}" in page
    assert "Assistant insulted customers" in text and "4200 users affected" in text
    assert "Feature flag off" in text and "Flag support-bot-enabled off" in text
    assert FINDING in text and "req-secret-7" in text and "the insulting answer" in text
    # the whole record, with people by name and role: a login name is never printed
    assert NOTE in text and "Prompt v41 rolled back by Responder" in text
    assert "Internal: all hands on the bot" in text and "We fixed a problem with the assistant" in text
    assert "Art. 73" in text
    assert commander.get_username() not in text and "Incident Commander is on it" in text
    outline = read(pdf).outline
    assert outline[0].title.startswith("Incident summary")
    assert set(SUMMARY_SECTIONS) <= {item.title for item in outline[1]}
    # the phase chart is SVG: its labels are text, and no raster image is embedded
    assert "(now)" in text and image_count(pdf) == 0


def test_summary_evidence_only_for_readers_who_may_see_it(worked):
    assert "Audit record" in summary_html(worked) and "the insulting answer</td>" in summary_html(worked)
    hidden = summary_html(worked, include_evidence=False)
    assert "Audit record" not in hidden and "the insulting answer</td>" not in hidden


def test_public_summary_leaves_out_notes_findings_evidence_internal_mail_obligations_and_names(
    worked, commander, responder
):
    text = text_of(summary_pdf(worked, variant=Variant.PUBLIC))
    for internal in (NOTE, FINDING, "req-secret-7", "Internal: all hands", "Regulatory obligations", "Findings"):
        assert internal not in text, internal
    for name in (commander.get_username(), responder.get_username(), responder.email):
        assert name not in text, name
    assert MARKING not in text and "Public Public" in " ".join(text.split())  # marking in header and footer
    assert "Assistant insulted customers" in text and "Containment: Feature flag off" in text
    assert "We fixed a problem with the assistant" in text
    # a change typed by staff and the team's own summary are not for the public
    assert "rolled back" not in text and "is on it" not in text


@override_settings(FIRELINE_PDF_PUBLIC_HIDES_NAMES=False)
def test_public_variant_keeps_names_when_configured_but_still_drops_notes(worked, responder):
    commander = worked.commander
    commander.first_name, commander.last_name = "Cam", "Mander"
    commander.save()
    named = " ".join(text_of(summary_pdf(worked, variant=Variant.PUBLIC)).split())
    assert "Commander Cam Mander (Incident Commander)" in named
    assert NOTE not in named and FINDING not in named and not re.search(r"\bcmdr\b", named)
    with override_settings(FIRELINE_PDF_PUBLIC_HIDES_NAMES=True):
        hidden = " ".join(text_of(summary_pdf(worked, variant=Variant.PUBLIC)).split())
    assert "Commander Incident Commander" in hidden and "Cam Mander" not in hidden


# --- the post-mortem: action items, key events, public variant ------------------------------------


def test_postmortem_shows_action_items_and_starred_key_events(worked, responder):
    text = text_of(postmortem_pdf(worked.postmortem))
    assert "Action items" in text
    assert "Action 0: guard the moderation config" in text and "Action 1: guard the moderation config" in text
    assert "Prevent" in text and "Detect" in text and "2031-01-10" in text and "Open" in text
    assert "Responder" in text and not re.search(rf"\b{responder.get_username()}\b(?!@)", text)  # by role: no full name
    assert "★" in text and "marks a key event" in text
    key_events = text[text.index("Key events") : text.index("marks a key event")]
    assert "Prompt v41 rolled back" in key_events and NOTE not in key_events


def test_postmortem_names_its_reviewers_and_leaves_drill_follow_ups_to_the_drill(worked, commander, legal):
    from incidents.models import ActionItemSource
    from incidents.services.postmortems import postmortem_approve

    for user, (first, last) in ((commander, ("Cam", "Mander")), (legal, ("Lee", "Gal"))):
        user.first_name, user.last_name = first, last
        user.save()

    ActionItem.objects.create(
        incident=worked,
        source=ActionItemSource.DRILL,
        title="Drill gap: runbook missing",
        kind=ActionItemKind.PROCESS,
        owner=commander,
        due_date=date(2031, 2, 1),
    )
    submit_written(postmortem_id=worked.postmortem.pk, actor=commander)
    postmortem_approve(postmortem_id=worked.postmortem.pk, actor=commander)
    worked.postmortem.refresh_from_db()
    text = " ".join(text_of(postmortem_pdf(worked.postmortem)).split())
    assert "Drill gap: runbook missing" not in text
    assert "Incident commander Cam Mander" in text and "Legal — not yet" in text
    postmortem_approve(postmortem_id=worked.postmortem.pk, actor=legal)
    worked.postmortem.refresh_from_db()
    text = " ".join(text_of(postmortem_pdf(worked.postmortem)).split())
    assert "Legal Lee Gal" in text and legal.get_username() not in text and commander.get_username() not in text


def test_public_postmortem_drops_notes_and_names_but_keeps_the_story(worked, commander, responder):
    internal = text_of(postmortem_pdf(worked.postmortem))
    assert NOTE in internal and "Incident Commander paged" in internal and commander.get_username() not in internal
    text = text_of(postmortem_pdf(worked.postmortem, variant=Variant.PUBLIC))
    assert NOTE not in text
    for name in (commander.get_username(), responder.get_username(), responder.email):
        assert name not in text, name
    assert "Incident Commander paged Responder at night" in text
    assert "4,200 users saw insults" in text and "Action 0: guard the moderation config" in text
    assert "public version" in text and MARKING not in text and "Public" in text


# --- PDF/A-3b with the timeline attached ----------------------------------------------------------


def xmp_pdfa(reader: pypdf.PdfReader) -> tuple[str, str]:
    xmp = reader.xmp_metadata
    assert xmp is not None
    ns = "http://www.aiim.org/pdfa/ns/id/"
    part = xmp.rdf_root.getElementsByTagNameNS(ns, "part")
    conformance = xmp.rdf_root.getElementsByTagNameNS(ns, "conformance")
    if part:
        return part[0].firstChild.data, conformance[0].firstChild.data
    description = xmp.rdf_root.getElementsByTagNameNS("http://www.w3.org/1999/02/22-rdf-syntax-ns#", "Description")
    for node in description:
        if node.getAttributeNS(ns, "part"):
            return node.getAttributeNS(ns, "part"), node.getAttributeNS(ns, "conformance")
    raise AssertionError("no PDF/A identification in the XMP metadata")


def test_archive_is_pdfa3b_with_the_timeline_as_json(worked):
    reader = read(postmortem_pdf(worked.postmortem, archive=True))
    assert xmp_pdfa(reader) == ("3", "B")
    name = f"{worked.reference}-timeline.json"
    assert list(reader.attachments) == [name]
    data = json.loads(reader.attachments[name][0])
    assert data["incident"] == worked.reference
    texts = [entry["text"] for entry in data["timeline"]]
    # the incident's story: everything but the paperwork about the documents themselves
    assert NOTE in texts and "Post-mortem started (draft)" not in texts
    assert not any(t.startswith(("Reportability", "Regulatory")) for t in texts)
    assert any(entry["is_key_event"] for entry in data["timeline"])
    plain = read(postmortem_pdf(worked.postmortem))
    assert not plain.attachments and plain.xmp_metadata is None or "pdfaid" not in str(plain.xmp_metadata)


def test_public_archive_json_leaves_out_notes_and_names(worked, responder):
    reader = read(summary_pdf(worked, variant=Variant.PUBLIC, archive=True))
    assert xmp_pdfa(reader) == ("3", "B")
    (body,) = reader.attachments[f"{worked.reference}-timeline.json"]
    assert NOTE not in body.decode() and responder.get_username() not in body.decode()
    assert "Containment: Feature flag off" in body.decode() and "rolled back" not in body.decode()


# --- the communication PDF ------------------------------------------------------------------------


def test_sent_communication_pdf_has_audience_approval_text_and_recipients(worked, legal):
    comm = communication(
        worked,
        Audience.AFFECTED_USERS,
        subject="About your conversation",
        body="The assistant was **wrong**. Here is the correct information.",
        approved_by=legal,
        sent_recipients=["ana@example.com", "bo@example.com"],
    )
    pages = pages_of(communication_pdf(comm))
    text = " ".join("\n".join(pages).split())
    assert "Affected users communication" in text and "Sent" in text
    assert "About your conversation" in text and "The assistant was wrong." in text
    # a message to customers is a public document: their addresses are personal data, not printed
    assert "ana@example.com" not in text and "individually to 2 recipients" in text
    assert "by Legal" in text and legal.get_username() not in text
    assert all("Public" in page and MARKING not in page and worked.reference in page for page in pages)


def test_approved_communication_prints_the_approved_text_and_drafts_are_refused(worked):
    approved = communication(worked, Audience.INTERNAL, state=CommunicationState.APPROVED, body="Approved words")
    text = text_of(communication_pdf(approved))
    assert "Approved, not sent yet" in text and "Approved words" in text and "cto@example.com" in text
    for state in (CommunicationState.DRAFT, CommunicationState.PENDING_APPROVAL, CommunicationState.CANCELLED):
        with pytest.raises(NotExportable):
            communication_pdf(communication(worked, Audience.INTERNAL, state=state))


# --- the views ------------------------------------------------------------------------------------


def test_summary_view_serves_members_404s_outsiders_and_redirects_anonymous(client, open_incident, commander):
    incident = open_incident(title="Leaked addresses", category=Category.DATA_LEAK)
    assert incident.is_restricted
    url = reverse("summary-pdf", args=[incident.pk])
    client.force_login(commander)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "Leaked addresses" in text_of(response.content)
    public = client.get(url, {"variant": "public", "archive": "1"})
    assert (
        public.status_code == 200 and f"{incident.reference}-summary-public-pdfa.pdf" in public["Content-Disposition"]
    )
    assert read(public.content).attachments
    bad = client.get(url, {"variant": "everyone"})
    assert bad.status_code == 400 and b"internal, public" in bad.content
    client.force_login(fresh(UserFactory(username="other-cmdr", role="Incident Commander")))
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_postmortem_view_variant_and_archive(client, worked, commander):
    client.force_login(commander)
    url = reverse("postmortem-pdf", args=[worked.pk])
    response = client.get(url, {"variant": "public"})
    assert response.status_code == 200 and NOTE not in text_of(response.content)
    assert client.get(url, {"variant": "x"}).status_code == 400
    archived = client.get(url, {"archive": "1"})
    assert xmp_pdfa(read(archived.content)) == ("3", "B")


def test_summary_view_shows_evidence_only_with_the_evidence_permission(client, worked, commander, viewer):
    worked.members.add(viewer)
    client.force_login(commander)
    url = reverse("summary-pdf", args=[worked.pk])
    assert "Audit record" in text_of(client.get(url).content)
    client.force_login(viewer)
    response = client.get(url)
    assert response.status_code == 200 and "Audit record" not in text_of(response.content)


def test_communication_view(client, open_incident, commander, worked):
    leak = open_incident(title="Leaked addresses", category=Category.DATA_LEAK)
    sent = communication(leak, Audience.INTERNAL, subject="Leak update")
    draft = communication(leak, Audience.INTERNAL, state=CommunicationState.DRAFT)
    client.force_login(commander)
    response = client.get(reverse("communication-pdf", args=[leak.pk, sent.pk]))
    assert response.status_code == 200 and "Leak update" in text_of(response.content)
    assert client.get(reverse("communication-pdf", args=[leak.pk, draft.pk])).status_code == 404
    assert client.get(reverse("communication-pdf", args=[worked.pk, sent.pk])).status_code == 404  # other incident
    client.force_login(fresh(UserFactory(username="outsider", role="Incident Commander")))
    assert client.get(reverse("communication-pdf", args=[leak.pk, sent.pk])).status_code == 404
    client.force_login(fresh(UserFactory(username="nobody")))
    worked.members.add(UserFactory(username="nobody"))
    public = Communication.objects.filter(incident=worked, audience=Audience.PUBLIC).get()
    assert client.get(reverse("communication-pdf", args=[worked.pk, public.pk])).status_code == 403
    client.logout()
    assert client.get(reverse("communication-pdf", args=[leak.pk, sent.pk])).status_code == 302


# --- the command ----------------------------------------------------------------------------------


def test_export_pdf_summary_and_communication(worked, tmp_path):
    comm = Communication.objects.filter(incident=worked, audience=Audience.PUBLIC).get()
    with time_machine.travel("2026-03-01 12:00:00+00:00", tick=False):
        call_command("export_pdf", "summary", str(worked.pk), "-o", str(tmp_path / "s.pdf"))
        assert (tmp_path / "s.pdf").read_bytes() == summary_pdf(worked)
        call_command("export_pdf", "communication", str(comm.pk), "-o", str(tmp_path / "c.pdf"))
        assert (tmp_path / "c.pdf").read_bytes() == communication_pdf(comm)
    call_command(
        "export_pdf", "postmortem", str(worked.pk), "-o", str(tmp_path / "p.pdf"), "--variant", "public", "--archive"
    )
    reader = read((tmp_path / "p.pdf").read_bytes())
    assert xmp_pdfa(reader) == ("3", "B") and NOTE not in text_of((tmp_path / "p.pdf").read_bytes())


def test_export_pdf_refuses_what_it_cannot_export(worked, tmp_path):
    draft = communication(worked, Audience.INTERNAL, state=CommunicationState.DRAFT)
    with pytest.raises(CommandError, match="only approved or sent"):
        call_command("export_pdf", "communication", str(draft.pk), "-o", str(tmp_path / "x.pdf"))
    with pytest.raises(CommandError, match="No incident"):
        call_command("export_pdf", "summary", "999999", "-o", str(tmp_path / "x.pdf"))
    with pytest.raises(CommandError, match="no 'press' version"):
        call_command("export_pdf", "summary", str(worked.pk), "-o", str(tmp_path / "x.pdf"), "--variant", "press")
    assert not (tmp_path / "x.pdf").exists()


# --- security: hostile text in the new PDFs -------------------------------------------------------


def test_hostile_summary_and_communication_neither_read_nor_fetch(open_incident, commander, local_server, monkeypatch):
    port = local_server.server_address[1]
    fetched = []
    original = StaticOnlyURLFetcher.fetch

    def spy(self, url, headers=None):
        fetched.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(StaticOnlyURLFetcher, "fetch", spy)
    hostile = (
        '<img src="file:///etc/passwd"> ![x](file:///etc/passwd) '
        f"![y](http://127.0.0.1:{port}/x.png) <img src='http://127.0.0.1:{port}/y.png'> "
        f'<link rel="stylesheet" href="http://127.0.0.1:{port}/s.css"> '
        f'<a rel="attachment" href="http://127.0.0.1:{port}/leak.bin">a</a> [attachment](file:///etc/passwd)'
    )
    incident = open_incident(summary=hostile)
    timeline_add_note(incident_id=incident.pk, text=hostile, actor=commander)
    containment_record(
        incident_id=incident.pk, action_type=ContainmentType.FEATURE_FLAG_OFF, actor=commander, description=hostile
    )
    comm = communication(incident, Audience.INTERNAL, body=hostile, sent_body=hostile)
    for html in (summary_html(incident), communication_html(comm)):
        assert "<img" not in html and "<link" not in html and 'href="file:' not in html
        assert 'rel="attachment"' not in html
    for pdf in (
        summary_pdf(incident),
        summary_pdf(incident, variant=Variant.PUBLIC, archive=True),
        communication_pdf(comm),
    ):
        reader = read(pdf)
        assert image_count(pdf) == 0
        assert all(name.endswith("-timeline.json") for name in reader.attachments)
        assert "root:" not in "".join(page.extract_text() for page in reader.pages)
    assert local_server.requests == []
    assert not [url for url in fetched if not url.startswith(PDF_BASE_URL)]


def test_regulator_report_leaves_out_the_finding_and_evidence_entries_of_the_timeline(worked):
    assert worked.timeline.filter(text__startswith="Finding (").exists()
    assert worked.timeline.filter(text__startswith="Evidence attached").exists()
    text = text_of(regulator_pdf(worked, Regime.objects.get(code="eu-ai-act-73")))
    assert FINDING not in text and "req-secret-7" not in text
    # Legal's reasoning and staff's own changes stay inside; the measures go out, by type
    assert "Reportability decided" not in text and "rolled back" not in text
    assert "Containment: Feature flag off" in text


def test_summary_and_postmortem_queries_do_not_grow_with_rows(worked, commander, django_assert_max_num_queries):
    summary_html(worked), postmortem_pdf(worked.postmortem)  # load the incident's own relations once
    counts = []
    for extra in (0, 40):
        TimelineEntry.objects.bulk_create(
            TimelineEntry(
                incident=worked,
                kind=TimelineKind.CHANGE,
                text=f"Step {n}",
                actor=commander,
                occurred_at=timezone.now(),
            )
            for n in range(extra)
        )
        for n in range(extra // 10):
            communication(worked, Audience.INTERNAL, subject=f"More {n}")
        with django_assert_max_num_queries(60) as summary_queries:
            summary_html(worked)
        with django_assert_max_num_queries(60) as postmortem_queries:
            postmortem_pdf(worked.postmortem)
        counts.append((len(summary_queries), len(postmortem_queries)))
    assert counts[0] == counts[1], counts
