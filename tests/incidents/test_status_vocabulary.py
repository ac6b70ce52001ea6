"""One status vocabulary: the public word for each incident state is defined once and used everywhere."""

from pathlib import Path

import pytest
from django.conf import settings

from incidents.constants import PUBLIC_STATUS, IncidentState, PublicStatus
from incidents.services.communications import communication_create

STATUS_PAGE_WORDS = ["Investigating", "Identified", "Monitoring", "Resolved"]


def test_every_state_has_one_of_the_status_page_words_and_only_ended_ones_are_resolved():
    assert set(PUBLIC_STATUS) == set(IncidentState)
    assert PublicStatus.labels == STATUS_PAGE_WORDS
    resolved = {s for s in IncidentState if PUBLIC_STATUS[s] == PublicStatus.RESOLVED}
    assert resolved == {IncidentState.CLOSED, IncidentState.DISMISSED}


@pytest.mark.parametrize("state", list(IncidentState))
def test_a_public_update_drafted_in_each_state_says_the_mapped_word(open_incident, commander, state):
    incident = open_incident()
    type(incident).objects.filter(pk=incident.pk).update(state=state)
    draft = communication_create(incident_id=incident.pk, audience="public", actor=commander)
    word = PUBLIC_STATUS[state].label
    assert draft.subject.endswith(f": {word}") and f"**Current status:** {word}." in draft.body


def test_no_second_vocabulary_in_the_status_page_or_the_drafting_code():
    root = Path(settings.BASE_DIR) / "incidents"
    sources = [root / "status.py", root / "services" / "communications.py", *(root / "templates" / "status").glob("*")]
    for path in sources:
        text = path.read_text()
        for word in STATUS_PAGE_WORDS:
            assert f'"{word}' not in text and f">{word}<" not in text, f"{word!r} spelled out in {path}"
