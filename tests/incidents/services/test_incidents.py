"""Every transition of the incident state machine and every guard, through the services."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import Category, ContainmentType, DismissReason, IncidentState, TimelineKind
from incidents.models import Incident
from incidents.services.evals import evalcase_create, evalruns_record
from incidents.services.postmortems import postmortem_approve, postmortem_create, postmortem_publish
from tests.incidents.postmortem_text import submit_written

S = IncidentState


def contained(open_incident, commander, **kwargs):
    incident = open_incident(**kwargs)
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.containment_record(incident_id=incident.pk, action_type=ContainmentType.FEATURE_FLAG_OFF, actor=commander)
    return services.incident_contain(incident_id=incident.pk, actor=commander)


def set_fix(incident, actor, **extra):
    changes = {
        "root_cause_layer": "prompt",
        "root_cause": "Persona prompt allowed it.",
        "fix_layer": "prompt",
        "fix_description": "Rewrote the persona prompt.",
        **extra,
    }
    return services.incident_update(incident_id=incident.pk, changes=changes, actor=actor)


def investigating(open_incident, commander, **kwargs):
    incident = contained(open_incident, commander, **kwargs)
    return services.incident_investigate(incident_id=incident.pk, actor=commander)


def fixed(open_incident, commander, **kwargs):
    incident = investigating(open_incident, commander, **kwargs)
    set_fix(incident, commander)
    return services.incident_mark_fixed(incident_id=incident.pk, actor=commander)


def prove_fix(incident, actor, trials=500, failures=0):
    """An eval case reproducing the failure, and a run of it that passes the Wilson gate."""
    case = evalcase_create(
        feature=incident.feature,
        input="the bad prompt",
        expected_behaviour="refuses politely",
        actor=actor,
        source_incident=incident,
    )
    evalruns_record(runs=[{"case": case.pk, "trials": trials, "failures": failures}], harness="pytest")
    return case


def verified(open_incident, commander, **kwargs):
    incident = fixed(open_incident, commander, **kwargs)
    prove_fix(incident, commander)
    return services.incident_verify(incident_id=incident.pk, actor=commander)


def publish_postmortem(incident, actor):
    """The close guard wants a published post-mortem when the triage matrix requires one."""
    pm = postmortem_create(incident_id=incident.pk, actor=actor)
    submit_written(postmortem_id=pm.pk, actor=actor)
    from tests.incidents.factories import UserFactory

    postmortem_approve(postmortem_id=pm.pk, actor=actor)  # as the commander
    postmortem_approve(postmortem_id=pm.pk, actor=UserFactory(username="pm-legal", role="Legal"))  # and Legal
    return postmortem_publish(postmortem_id=pm.pk, actor=actor)


def write_guidance(communication, actor, text="Written for this incident by its commander."):
    """Replace the template's italic guidance, as a writer does before asking for approval."""
    from incidents.services.communications import GUIDANCE, communication_update

    changes = {"subject": GUIDANCE.sub(text, communication.subject), "body": GUIDANCE.sub(text, communication.body)}
    return communication_update(communication_id=communication.pk, changes=changes, actor=actor)


def send_required_communications(incident, actor):
    """The close guard wants one sent communication per audience the triage matrix requires."""
    from incidents.services.communications import (
        communication_approve,
        communication_create,
        communication_send,
        communication_submit,
    )
    from tests.incidents.factories import UserFactory

    incident.refresh_from_db()
    approver = None
    for audience in incident.required_communications:
        recipients = "" if audience == "public" else "someone@example.com"
        c = communication_create(incident_id=incident.pk, audience=audience, recipients=recipients, actor=actor)
        write_guidance(c, actor)
        communication_submit(communication_id=c.pk, actor=actor)
        if audience != "internal" and approver is None:
            approver = UserFactory(role="Communications")
        communication_approve(communication_id=c.pk, actor=actor if audience == "internal" else approver)
        communication_send(communication_id=c.pk, actor=actor)


