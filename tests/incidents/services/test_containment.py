"""A kill switch is held, not toggled: incidents sharing a feature, drills beside real incidents, the
truth on the page, one-click containment, a clean close, and the triage cell driving the page.

Flag values are read through the OFREP endpoint, as the product reads them.
"""

import threading

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.urls import reverse

from incidents import services
from incidents.constants import Category, ContainmentType, IncidentState, PageState, StakeholderRole
from incidents.models import EscalationPolicy, KillSwitch, KillSwitchHold, Page, TriageRule
from incidents.services import hotcache
from incidents.services.flags import (
    killswitch_for,
    killswitch_set,
    killswitch_set_cohort_rules,
    switch_export_text,
)
from tests.incidents.factories import make_contact
from tests.incidents.services.test_incidents import prove_fix, send_required_communications, set_fix

S = IncidentState


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    hotcache.clear()
    yield
    cache.clear()
    hotcache.clear()


def flag_off(incident, actor, **kwargs):
    return services.containment_record(
        incident_id=incident.pk, action_type=ContainmentType.FEATURE_FLAG_OFF, actor=actor, **kwargs
    )


def restrict(incident, actor, cohort="plan=free"):
    return services.containment_record(
        incident_id=incident.pk,
        action_type=ContainmentType.RESTRICT_COHORT,
        parameters={"cohort": cohort},
        actor=actor,
    )


def timeline_texts(incident):
    return list(incident.timeline.order_by("id").values_list("text", flat=True))


# --- two incidents on one feature ----------------------------------------------------------------


@pytest.mark.parametrize("lift_first", ["second", "first"])
def test_lifting_one_incidents_hold_leaves_the_switch_off_while_another_holds_it(
    open_incident, commander, feature, committed, read_flag, lift_first
):
    first = open_incident(title="Harmful answers", is_public=True)  # SEV1
    second = open_incident(title="Harmful answers again")
    first_action = committed(flag_off, first, commander)
    second_action = committed(flag_off, second, commander)
    assert read_flag(feature.kill_switch_key)[0] is False

    lifted, holder = (second_action, first) if lift_first == "second" else (first_action, second)
    result = committed(services.containment_revert, action_id=lifted.pk, reason="our part is fixed", actor=commander)

    value, _ = read_flag(feature.kill_switch_key)
    assert value is False, "one incident's lift turned the feature back on for everyone"
    assert result.still_held_by == f"{holder.reference} ({holder.severity})"
    lifter = second if lift_first == "second" else first
    assert f"Still off: held by {holder.reference} ({holder.severity})" in timeline_texts(lifter)[-1]
    # the other incident's ledger is still true: its hold is active and the switch is off
    assert KillSwitchHold.objects.get(containment__incident=holder).is_active

    remaining = second_action if lift_first == "first" else first_action
    committed(services.containment_revert, action_id=remaining.pk, reason="all fixed", actor=commander)
    assert read_flag(feature.kill_switch_key)[0] is True


def test_cohort_rule_stays_while_any_incident_holds_it(open_incident, commander, feature, committed, read_flag):
    first = open_incident(title="Free plan gets bad advice")
    second = open_incident(title="Free plan again")
    one = committed(restrict, first, commander)
    committed(restrict, second, commander)
    assert "Cohort restricted: plan=free now gets the feature off" in timeline_texts(first)[-1]
    assert not any("Kill switch" in t and "is now ON" in t for t in timeline_texts(first))
    assert read_flag(feature.kill_switch_key, {"plan": "free"})[0] is False
    assert read_flag(feature.kill_switch_key, {"plan": "pro"})[0] is True
    assert killswitch_for(feature).cohort_rules == [{"attribute": "plan", "values": ["free"], "enabled": False}]

    committed(services.containment_revert, action_id=one.pk, reason="first done", actor=commander)
    assert read_flag(feature.kill_switch_key, {"plan": "free"})[0] is False
    assert "Still restricted: held by " + second.reference in timeline_texts(first)[-1]

    other = second.containment_actions.get()
    committed(services.containment_revert, action_id=other.pk, reason="second done", actor=commander)
    assert read_flag(feature.kill_switch_key, {"plan": "free"})[0] is True
    assert "Cohort restriction lifted: plan=free gets the feature again" in timeline_texts(second)[-1]


