"""The workflow kernel: every stateful case object changes state through `workflow.transition_run`.

For one transition of each of incident, post-mortem, communication, regulatory obligation, drill,
stakeholder contact, action item and page: exactly one action-log row and one timeline row (none for a
contact, which belongs to no incident); a refused permission writes nothing; a failing guard answers in
its own words and writes nothing; what is registered to run after commit does not run when the
surrounding transaction rolls back.
"""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit.models import ActionLogEntry
from drills import services as drills
from drills.constants import DrillState
from incidents import services
from incidents.constants import Audience, ContainmentType, IncidentState, PageState, StakeholderRole, TimelineKind
from incidents.models import (
    ActionItemState,
    CommunicationState,
    Incident,
    ObligationState,
    Page,
    PostMortemState,
    Regime,
    RegulatoryObligation,
    TimelineEntry,
)
from incidents.services.action_items import action_item_complete, action_item_create
from incidents.services.communications import communication_cancel, communication_create
from incidents.services.escalation import page_acknowledge, page_cancel
from incidents.services.postmortems import postmortem_create, postmortem_submit
from incidents.services.regulatory import obligation_waive, reportability_decide
from incidents.services.stakeholders import contact_retire
from incidents.services.workflow import guard_blockers, timeline_add, transition_options, transition_run
from tests.conftest import fresh
from tests.incidents.factories import UserFactory, make_contact
from tests.incidents.postmortem_text import write_sections


def written() -> tuple[int, int]:
    """(action-log rows, timeline rows) in the database now."""
    return ActionLogEntry.objects.count(), TimelineEntry.objects.count()


def transitions_of(obj) -> list[str]:
    return list(
        ActionLogEntry.objects.filter(
            target_type=obj._meta.label_lower, target_id=str(obj.pk), verb__startswith="transition:"
        ).values_list("verb", flat=True)
    )


@pytest.fixture
def outsider(db):
    """Sees the incidents (they are not restricted) but may change nothing."""
    return fresh(UserFactory(username="onlooker", role="Viewer"))


@pytest.fixture
def contained(open_incident, commander):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.containment_record(incident_id=incident.pk, action_type=ContainmentType.FEATURE_FLAG_OFF, actor=commander)
    return services.incident_contain(incident_id=incident.pk, actor=commander)


# --- one transition of each kind: what it runs, and who may not run it ----------------------------------


def incident_case(request):
    incident = request.getfixturevalue("contained")
    commander = request.getfixturevalue("commander")

    def run(actor):
        return services.incident_investigate(incident_id=incident.pk, actor=actor)

    return incident, run, commander, IncidentState.INVESTIGATING, "Contained → Investigating"


def postmortem_case(request):
    incident = request.getfixturevalue("open_incident")()
    commander = request.getfixturevalue("commander")
    postmortem = postmortem_create(incident_id=incident.pk, actor=commander)
    write_sections(postmortem.pk, commander)

    def run(actor):
        return postmortem_submit(postmortem_id=postmortem.pk, actor=actor)

    return postmortem, run, commander, PostMortemState.IN_REVIEW, "Post-mortem submitted for review"


def communication_case(request):
    incident = request.getfixturevalue("open_incident")()
    commander = request.getfixturevalue("commander")
    communication = communication_create(incident_id=incident.pk, audience=Audience.INTERNAL, actor=commander)

    def run(actor):
        return communication_cancel(communication_id=communication.pk, reason="superseded", actor=actor)

    return communication, run, commander, CommunicationState.CANCELLED, "Internal communication cancelled: superseded"


def obligation_case(request):
    incident = request.getfixturevalue("open_incident")()
    commander, legal = request.getfixturevalue("commander"), request.getfixturevalue("legal")
    reportability_decide(
        incident_id=incident.pk, regimes=[Regime.objects.get(code="gdpr-33")], reason="Personal data.", actor=commander
    )
    obligation = RegulatoryObligation.objects.get(incident=incident)

    def run(actor):
        return obligation_waive(obligation_id=obligation.pk, reason="Met by the Art. 34 notice.", actor=actor)

    return obligation, run, legal, ObligationState.WAIVED, "Regulatory obligation waived"


def drill_case(request):
    facilitator = request.getfixturevalue("facilitator")
    drill = request.getfixturevalue("scheduled_drill")()
    with request.getfixturevalue("django_capture_on_commit_callbacks")(execute=True):
        drill = drills.drill_start(drill_id=drill.pk, actor=facilitator)

    def run(actor):
        return drills.drill_end_exercise(drill_id=drill.pk, actor=actor)

    return drill, run, facilitator, DrillState.DEBRIEF, f"Drill {drill.reference}: Running → Debrief"