def transitions_logged(incident):
    return list(
        ActionLogEntry.objects.filter(
            incident=incident, target_type="incidents.incident", verb__startswith="transition:"
        )
        .order_by("id")
        .values_list("verb", flat=True)
    )


def test_happy_path_walks_every_state_with_timestamps_log_and_timeline(open_incident, commander):
    incident = verified(open_incident, commander)
    services.incident_start_postmortem(incident_id=incident.pk, actor=commander)
    send_required_communications(incident, commander)
    publish_postmortem(incident, commander)
    with pytest.raises(ValidationError, match="Feature flag off"):
        services.incident_close(incident_id=incident.pk, actor=commander)  # the kill switch is still held
    action = incident.containment_actions.get()
    lift = {action.pk: {"decision": "lift", "reason": "fix verified"}}
    incident = services.incident_close_settled(incident_id=incident.pk, actor=commander, containment=lift)

    assert incident.state == S.CLOSED
    for stamp in (
        "triaged_at",
        "contained_at",
        "investigating_at",
        "fixed_at",
        "verified_at",
        "postmortem_at",
        "closed_at",
    ):
        assert getattr(incident, stamp) is not None, stamp
    assert incident.detected_at <= incident.triaged_at <= incident.contained_at <= incident.closed_at
    assert transitions_logged(incident) == [
        "transition:triage",
        "transition:contain",
        "transition:investigate",
        "transition:mark_fixed",
        "transition:verify",
        "transition:start_postmortem",
        "transition:close",
    ]
    texts = list(incident.timeline.filter(kind=TimelineKind.TRANSITION).values_list("text", flat=True))
    assert texts[0] == "Detected → Triaged" and texts[-1] == "Post-mortem → Closed"


def test_triage_names_every_missing_field(open_incident, commander, feature):
    incident = open_incident(category="", commander=None)
    with pytest.raises(ValidationError) as exc:
        services.incident_triage(incident_id=incident.pk, actor=commander)
    text = " ".join(exc.value.messages)
    assert "category" in text and "commander" in text and "severity" in text
    incident.refresh_from_db()
    assert incident.state == S.DETECTED
    assert transitions_logged(incident) == []


def test_contain_needs_an_active_containment_action(open_incident, commander):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    with pytest.raises(ValidationError, match="active containment"):
        services.incident_contain(incident_id=incident.pk, actor=commander)

    action = services.containment_record(
        incident_id=incident.pk,
        action_type=ContainmentType.FALLBACK,
        parameters={"fallback": "human queue"},
        actor=commander,
    )
    services.containment_revert(action_id=action.pk, reason="fallback overloaded", actor=commander)
    with pytest.raises(ValidationError, match="active containment"):
        services.incident_contain(incident_id=incident.pk, actor=commander)
    assert Incident.objects.get(pk=incident.pk).state == S.TRIAGED


def test_low_severity_may_skip_containment_with_a_reason(open_incident, commander):
    incident = open_incident(category=Category.FACTUAL_MISINFORMATION)  # limited impact -> SEV4
    assert incident.severity == "SEV4"
    services.incident_triage(incident_id=incident.pk, actor=commander)
    with pytest.raises(ValidationError, match="reason"):
        services.incident_investigate_without_containment(incident_id=incident.pk, reason="  ", actor=commander)
    incident = services.incident_investigate_without_containment(
        incident_id=incident.pk, reason="One user, typo-level error; containment would cost more.", actor=commander
    )
    assert incident.state == S.INVESTIGATING
    assert incident.contained_at is None
    assert "typo-level" in incident.timeline.last().text


def test_high_severity_cannot_skip_containment(open_incident, commander):
    incident = open_incident(category=Category.DATA_LEAK)
    services.incident_triage(incident_id=incident.pk, actor=commander)
    with pytest.raises(ValidationError, match="SEV3 and SEV4"):
        services.incident_investigate_without_containment(incident_id=incident.pk, reason="busy", actor=commander)