def test_a_manual_flip_is_a_hold_and_turning_on_by_hand_never_lifts_an_incidents_hold(
    open_incident, commander, feature, committed, read_flag
):
    committed(killswitch_set, feature=feature, is_on=False, reason="smoke test of the switch", actor=commander)
    manual = KillSwitchHold.objects.get()
    assert manual.incident is None and manual.reason == "smoke test of the switch"
    incident = open_incident(is_public=True)
    committed(flag_off, incident, commander)

    switch = committed(killswitch_set, feature=feature, is_on=True, reason="smoke test done", actor=commander)
    assert switch.is_on is False and switch.still_held_by == f"{incident.reference} (SEV1)"
    assert read_flag(feature.kill_switch_key)[0] is False
    manual.refresh_from_db()
    assert not manual.is_active  # the manual hold is gone; the incident's stays

    action = incident.containment_actions.get()
    committed(services.containment_revert, action_id=action.pk, reason="fixed", actor=commander)
    assert read_flag(feature.kill_switch_key)[0] is True


def test_the_admin_cannot_edit_away_a_cohort_rule_an_incident_holds(open_incident, commander, feature, committed):
    incident = open_incident()
    committed(restrict, incident, commander)
    with pytest.raises(ValidationError, match=f"plan=free is held by {incident.reference}"):
        killswitch_set_cohort_rules(feature=feature, rules=[], reason="tidy up", actor=commander)
    assert killswitch_for(feature).cohort_rules  # still there


# --- the truth on the page -----------------------------------------------------------------------


def test_incident_page_and_command_centre_warn_when_ledger_and_switch_disagree(
    client, open_incident, commander, feature, committed
):
    incident = open_incident(is_public=True)
    committed(flag_off, incident, commander)
    # the switch turned back on behind the ledger's back (a restore, a hand-edited row)
    KillSwitch.objects.filter(feature=feature).update(is_on=True)
    client.force_login(commander)
    page = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert 'id="switch-warnings"' in page
    assert "The ledger says the feature is off, but the switch support-bot-enabled is ON" in page
    centre = client.get(reverse("admin:index")).content.decode()
    assert 'id="switch-warnings"' in centre and incident.reference in centre


def test_a_held_switch_the_product_never_read_is_flagged_until_it_reads_it(
    client, open_incident, commander, feature, committed, read_flag
):
    incident = open_incident(is_public=True)
    committed(flag_off, incident, commander)
    client.force_login(commander)
    url = reverse("admin:incidents_incident_change", args=[incident.pk])
    assert "the product has not read support-bot-enabled since" in client.get(url).content.decode()
    read_flag(feature.kill_switch_key)
    assert "has not read" not in client.get(url).content.decode()


def test_pdfs_state_the_switchs_real_state_at_export(open_incident, commander, feature, committed):
    first = open_incident(is_public=True)
    second = open_incident(title="Second")
    committed(flag_off, first, commander)
    committed(flag_off, second, commander)
    text = switch_export_text(second)
    assert text.startswith("support-bot-enabled is OFF") and first.reference in text
    committed(
        services.containment_revert,
        action_id=first.containment_actions.get().pk,
        reason="done",
        actor=commander,
    )
    assert "OFF" in switch_export_text(first)  # the second still holds it; the PDF says so, not the ledger
    assert first.reference not in switch_export_text(first, name_holders=False)


# --- one click, a clean close, and the matrix ----------------------------------------------------


def test_one_click_containment_records_the_default_and_reaches_contained(
    client, open_incident, commander, feature, committed, read_flag
):
    incident = open_incident(is_public=True)  # SEV1 harmful output: flag off + fallback
    services.incident_triage(incident_id=incident.pk, actor=commander)
    client.force_login(commander)
    response = committed(client.post, reverse("admin:incidents_incident_contain_now", args=[incident.pk]), follow=True)
    incident.refresh_from_db()
    assert incident.state == S.CONTAINED and incident.contained_at is not None
    assert f"{incident.reference} is now Contained" in response.content.decode()
    assert read_flag(feature.kill_switch_key)[0] is False


def test_one_click_containment_says_which_guard_stopped_it_and_records_nothing(
    client, open_incident, commander, feature, read_flag
):
    incident = open_incident(is_public=True, commander=None)  # SEV1, detected, nobody in command
    client.force_login(commander)
    response = client.post(reverse("admin:incidents_incident_contain_now", args=[incident.pk]), follow=True)
    assert "Assign an incident commander" in response.content.decode()
    incident.refresh_from_db()
    assert incident.state == S.DETECTED and not incident.containment_actions.exists()
    assert read_flag(feature.kill_switch_key)[0] is True


