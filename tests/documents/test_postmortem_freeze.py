"""Publishing freezes the post-mortem: its PDF prints the snapshot, later changes become a new revision."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import TimelineKind
from incidents.exports import postmortem_pdf
from incidents.exports.audience import Variant
from incidents.models import ActionItem, TimelineEntry
from incidents.services.action_items import action_item_complete
from incidents.services.postmortems import postmortem_pending_changes, postmortem_revise

from .conftest import pdf_text

LATE_NOTE = "Later: a second cohort was affected"


def without_dates(pdf: bytes) -> bytes:
    """The PDF with its generation time taken out (the Info dictionary's dates and the file identifier)."""
    pdf = re.sub(rb"/(CreationDate|ModDate) \(D:[^)]*\)", b"", pdf)
    return re.sub(rb"/ID \[<[0-9a-fA-F]*> <[0-9a-fA-F]*>\]", b"", pdf)


def change_the_incident(incident, people):
    commander = people["commander"]
    services.timeline_add_note(incident_id=incident.pk, text=LATE_NOTE, actor=commander)
    services.incident_update(incident_id=incident.pk, actor=commander, changes={"title": "Renamed after publication"})
    TimelineEntry.objects.create(
        incident=incident, kind=TimelineKind.TRANSITION, text="Post-mortem → Closed", occurred_at=incident.detected_at
    )
    item = ActionItem.objects.get(incident=incident)
    action_item_complete(item_id=item.pk, actor=people["responder"])


def test_the_published_pdf_does_not_change_when_the_incident_does(documented, people):
    pm = documented.pm
    before = postmortem_pdf(pm)
    before_public = pdf_text(postmortem_pdf(pm, variant=Variant.PUBLIC))
    change_the_incident(documented, people)
    pm.refresh_from_db()
    after = postmortem_pdf(pm)
    assert without_dates(after) == without_dates(before)  # byte-stable apart from the generation time
    text = pdf_text(after)
    assert LATE_NOTE not in text and "Renamed after publication" not in text and "Closed" not in text
    assert "Assistant showed other customers' orders" in text
    assert pdf_text(postmortem_pdf(pm, variant=Variant.PUBLIC)) == before_public


def test_the_snapshot_sha256_is_printed_and_in_the_action_log(documented):
    revision = documented.pm.revisions.get()
    assert revision.number == 1 and revision.content["sections"][0]["heading"] == "What happened"
    logged = ActionLogEntry.objects.get(target_type="incidents.postmortemrevision", target_id=str(revision.pk))
    assert logged.after["sha256"] == revision.sha256
    assert revision.sha256 in pdf_text(postmortem_pdf(documented.pm))
    # what was frozen: content, timeline, key events, action items, reviewers
    assert {"sections", "timeline", "key_events", "action_items", "reviewers"} <= set(revision.content)
    assert [r["label"] for r in revision.content["reviewers"]] == ["Incident commander", "Legal", "Communications"]


def test_later_changes_become_a_new_revision_with_a_diff(client, documented, people):
    pm = documented.pm
    first = pdf_text(postmortem_pdf(pm))
    with pytest.raises(ValidationError, match="Nothing changed since revision 1"):
        postmortem_revise(postmortem_id=pm.pk, reason="Nothing new", actor=people["legal"])
    change_the_incident(documented, people)
    pending = postmortem_pending_changes(pm)
    assert "+" in pending and LATE_NOTE in pending and "Renamed after publication" in pending
    with pytest.raises(ValidationError, match="why"):
        postmortem_revise(postmortem_id=pm.pk, reason=" ", actor=people["legal"])
    revision = postmortem_revise(postmortem_id=pm.pk, reason="Second cohort found", actor=people["legal"])
    assert revision.number == 2 and LATE_NOTE in revision.diff and "Done" in revision.diff
    text = pdf_text(postmortem_pdf(pm))
    assert "revision 2" in text and "Changes from revision 1" in text and LATE_NOTE in text
    assert "Second cohort found" in text
    public = pdf_text(postmortem_pdf(pm, variant=Variant.PUBLIC))
    assert LATE_NOTE not in public and "Changes from revision" not in public and "Second cohort found" not in public
    client.force_login(people["legal"])
    url = reverse("postmortem-pdf", args=[documented.pk])
    old = client.get(url, {"revision": 1})
    assert old.status_code == 200 and pdf_text(old.content) == first
    assert client.get(url, {"revision": 3}).status_code == 404
    # the admin shows the revisions and what a next one would change
    page = client.get(reverse("admin:incidents_postmortem_change", args=[pm.pk])).content.decode()
    assert 'data-revision="2"' in page and "Second cohort found" in page


def test_the_admin_publishes_a_revision_with_its_reason(client, documented, people):
    pm = documented.pm
    client.force_login(people["legal"])
    page = reverse("admin:incidents_postmortem_change", args=[pm.pk])
    assert "Nothing changed since the last revision." in client.get(page).content.decode()
    change_the_incident(documented, people)
    assert 'id="postmortem-pending"' in client.get(page).content.decode()
    client.post(reverse("admin:incidents_postmortem_action", args=[pm.pk, "revise"]), {"reason": "New cohort"})
    assert pm.revisions.count() == 2 and pm.revisions.get(number=2).reason == "New cohort"