def contact_case(request):
    superuser = request.getfixturevalue("superuser")
    contact = make_contact(name="Pat On-call", role=StakeholderRole.LEGAL, email="pat@example.com")

    def run(actor):
        return contact_retire(contact_id=contact.pk, actor=actor)

    return contact, run, superuser, "retired", None  # a contact belongs to no incident: no timeline


def action_item_case(request):
    incident = request.getfixturevalue("open_incident")()
    commander, responder = request.getfixturevalue("commander"), request.getfixturevalue("responder")
    item = action_item_create(
        incident_id=incident.pk,
        title="Add an eval case for the topic",
        kind="detect",
        owner=responder,
        due_date=timezone.localdate() + datetime.timedelta(days=7),
        actor=commander,
    )

    def run(actor):
        return action_item_complete(item_id=item.pk, actor=actor)

    return item, run, responder, ActionItemState.DONE, "Action item done: Add an eval case for the topic."


def page_case(request):
    commander = request.getfixturevalue("commander")
    on_call = make_contact(
        name="Oncall", role=StakeholderRole.ENGINEERING_ON_CALL, email="oncall@example.com", verified=True
    )
    incident = request.getfixturevalue("open_incident")()  # a SEV3 pages the on-call engineer
    page = Page.objects.get(incident=incident, contact=on_call)

    def run(actor):
        return page_cancel(page_id=page.pk, reason="closing", actor=actor)

    return page, run, commander, PageState.CANCELLED, "Page to Oncall (Engineering on-call) cancelled: closing"


CASES = {
    "incident": incident_case,
    "post-mortem": postmortem_case,
    "communication": communication_case,
    "obligation": obligation_case,
    "drill": drill_case,
    "contact": contact_case,
    "action item": action_item_case,
    "page": page_case,
}


@pytest.mark.parametrize("kind", CASES)
def test_a_transition_writes_one_action_log_row_and_one_timeline_row(kind, request, db):
    obj, run, actor, target_state, timeline_text = CASES[kind](request)
    logs, entries = written()
    done = run(actor)
    assert done.state == target_state
    assert type(obj).objects.get(pk=obj.pk).state == target_state
    assert ActionLogEntry.objects.count() == logs + 1
    assert len(transitions_of(obj)) == len(set(transitions_of(obj)))  # nothing logged twice
    if timeline_text is None:
        assert TimelineEntry.objects.count() == entries
        return
    assert TimelineEntry.objects.count() == entries + 1
    entry = TimelineEntry.objects.latest("id")
    assert entry.text.startswith(timeline_text)
    assert entry.actor == actor and entry.is_automatic


@pytest.mark.parametrize("kind", CASES)
def test_a_refused_permission_writes_nothing(kind, request, db, outsider):
    obj, run, _, _, _ = CASES[kind](request)
    state = type(obj).objects.get(pk=obj.pk).state
    logs, entries = written()
    with pytest.raises(PermissionDenied, match="may not|Only"):
        run(outsider)
    assert type(obj).objects.get(pk=obj.pk).state == state
    assert written() == (logs, entries)


def test_the_kernel_refuses_by_the_transitions_own_permission(contained, outsider):
    """Even a caller that checks nothing first: django-fsm's `permission` of the transition decides."""
    logs, entries = written()
    with pytest.raises(PermissionDenied, match="You may not close incidents"):
        transition_run(
            Incident(pk=contained.pk), "investigate", actor=outsider, permission_message="You may not close incidents."
        )
    assert written() == (logs, entries)
    assert Incident.objects.get(pk=contained.pk).state == IncidentState.CONTAINED


def test_an_acknowledgement_is_on_the_timeline_at_the_moment_it_was_given(db, request, commander):
    page, _, _, _, _ = page_case(request)
    logs, entries = written()
    page = page_acknowledge(page_id=page.pk, actor=commander, via="admin")
    assert written() == (logs + 1, entries + 1)
    entry = TimelineEntry.objects.latest("id")
    assert entry.kind == TimelineKind.ACKNOWLEDGEMENT and entry.occurred_at == page.acknowledged_at
    assert entry.text == "Oncall (Engineering on-call) acknowledged the page via admin by cmdr"


# --- guards: said in their own words, nothing written ------------------------------------------------------


def test_a_failing_incident_guard_answers_its_words_and_writes_nothing(open_incident, commander):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    logs, entries = written()
    with pytest.raises(ValidationError) as refused:
        services.incident_contain(incident_id=incident.pk, actor=commander)
    assert refused.value.messages == guard_blockers(Incident.objects.get(pk=incident.pk), "contain")
    assert any("containment" in text for text in refused.value.messages)
    assert written() == (logs, entries)