@pytest.fixture
def paged_minor_incident(open_incident, commander, committed):
    """A SEV4 at Verified with its kill switch held and a page nobody answered."""
    EscalationPolicy.objects.update_or_create(
        severity="SEV4", defaults={"roles": [StakeholderRole.ENGINEERING_ON_CALL], "channels": ["email"]}
    )
    make_contact(
        name="Ola On-call", role=StakeholderRole.ENGINEERING_ON_CALL, escalation_tier=1, email="ola@example.com"
    )
    incident = open_incident(category=Category.CAPABILITY_LOSS)
    services.incident_triage(incident_id=incident.pk, actor=commander)
    committed(flag_off, incident, commander)
    services.incident_contain(incident_id=incident.pk, actor=commander)
    services.incident_investigate(incident_id=incident.pk, actor=commander)
    set_fix(incident, commander)
    services.incident_mark_fixed(incident_id=incident.pk, actor=commander)
    send_required_communications(incident, commander)
    prove_fix(incident, commander)
    services.incident_verify(incident_id=incident.pk, actor=commander)
    assert incident.pages.filter(state__in=[PageState.PENDING, PageState.SENT]).exists()
    return incident


def test_close_is_refused_while_containment_and_pages_are_left_open(paged_minor_incident, commander, read_flag):
    with pytest.raises(ValidationError) as exc:
        services.incident_close(incident_id=paged_minor_incident.pk, actor=commander)
    text = " ".join(exc.value.messages)
    assert "Still in force: Feature flag off" in text and "Ola On-call" in text
    assert read_flag(paged_minor_incident.feature.kill_switch_key)[0] is False


def test_close_from_the_page_lifts_the_switch_and_cancels_the_page(
    client, paged_minor_incident, commander, committed, read_flag
):
    incident = paged_minor_incident
    action = incident.containment_actions.get()
    page = incident.pages.get()
    client.force_login(commander)
    html = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert (
        'id="close-settle"' in html and f'name="containment_{action.pk}"' in html and f'name="page_{page.pk}"' in html
    )
    response = committed(
        client.post,
        reverse("admin:incidents_incident_transition", args=[incident.pk, "close"]),
        {
            "expected_state": "verified",
            f"containment_{action.pk}": "lift",
            f"containment_{action.pk}_reason": "restored after the fix",
            f"page_{page.pk}": "cancel",
        },
        follow=True,
    )
    assert f"{incident.reference} is closed" in response.content.decode()
    incident.refresh_from_db()
    assert incident.state == S.CLOSED
    assert Page.objects.get(pk=page.pk).state == PageState.CANCELLED
    assert read_flag(incident.feature.kill_switch_key)[0] is True


def test_close_with_a_hand_over_keeps_the_switch_held_with_a_named_owner(
    client, paged_minor_incident, commander, legal, committed, read_flag
):
    incident = paged_minor_incident
    action = incident.containment_actions.get()
    page = incident.pages.get()
    client.force_login(commander)
    url = reverse("admin:incidents_incident_transition", args=[incident.pk, "close"])
    # a hand-over without its reason is refused, and nothing was lifted or cancelled meanwhile
    response = client.post(
        url,
        {"expected_state": "verified", f"containment_{action.pk}": "hand_over", f"page_{page.pk}": "cancel"},
        follow=True,
    )
    assert "Feature flag off (kill switch): Name who answers for it" in response.content.decode()
    assert Page.objects.get(pk=page.pk).state != PageState.CANCELLED
    committed(
        client.post,
        url,
        {
            "expected_state": "verified",
            f"containment_{action.pk}": "hand_over",
            f"containment_{action.pk}_owner": str(legal.pk),
            f"containment_{action.pk}_reason": "kept off until the vendor patch lands",
            f"page_{page.pk}": "acknowledge",
        },
    )
    incident.refresh_from_db()
    action.refresh_from_db()
    assert incident.state == S.CLOSED
    assert action.is_active and action.handed_over_to == legal
    assert read_flag(incident.feature.kill_switch_key)[0] is False


def test_the_triage_cell_pages_its_stakeholders_within_its_minutes(open_incident, commander):
    for severity in ("SEV1", "SEV2", "SEV3", "SEV4"):
        EscalationPolicy.objects.update_or_create(
            severity=severity,
            defaults={"roles": [StakeholderRole.ENGINEERING_ON_CALL], "channels": ["email"], "ack_timeout_minutes": 30},
        )
    make_contact(name="Eng", role=StakeholderRole.ENGINEERING_ON_CALL, escalation_tier=1, email="eng@example.com")
    make_contact(name="Pat PR", role=StakeholderRole.PR, escalation_tier=1, email="pr@example.com")
    cell = TriageRule.objects.get(category=Category.FACTUAL_MISINFORMATION, impact="public")
    assert StakeholderRole.PR in cell.required_stakeholders  # the seeded matrix names PR for public cells
    TriageRule.objects.filter(pk=cell.pk).update(page_within_minutes=7)

    incident = open_incident(category=Category.FACTUAL_MISINFORMATION, is_public=True)
    assert incident.triage_rule_id == cell.pk
    pages = {p.contact.name: p for p in incident.pages.select_related("contact")}
    assert set(pages) == {"Eng", "Pat PR"}, "the cell's stakeholders are paged beside the severity's policy"
    for page in pages.values():
        minutes = (page.ack_due_at - page.created_at).total_seconds() / 60
        assert 6.9 < minutes <= 7.01, "the cell's 'page within' sets this incident's acknowledgement timeout"
    assert "acknowledge within 7 min" in incident.timeline.filter(text__contains="Pat PR").get().text