def test_fixed_needs_root_cause_and_fix(open_incident, commander):
    incident = investigating(open_incident, commander)
    with pytest.raises(ValidationError) as exc:
        services.incident_mark_fixed(incident_id=incident.pk, actor=commander)
    assert "root cause" in " ".join(exc.value.messages) and "fix" in " ".join(exc.value.messages)


def test_fix_at_another_layer_needs_a_justification(open_incident, commander):
    incident = investigating(open_incident, commander)
    set_fix(incident, commander, fix_layer="moderation")
    with pytest.raises(ValidationError, match="another layer"):
        services.incident_mark_fixed(incident_id=incident.pk, actor=commander)
    services.incident_update(
        incident_id=incident.pk,
        actor=commander,
        changes={"fix_layer_justification": "Stop-gap while the prompt is re-tested."},
    )
    assert services.incident_mark_fixed(incident_id=incident.pk, actor=commander).state == S.FIXED


def test_verified_needs_eval_cases_that_pass(open_incident, commander):
    incident = fixed(open_incident, commander)
    with pytest.raises(ValidationError, match="Link at least one eval case"):
        services.incident_verify(incident_id=incident.pk, actor=commander)
    prove_fix(incident, commander, trials=10, failures=0)
    with pytest.raises(ValidationError, match="10 trials; at least 20 are needed"):
        services.incident_verify(incident_id=incident.pk, actor=commander)


def test_close_needs_postmortem_and_communications_when_the_matrix_requires_them(open_incident, commander):
    incident = verified(open_incident, commander, users_affected=5000)  # widespread harmful output
    assert incident.requires_postmortem and "affected_users" in incident.required_communications
    with pytest.raises(ValidationError) as exc:
        services.incident_close(incident_id=incident.pk, actor=commander)
    assert "post-mortem" in " ".join(exc.value.messages) and "communications" in " ".join(exc.value.messages)


def test_minor_incident_closes_from_verified_without_postmortem(open_incident, commander):
    incident = open_incident(category=Category.CAPABILITY_LOSS)  # SEV4: no post-mortem required
    assert not incident.requires_postmortem
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.incident_investigate_without_containment(incident_id=incident.pk, reason="minor", actor=commander)
    set_fix(incident, commander)
    services.incident_mark_fixed(incident_id=incident.pk, actor=commander)
    send_required_communications(incident, commander)
    prove_fix(incident, commander)
    services.incident_verify(incident_id=incident.pk, actor=commander)
    assert services.incident_close(incident_id=incident.pk, actor=commander).state == S.CLOSED


@pytest.mark.parametrize("state_maker", ["detected", "triaged", "contained", "investigating", "fixed", "verified"])
def test_dismiss_from_any_open_state_needs_a_reason(open_incident, commander, state_maker):
    makers = {
        "detected": lambda: open_incident(),
        "triaged": lambda: services.incident_triage(incident_id=open_incident().pk, actor=commander),
        "contained": lambda: contained(open_incident, commander),
        "investigating": lambda: investigating(open_incident, commander),
        "fixed": lambda: fixed(open_incident, commander),
        "verified": lambda: verified(open_incident, commander),
    }
    incident = makers[state_maker]()
    with pytest.raises(ValidationError, match="dismissed"):
        services.incident_dismiss(incident_id=incident.pk, reason="", actor=commander)
    active = {
        a.pk: {"decision": "lift", "reason": "false alarm"}
        for a in incident.containment_actions.filter(reverted_at__isnull=True)
    }
    if active:  # a false alarm dismissed with its kill switch held would leave it held: it must be settled
        with pytest.raises(ValidationError, match="Still in force"):
            services.incident_dismiss(incident_id=incident.pk, reason=DismissReason.FALSE_ALARM, actor=commander)
    incident = services.incident_dismiss_settled(
        incident_id=incident.pk,
        reason=DismissReason.FALSE_ALARM,
        note="Staging traffic",
        actor=commander,
        containment=active,
    )
    assert incident.state == S.DISMISSED and incident.dismissed_at is not None
    assert "False alarm" in incident.timeline.filter(kind=TimelineKind.TRANSITION).last().text
    assert not incident.containment_actions.filter(reverted_at__isnull=True).exists()