def test_a_failing_drill_guard_answers_its_words_and_writes_nothing(scheduled_drill, facilitator):
    drill = scheduled_drill()
    drill.participants.clear()
    logs, entries = written()
    with pytest.raises(ValidationError) as refused:
        drills.drill_start(drill_id=drill.pk, actor=facilitator)
    assert refused.value.messages == ["Choose the participants."]
    assert written() == (logs, entries)
    assert not Incident.objects.filter(is_drill=True).exists()  # the drill incident is not left behind


def test_a_failing_communication_guard_answers_its_words_and_writes_nothing(open_incident, commander):
    incident = open_incident()
    communication = communication_create(incident_id=incident.pk, audience=Audience.INTERNAL, actor=commander)
    communication.body = ""
    communication.save()
    logs, entries = written()
    with pytest.raises(ValidationError) as refused:
        with transaction.atomic():
            transition_run(communication, "submit", actor=commander, timeline_text="submitted")
    assert refused.value.messages == guard_blockers(communication, "submit")
    assert refused.value.messages and "not possible" not in refused.value.messages[0].lower()
    assert written() == (logs, entries)


def test_a_failing_obligation_guard_answers_its_words_and_writes_nothing(open_incident, commander, legal):
    incident = open_incident()
    reportability_decide(
        incident_id=incident.pk, regimes=[Regime.objects.get(code="gdpr-33")], reason="Personal data.", actor=commander
    )
    obligation = RegulatoryObligation.objects.get(incident=incident)
    logs, entries = written()
    with pytest.raises(ValidationError) as refused:
        with transaction.atomic():
            transition_run(obligation, "waive", actor=legal, timeline_text="waived")
    assert refused.value.messages == ["Give the reason the obligation does not apply or was met otherwise."]
    assert written() == (logs, entries)
    assert RegulatoryObligation.objects.get(pk=obligation.pk).state == ObligationState.OPEN


def test_a_transition_not_possible_from_this_state_says_so(contained, commander):
    with pytest.raises(ValidationError) as refused:
        services.incident_close(incident_id=contained.pk, actor=commander)
    assert refused.value.messages == ["Not possible while the incident is contained."]


def test_the_state_the_user_saw_is_checked(contained, commander):
    with pytest.raises(ValidationError, match="changed since you opened it"):
        services.incident_investigate(incident_id=contained.pk, actor=commander, expected_state=IncidentState.TRIAGED)


# --- side effects after commit ------------------------------------------------------------------------------


class Abandoned(Exception):
    pass


def test_an_on_commit_side_effect_runs_once_the_transaction_commits(
    contained, commander, django_capture_on_commit_callbacks
):
    sent = []
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            transition_run(
                Incident(pk=contained.pk), "investigate", actor=commander, on_commit=[lambda: sent.append("told")]
            )
    assert sent == ["told"]


def test_an_on_commit_side_effect_does_not_run_when_the_transaction_rolls_back(
    contained, commander, django_capture_on_commit_callbacks
):
    sent = []
    logs, entries = written()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Abandoned):
            with transaction.atomic():
                transition_run(
                    Incident(pk=contained.pk),
                    "investigate",
                    actor=commander,
                    timeline_text="investigating",
                    on_commit=[lambda: sent.append("told")],
                )
                raise Abandoned
    assert sent == [] and callbacks == []
    assert written() == (logs, entries)
    assert Incident.objects.get(pk=contained.pk).state == IncidentState.CONTAINED


# --- the one timeline writer and the one options builder --------------------------------------------------


def test_timeline_add_stores_the_system_as_nobody(open_incident):
    incident = open_incident()
    entry = timeline_add(incident.pk, text="Alert fired again", kind=TimelineKind.ALERT, actor=object())
    assert entry.incident_id == incident.pk and entry.actor is None and entry.is_automatic


def test_options_list_only_what_the_user_may_press_with_its_blockers(open_incident, commander, outsider):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    incident = Incident.objects.get(pk=incident.pk)
    labels = {"contain": "Mark contained", "investigate_without_containment": "Skip", "dismiss": "Dismiss"}
    options = transition_options(incident, commander, labels, input_guards=services.incidents.INPUT_GUARDS)
    assert [o.name for o in options] == list(labels)  # in the order of the labels
    contain = options[0]
    assert not contain.is_allowed and contain.blockers == guard_blockers(incident, "contain")
    assert options[2].needs_reason  # the dismiss reason is typed with the button, so it blocks nothing here
    assert transition_options(incident, outsider, labels) == []