def _at_once(*calls):
    """Run the calls in threads released together; each thread has its own database connection."""
    barrier = threading.Barrier(len(calls))
    errors = []

    def run(call):
        try:
            barrier.wait(timeout=10)
            call()
        except Exception as exc:  # reported below, in the test's thread
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


@pytest.mark.skipif(connection.vendor != "postgresql", reason="real row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("rounds", [range(5)])
def test_two_lifts_and_a_record_at_the_same_moment_leave_the_right_state(
    open_incident, commander, feature, read_flag, rounds
):
    for round_number in rounds:
        first, second, third = (open_incident(title=f"Round {round_number}: {n}") for n in ("one", "two", "three"))
        one, two = flag_off(first, commander), flag_off(second, commander)
        _at_once(
            lambda one=one: services.containment_revert(action_id=one.pk, reason="done", actor=commander),
            lambda two=two: services.containment_revert(action_id=two.pk, reason="done", actor=commander),
            lambda third=third: flag_off(third, commander),
        )
        switch = KillSwitch.objects.get(feature=feature)
        active = list(switch.holds.filter(released_at__isnull=True).values_list("incident_id", flat=True))
        assert active == [third.pk]
        assert switch.is_on is False
        assert read_flag(feature.kill_switch_key)[0] is False

        # and the last two lifts racing: the switch ends on, once
        version = switch.version
        last = third.containment_actions.get()
        fourth = open_incident(title=f"Round {round_number}: four")
        four = flag_off(fourth, commander)
        _at_once(
            lambda last=last: services.containment_revert(action_id=last.pk, reason="done", actor=commander),
            lambda four=four: services.containment_revert(action_id=four.pk, reason="done", actor=commander),
        )
        switch.refresh_from_db()
        assert switch.is_on is True and switch.version == version + 1
        assert read_flag(feature.kill_switch_key)[0] is True


def test_dismissing_a_false_alarm_from_the_page_asks_about_the_held_switch(
    client, open_incident, commander, committed, read_flag
):
    incident = open_incident(is_public=True)
    action = committed(flag_off, incident, commander)
    client.force_login(commander)
    html = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert 'id="dismiss-settle"' in html
    url = reverse("admin:incidents_incident_transition", args=[incident.pk, "dismiss"])
    refused = client.post(url, {"expected_state": "detected", "dismiss_reason": "false_alarm"}, follow=True)
    assert "Still in force: Feature flag off" in refused.content.decode()
    assert read_flag(incident.feature.kill_switch_key)[0] is False
    committed(
        client.post,
        url,
        {
            "expected_state": "detected",
            "dismiss_reason": "false_alarm",
            f"containment_{action.pk}": "lift",
            f"containment_{action.pk}_reason": "it was staging traffic",
        },
    )
    incident.refresh_from_db()
    assert incident.state == S.DISMISSED
    assert read_flag(incident.feature.kill_switch_key)[0] is True


def test_a_restricted_incidents_hold_is_not_named_on_another_incident(
    client, open_incident, commander, responder, committed
):
    leak = open_incident(title="Addresses shown to other customers", category=Category.DATA_LEAK)  # restricted
    assert leak.is_restricted
    other = open_incident(title="Harmful answers")
    committed(flag_off, leak, commander)
    action = committed(flag_off, other, commander)
    lifted = committed(services.containment_revert, action_id=action.pk, reason="ours is fixed", actor=commander)
    assert lifted.still_held_by == "a restricted incident"
    assert "Still off: held by a restricted incident" in timeline_texts(other)[-1]
    services.incident_update(incident_id=other.pk, changes={"members": [responder]}, actor=commander)
    client.force_login(responder)  # sees the other incident, not the leak
    html = client.get(reverse("admin:incidents_incident_change", args=[other.pk])).content.decode()
    assert leak.reference not in html and "a restricted incident" in html
    assert leak.reference not in switch_export_text(other)
