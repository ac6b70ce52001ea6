"""Post-mortem review: every required reviewer approves in their own name (commander, Legal, and
Communications when it goes public); changes requested clears the approvals; the page says who is missing."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audit.models import ActionLogEntry
from incidents.models import PostMortem, PostMortemApproval, PostMortemState, ReviewerRole
from incidents.services.postmortems import (
    postmortem_approve,
    postmortem_create,
    postmortem_request_changes,
    postmortem_update,
)
from tests.incidents.factories import UserFactory
from tests.incidents.postmortem_text import submit_written

S = PostMortemState


@pytest.fixture
def comms(db):
    return type(UserFactory(username="pr", role="Communications")).objects.get(username="pr")


def in_review(open_incident, commander, **incident_kwargs):
    incident = open_incident(**incident_kwargs)
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    postmortem_update(postmortem_id=pm.pk, changes={"root_cause": "The prompt."}, actor=commander)
    return submit_written(postmortem_id=pm.pk, actor=commander)


def state(pm):
    return PostMortem.objects.get(pk=pm.pk).state


def test_commander_and_legal_both_approve_each_recorded_by_name(open_incident, commander, legal):
    pm = in_review(open_incident, commander)
    postmortem_approve(postmortem_id=pm.pk, actor=commander)
    assert state(pm) == S.IN_REVIEW
    assert PostMortem.objects.get(pk=pm.pk).missing_reviewer_roles() == [ReviewerRole.LEGAL]
    assert pm.incident.timeline.filter(text__contains="still needed: Legal").exists()
    postmortem_approve(postmortem_id=pm.pk, actor=legal)
    assert state(pm) == S.APPROVED
    approvals = dict(PostMortemApproval.objects.filter(postmortem=pm).values_list("role", "user__username"))
    assert approvals == {"commander": "cmdr", "legal": "lawyer"}
    assert ActionLogEntry.objects.filter(target_type="incidents.postmortemapproval", verb="created").count() == 2


def test_approving_twice_does_not_count_twice(open_incident, commander):
    pm = in_review(open_incident, commander)
    postmortem_approve(postmortem_id=pm.pk, actor=commander)
    with pytest.raises(ValidationError, match="approved already; still waiting for: Legal"):
        postmortem_approve(postmortem_id=pm.pk, actor=commander)
    assert state(pm) == S.IN_REVIEW and PostMortemApproval.objects.filter(postmortem=pm).count() == 1


def test_a_public_incident_also_needs_communications(open_incident, commander, legal, comms):
    pm = in_review(open_incident, commander, is_public=True)
    postmortem_approve(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=legal)
    assert state(pm) == S.IN_REVIEW
    postmortem_approve(postmortem_id=pm.pk, actor=comms)
    assert state(pm) == S.APPROVED


def test_marking_the_postmortem_public_brings_in_communications(open_incident, commander, legal, comms):
    incident = open_incident()
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    postmortem_update(postmortem_id=pm.pk, changes={"root_cause": "x", "is_public": True}, actor=commander)
    submit_written(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=legal)
    assert state(pm) == S.IN_REVIEW
    assert PostMortem.objects.get(pk=pm.pk).missing_reviewer_roles() == [ReviewerRole.COMMUNICATIONS]


def test_communications_is_no_reviewer_of_an_internal_postmortem(open_incident, commander, comms):
    pm = in_review(open_incident, commander)
    with pytest.raises(PermissionDenied, match="not one of this post-mortem's reviewers"):
        postmortem_approve(postmortem_id=pm.pk, actor=comms)
    with pytest.raises(PermissionDenied):
        postmortem_request_changes(postmortem_id=pm.pk, note="tone", actor=comms)
    assert state(pm) == S.IN_REVIEW and not PostMortemApproval.objects.exists()


def test_another_commander_is_not_this_incidents_commander(open_incident, commander, responder):
    pm = in_review(open_incident, commander)
    other = UserFactory(username="cmdr2", role="Incident Commander")
    with pytest.raises(PermissionDenied, match="not one of"):
        postmortem_approve(postmortem_id=pm.pk, actor=type(other).objects.get(pk=other.pk))
    with pytest.raises(PermissionDenied):
        postmortem_approve(postmortem_id=pm.pk, actor=responder)
    assert not PostMortemApproval.objects.exists()


def test_approving_a_draft_is_refused(open_incident, commander, legal):
    incident = open_incident()
    pm = postmortem_create(incident_id=incident.pk, actor=commander)
    with pytest.raises(ValidationError, match="Not possible while the post-mortem is draft"):
        postmortem_approve(postmortem_id=pm.pk, actor=legal)
    assert not PostMortemApproval.objects.exists()


def test_changes_requested_clears_the_approvals_and_back_to_draft(open_incident, commander, legal):
    pm = in_review(open_incident, commander)
    postmortem_approve(postmortem_id=pm.pk, actor=commander)
    postmortem_request_changes(postmortem_id=pm.pk, note="Name the cohort.", actor=legal)
    assert state(pm) == S.DRAFT and not PostMortemApproval.objects.filter(postmortem=pm).exists()
    entry = ActionLogEntry.objects.filter(verb="transition:request_changes").get()
    assert entry.after["approvals_cleared"] == ["commander"]
    submit_written(postmortem_id=pm.pk, actor=commander)
    postmortem_approve(postmortem_id=pm.pk, actor=legal)
    assert state(pm) == S.IN_REVIEW  # the commander's earlier approval no longer counts


def test_a_restricted_incidents_postmortem_is_hidden_from_outsiders(open_incident, commander, legal):
    pm = in_review(open_incident, commander, is_restricted=True)
    outsider = UserFactory(username="other-legal-less", role="Communications")
    with pytest.raises(PostMortem.incident.field.related_model.DoesNotExist):
        postmortem_approve(postmortem_id=pm.pk, actor=type(outsider).objects.get(pk=outsider.pk))
    postmortem_approve(postmortem_id=pm.pk, actor=legal)  # Legal sees restricted incidents
    assert PostMortemApproval.objects.filter(role="legal").exists()


def test_page_shows_who_approved_and_who_is_needed(client, open_incident, commander, legal, comms):
    pm = in_review(open_incident, commander)
    postmortem_approve(postmortem_id=pm.pk, actor=commander)
    url = reverse("admin:incidents_postmortem_change", args=[pm.pk])
    client.force_login(legal)
    html = client.get(url).content.decode()
    assert 'data-reviewer="commander" data-approved="1"' in html and "Incident commander: cmdr" in html
    assert 'data-reviewer="legal" data-approved="0"' in html and "Legal: still needed" in html
    assert 'data-reviewer="communications"' not in html
    assert reverse("admin:incidents_postmortem_action", args=[pm.pk, "approve"]) in html
    # the commander has approved: no second Approve button for them
    client.force_login(commander)
    html = client.get(url).content.decode()
    assert reverse("admin:incidents_postmortem_action", args=[pm.pk, "approve"]) not in html
    # Communications is not a reviewer of an internal post-mortem: no buttons
    client.force_login(comms)
    html = client.get(url).content.decode()
    assert reverse("admin:incidents_postmortem_action", args=[pm.pk, "approve"]) not in html
    response = client.post(reverse("admin:incidents_postmortem_action", args=[pm.pk, "approve"]))
    assert response.status_code == 302 and state(pm) == S.IN_REVIEW
    client.force_login(legal)
    client.post(reverse("admin:incidents_postmortem_action", args=[pm.pk, "approve"]))
    assert state(pm) == S.APPROVED