def test_dismiss_as_duplicate_names_the_original(open_incident, commander):
    original = open_incident()
    dup = open_incident()
    with pytest.raises(ValidationError, match="duplicates"):
        services.incident_dismiss(incident_id=dup.pk, reason=DismissReason.DUPLICATE, actor=commander)
    dup = services.incident_dismiss(
        incident_id=dup.pk, reason=DismissReason.DUPLICATE, duplicate_of=original, actor=commander
    )
    assert dup.duplicate_of == original


def test_closed_and_dismissed_incidents_cannot_be_dismissed(open_incident, commander):
    incident = open_incident()
    services.incident_dismiss(incident_id=incident.pk, reason=DismissReason.FALSE_ALARM, actor=commander)
    with pytest.raises(ValidationError, match="Not possible while the incident is dismissed"):
        services.incident_dismiss(incident_id=incident.pk, reason=DismissReason.FALSE_ALARM, actor=commander)


@pytest.mark.parametrize("maker", ["fixed", "verified"])
def test_reopen_goes_back_to_investigating(open_incident, commander, maker):
    incident = fixed(open_incident, commander) if maker == "fixed" else verified(open_incident, commander)
    with pytest.raises(ValidationError, match="reopening"):
        services.incident_reopen(incident_id=incident.pk, reason="", actor=commander)
    incident = services.incident_reopen(
        incident_id=incident.pk, reason="Regression seen in eval run 88", actor=commander
    )
    assert incident.state == S.INVESTIGATING and incident.reopen_count == 1


def test_reopen_a_closed_incident(open_incident, commander):
    incident = open_incident(category=Category.CAPABILITY_LOSS)
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.incident_investigate_without_containment(incident_id=incident.pk, reason="minor", actor=commander)
    set_fix(incident, commander)
    services.incident_mark_fixed(incident_id=incident.pk, actor=commander)
    send_required_communications(incident, commander)
    prove_fix(incident, commander)
    services.incident_verify(incident_id=incident.pk, actor=commander)
    services.incident_close(incident_id=incident.pk, actor=commander)
    incident = services.incident_reopen(incident_id=incident.pk, reason="Recurred", actor=commander)
    assert incident.state == S.INVESTIGATING and incident.closed_at is None


def test_illegal_transition_leaves_state_and_log_untouched(open_incident, commander):
    incident = open_incident()
    before = ActionLogEntry.objects.count()
    with pytest.raises(ValidationError, match="Not possible while the incident is detected"):
        services.incident_close(incident_id=incident.pk, actor=commander)
    with pytest.raises(ValidationError):
        services.incident_reopen(incident_id=incident.pk, reason="x", actor=commander)
    assert Incident.objects.get(pk=incident.pk).state == S.DETECTED
    assert ActionLogEntry.objects.count() == before


def test_state_cannot_be_set_directly(open_incident):
    incident = open_incident()
    with pytest.raises(AttributeError):
        incident.state = S.CLOSED


def test_closed_incident_takes_no_containment(open_incident, commander):
    incident = open_incident()
    services.incident_dismiss(incident_id=incident.pk, reason=DismissReason.FALSE_ALARM, actor=commander)
    with pytest.raises(ValidationError, match="reopen"):
        services.containment_record(
            incident_id=incident.pk, action_type=ContainmentType.FEATURE_FLAG_OFF, actor=commander
        )


def test_service_refuses_users_without_the_permission(open_incident, viewer, commander):
    incident = open_incident()
    with pytest.raises(PermissionDenied):
        services.incident_triage(incident_id=incident.pk, actor=viewer)
