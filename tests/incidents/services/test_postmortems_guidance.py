"""A post-mortem still holding its template's italic guidance is refused at submission, as a message is."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from incidents.models import PostMortem, PostMortemState
from incidents.services.postmortems import postmortem_create, postmortem_submit, postmortem_update, unedited_guidance
from tests.incidents.postmortem_text import WRITTEN


@pytest.fixture
def draft(open_incident, commander):
    return postmortem_create(incident_id=open_incident().pk, actor=commander)


def test_guidance_left_in_three_sections_is_refused_and_named(draft, commander):
    postmortem_update(
        postmortem_id=draft.pk,
        changes={"what_happened": WRITTEN["what_happened"], "root_cause": WRITTEN["root_cause"]},
        actor=commander,
    )
    with pytest.raises(ValidationError) as refused:
        postmortem_submit(postmortem_id=draft.pk, actor=commander)
    message = " ".join(refused.value.messages)
    assert "Impact" in message and "Why it was not caught earlier" in message and "What is changing" in message
    assert "What happened" not in message
    assert PostMortem.objects.get(pk=draft.pk).state == PostMortemState.DRAFT


def test_guidance_kept_inside_a_written_section_is_found_too(draft, commander):
    guidance = draft.template.impact
    postmortem_update(
        postmortem_id=draft.pk,
        changes={**WRITTEN, "impact": f"Forty users saw it.\n\n{guidance}"},
        actor=commander,
    )
    assert [heading for heading, _ in unedited_guidance(PostMortem.objects.get(pk=draft.pk))] == ["Impact"]
    postmortem_update(postmortem_id=draft.pk, changes={"impact": "Forty users saw it."}, actor=commander)
    assert postmortem_submit(postmortem_id=draft.pk, actor=commander).state == PostMortemState.IN_REVIEW


def test_emphasis_the_writer_typed_is_not_guidance(draft, commander):
    postmortem_update(
        postmortem_id=draft.pk,
        changes={**WRITTEN, "impact": "Users saw _Everything is fine with your order_ in the reply."},
        actor=commander,
    )
    assert postmortem_submit(postmortem_id=draft.pk, actor=commander).state == PostMortemState.IN_REVIEW


def test_the_submit_button_says_which_sections_still_hold_guidance(client, draft, commander):
    client.force_login(commander)
    response = client.post(reverse("admin:incidents_postmortem_action", args=[draft.pk, "submit"]), follow=True)
    said = " ".join(str(m) for m in response.context["messages"])
    assert "guidance" in said and "Impact" in said
    assert PostMortem.objects.get(pk=draft.pk).state == PostMortemState.DRAFT
