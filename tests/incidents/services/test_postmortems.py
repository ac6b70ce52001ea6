"""The post-mortem state machine, who may move it, what it is prefilled with, and the close guard."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import IncidentState
from incidents.models import LearningScope, PostMortem, PostMortemState, PostMortemTemplate
from incidents.services.postmortems import (
    learning_add,
    postmortem_approve,
    postmortem_create,
    postmortem_publish,
    postmortem_request_changes,
    postmortem_submit,
    postmortem_update,
)
from tests.incidents.postmortem_text import submit_written, write_sections
from tests.incidents.services.test_incidents import send_required_communications, verified

S = PostMortemState


@pytest.fixture
def postmortem(open_incident, commander):
    incident = open_incident()
    services.incident_update(
        incident_id=incident.pk,
        actor=commander,
        changes={"root_cause_layer": "prompt", "root_cause": "The persona prompt allowed insults."},
    )
    return postmortem_create(incident_id=incident.pk, actor=commander)


def test_created_from_the_default_template_with_the_root_cause_from_the_investigation(postmortem):
    template = PostMortemTemplate.objects.get(is_default=True)
    assert postmortem.state == S.DRAFT and postmortem.template == template
    assert postmortem.impact == template.impact and "Users affected" in postmortem.impact
    assert "The persona prompt allowed insults." in postmortem.root_cause
    assert postmortem.classification_marking.startswith("Confidential")
    assert ActionLogEntry.objects.filter(target_type="incidents.postmortem", verb="created").count() == 1
    with pytest.raises(ValidationError, match="has a post-mortem already"):
        postmortem_create(incident_id=postmortem.incident_id, actor=postmortem.created_by)


def test_walks_draft_review_approved_published_with_timestamps_and_log(postmortem, commander, legal):
    write_sections(postmortem.pk, commander, impact="5,000 users insulted.")
    postmortem_submit(postmortem_id=postmortem.pk, actor=commander)
    pm = postmortem_approve(postmortem_id=postmortem.pk, actor=legal)
    assert pm.state == S.IN_REVIEW  # Legal alone is not enough: the commander reviews too
    pm = postmortem_approve(postmortem_id=postmortem.pk, actor=commander)
    assert pm.state == S.APPROVED and pm.approved_by == commander and pm.approved_at
    pm = postmortem_publish(postmortem_id=postmortem.pk, actor=commander)
    assert pm.state == S.PUBLISHED and pm.published_at and pm.published_by == commander
    verbs = list(
        ActionLogEntry.objects.filter(target_type="incidents.postmortem").order_by("id").values_list("verb", flat=True)
    )
    assert verbs == ["created", "changed", "transition:submit", "transition:approve", "transition:publish"]
    assert pm.incident.timeline.filter(text="Post-mortem published").exists()
    # publishing froze what the PDF prints, and the action log holds its SHA-256
    revision = pm.revisions.get()
    assert revision.number == 1 and len(revision.sha256) == 64
    logged = ActionLogEntry.objects.get(target_type="incidents.postmortemrevision", verb="created")
    assert logged.after["sha256"] == revision.sha256


def test_changes_requested_goes_back_to_draft_with_the_note(postmortem, commander, legal):
    submit_written(postmortem_id=postmortem.pk, actor=commander)
    with pytest.raises(ValidationError, match="only a draft|Only a draft"):
        postmortem_update(postmortem_id=postmortem.pk, changes={"impact": "x"}, actor=commander)
    with pytest.raises(ValidationError, match="Say what needs to change"):
        postmortem_request_changes(postmortem_id=postmortem.pk, note=" ", actor=legal)
    pm = postmortem_request_changes(postmortem_id=postmortem.pk, note="Name the cohort.", actor=legal)
    assert pm.state == S.DRAFT and pm.review_note == "Name the cohort."
    postmortem_update(postmortem_id=postmortem.pk, changes={"impact": "EU cohort, 5,000 users."}, actor=commander)
    assert PostMortem.objects.get(pk=postmortem.pk).impact == "EU cohort, 5,000 users."


def test_viewer_and_responder_cannot_review_or_publish(postmortem, commander, viewer, responder, legal):
    with pytest.raises(PermissionDenied):
        submit_written(postmortem_id=postmortem.pk, actor=viewer)
    submit_written(postmortem_id=postmortem.pk, actor=commander)
    for actor in (viewer, responder):
        with pytest.raises(PermissionDenied):
            postmortem_approve(postmortem_id=postmortem.pk, actor=actor)
        with pytest.raises(PermissionDenied):
            postmortem_request_changes(postmortem_id=postmortem.pk, note="no", actor=actor)
    postmortem_approve(postmortem_id=postmortem.pk, actor=commander)
    postmortem_approve(postmortem_id=postmortem.pk, actor=legal)
    with pytest.raises(PermissionDenied):
        postmortem_publish(postmortem_id=postmortem.pk, actor=viewer)
    assert PostMortem.objects.get(pk=postmortem.pk).state == S.APPROVED


def test_illegal_transitions_are_refused(postmortem, commander, legal):
    with pytest.raises(ValidationError, match="Not possible while the post-mortem is draft"):
        postmortem_approve(postmortem_id=postmortem.pk, actor=legal)
    with pytest.raises(ValidationError):
        postmortem_publish(postmortem_id=postmortem.pk, actor=legal)
    postmortem_update(postmortem_id=postmortem.pk, changes={"impact": ""}, actor=commander)
    with pytest.raises(ValidationError, match="Impact"):
        postmortem_submit(postmortem_id=postmortem.pk, actor=commander)


def test_learnings_are_narrow_or_transferable_and_only_on_drafts(postmortem, commander):
    learning = learning_add(
        postmortem_id=postmortem.pk,
        text="Tone evals for every persona.",
        scope=LearningScope.TRANSFERABLE,
        actor=commander,
    )
    assert learning.scope == LearningScope.TRANSFERABLE
    with pytest.raises(ValidationError):
        learning_add(postmortem_id=postmortem.pk, text="x", scope="wide", actor=commander)
    submit_written(postmortem_id=postmortem.pk, actor=commander)
    with pytest.raises(ValidationError):
        learning_add(postmortem_id=postmortem.pk, text="late", actor=commander)


def test_close_needs_a_published_postmortem_when_required(open_incident, commander, legal):
    incident = verified(open_incident, commander, users_affected=5000)
    services.incident_start_postmortem(incident_id=incident.pk, actor=commander)
    send_required_communications(incident, commander)
    # the old interim text field no longer satisfies the guard
    services.incident_update(incident_id=incident.pk, actor=commander, changes={"postmortem_summary": "done"})
    with pytest.raises(ValidationError, match="publish it first"):
        services.incident_close(incident_id=incident.pk, actor=commander)
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    submit_written(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=legal)
    postmortem_approve(postmortem_id=pm.pk, actor=commander)
    with pytest.raises(ValidationError, match="publish it first"):
        services.incident_close(incident_id=incident.pk, actor=commander)
    postmortem_publish(postmortem_id=pm.pk, actor=legal)
    for action in incident.containment_actions.all():  # nothing left silently active (its own test)
        services.containment_revert(action_id=action.pk, reason="fix verified", actor=commander)
    assert services.incident_close(incident_id=incident.pk, actor=commander).state == IncidentState.CLOSED


def test_admin_buttons_follow_permissions(client, postmortem, commander, viewer):
    change = reverse("admin:incidents_postmortem_change", args=[postmortem.pk])
    action = reverse("admin:incidents_postmortem_action", args=[postmortem.pk, "submit"])
    client.force_login(commander)
    page = client.get(change)
    assert page.status_code == 200 and b"Submit for review" in page.content and b"Download PDF" in page.content
    incident_page = client.get(reverse("admin:incidents_incident_change", args=[postmortem.incident_id]))
    assert b'id="postmortem-link"' in incident_page.content
    client.force_login(viewer)
    client.post(action)
    assert PostMortem.objects.get(pk=postmortem.pk).state == S.DRAFT
    client.force_login(commander)
    client.post(action)  # the template's guidance is still in the sections: refused, and said so
    assert PostMortem.objects.get(pk=postmortem.pk).state == S.DRAFT
    write_sections(postmortem.pk, commander)
    client.post(action)
    assert PostMortem.objects.get(pk=postmortem.pk).state == S.IN_REVIEW
