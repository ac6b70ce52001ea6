"""The regulatory duties as the law sets them, to the last report: one clock start per trigger, and chains.

Every expected deadline stands next to the article it comes from. Times are UTC; Brussels is UTC+1 until
Sunday 29 March 2026 and UTC+2 after; New York is UTC-4 in summer; Los Angeles UTC-7 in summer.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from incidents.constants import Category
from incidents.models import DeadlineRule, ObligationState, Regime, RegulatoryObligation
from incidents.services.regulatory import (
    obligation_amend,
    obligation_request,
    obligation_start_clock,
    obligation_submit,
    obligation_waive,
    reportability_decide,
)
from tests.incidents.exports.test_regulator import text_of


def utc(*args):
    return datetime(*args, tzinfo=UTC)


AWARE = utc(2026, 6, 1, 8, 0)  # Monday 10:00 in Brussels (CEST)
MATERIAL = utc(2026, 6, 3, 18, 0)  # Wednesday 14:00 in New York (EDT): the disclosure committee decides


def regime(code):
    return Regime.objects.get(code=code)


def steps(incident, regime_code, rule_code):
    return list(
        RegulatoryObligation.objects.filter(incident=incident, rule__regime__code=regime_code, rule__code=rule_code)
        .select_related("rule")
        .order_by("sequence")
    )


def step(incident, regime_code, rule_code):
    (found,) = steps(incident, regime_code, rule_code)
    return found


@pytest.fixture
def at(time_machine):
    def move(moment):
        time_machine.move_to(moment, tick=False)

    return move


@pytest.fixture
def incident(open_incident, at):
    at(AWARE + timedelta(minutes=5))
    return open_incident(detected_at=AWARE, category=Category.DATA_LEAK)


# --- one clock start per trigger --------------------------------------------------------------------

# Decided together: GDPR and NIS2 count from awareness, the SEC's Form 8-K from the materiality
# determination made two and a half days later. (regime, rule): (expected deadline, the law).
TWO_TRIGGERS = {
    ("gdpr-33", "notification"): (utc(2026, 6, 4, 8, 0), "GDPR Art. 33(1): 72 hours after becoming aware"),
    ("nis2-23", "early-warning"): (utc(2026, 6, 2, 8, 0), "NIS2 Art. 23(4)(a): within 24 hours of becoming aware"),
    ("nis2-23", "notification"): (utc(2026, 6, 4, 8, 0), "NIS2 Art. 23(4)(b): within 72 hours of becoming aware"),
    # Wed 3 June 14:00 EDT + 4 business days: Thu 4, Fri 5, Mon 8, Tue 9 June, due 17:30 EDT = 21:30 UTC
    ("sec-8k-105", "8k"): (utc(2026, 6, 9, 21, 30), "Form 8-K Item 1.05, General Instruction B.1: 4 business days"),
}


def test_two_triggers_in_one_decision_each_regime_counts_from_its_own(incident, commander, at):
    at(MATERIAL + timedelta(hours=1))
    reportability_decide(
        incident_id=incident.pk,
        regimes=[regime("gdpr-33"), regime("nis2-23"), regime("sec-8k-105")],
        reason="Customer data left the system; the committee found it material.",
        triggers={
            "awareness": (AWARE, "On-call acknowledged the leak alert"),
            "materiality": (MATERIAL, "Disclosure committee minutes, 3 June"),
        },
        actor=commander,
    )
    for (regime_code, rule_code), (expected, law) in TWO_TRIGGERS.items():
        obligation = step(incident, regime_code, rule_code)
        assert obligation.deadline == expected, law
    decision = step(incident, "gdpr-33", "notification").decision
    assert decision.aware_at == AWARE and decision.materiality_at == MATERIAL
    assert decision.aware_evidence == "On-call acknowledged the leak alert"
    assert "Disclosure committee minutes" in step(incident, "sec-8k-105", "8k").clock_basis
    assert "Awareness of the incident" in step(incident, "gdpr-33", "notification").clock_basis


def test_one_time_for_regimes_with_different_triggers_is_refused(incident, commander, at):
    at(MATERIAL + timedelta(hours=1))
    with pytest.raises(ValidationError, match="different events"):
        reportability_decide(
            incident_id=incident.pk,
            regimes=[regime("gdpr-33"), regime("sec-8k-105")],
            reason="Both",
            clock_started_at=MATERIAL,
            actor=commander,
        )
    assert not RegulatoryObligation.objects.filter(incident=incident).exists()


def test_form_8k_needs_the_materiality_determination_and_a_trigger_needs_its_evidence(incident, commander, at):
    at(MATERIAL + timedelta(hours=1))
    with pytest.raises(ValidationError, match="materiality"):
        reportability_decide(incident_id=incident.pk, regimes=[regime("sec-8k-105")], reason="x", actor=commander)
    with pytest.raises(ValidationError, match="Say what shows"):
        reportability_decide(
            incident_id=incident.pk,
            regimes=[regime("sec-8k-105")],
            reason="x",
            triggers={"materiality": (MATERIAL, " ")},
            actor=commander,
        )


def test_awareness_defaults_to_detection_with_the_detection_as_evidence(incident, commander):
    reportability_decide(incident_id=incident.pk, regimes=[regime("gdpr-33")], reason="Leak", actor=commander)
    obligation = step(incident, "gdpr-33", "notification")
    assert obligation.clock_started_at == AWARE and obligation.deadline == utc(2026, 6, 4, 8, 0)  # Art. 33(1)
    assert "detected" in obligation.decision.aware_evidence


def test_the_decision_form_takes_each_trigger_with_its_evidence(client, incident, commander, at):
    at(MATERIAL + timedelta(hours=1))
    client.force_login(commander)
    response = client.post(
        reverse("admin:incidents_incident_reg_decide", args=[incident.pk]),
        {
            "regimes": [regime("gdpr-33").pk, regime("sec-8k-105").pk],
            "reason": "Leak, found material",
            "aware_at": "2026-06-01 08:00",
            "aware_evidence": "Alert acknowledged",
            "materiality_at": "2026-06-03 18:00",
            "materiality_evidence": "Committee minutes",
        },
    )
    assert response.status_code == 302
    # the site's zone is the commander's here (UTC): each trigger as typed
    assert step(incident, "gdpr-33", "notification").deadline == utc(2026, 6, 4, 8, 0)  # GDPR Art. 33(1)
    assert step(incident, "sec-8k-105", "8k").deadline == utc(2026, 6, 9, 21, 30)  # Form 8-K B.1


# --- NIS2 Art. 23(4): the whole chain ------------------------------------------------------------------


def test_a_complete_nis2_chain(incident, commander, at):
    reportability_decide(incident_id=incident.pk, regimes=[regime("nis2-23")], reason="Significant", actor=commander)
    early, notification, final = (
        step(incident, "nis2-23", "early-warning"),
        step(incident, "nis2-23", "notification"),
        step(incident, "nis2-23", "final-report"),
    )
    assert early.deadline == utc(2026, 6, 2, 8, 0)  # Art. 23(4)(a): 24 hours from awareness
    assert notification.deadline == utc(2026, 6, 4, 8, 0)  # Art. 23(4)(b): 72 hours from awareness
    assert final.deadline is None  # Art. 23(4)(d): counts from the notification's submission

    at(utc(2026, 6, 1, 20, 0))
    obligation_submit(obligation_id=early.pk, submitted_to="CSIRT", reference="EW-1", actor=commander)
    at(utc(2026, 6, 3, 9, 0))
    obligation_submit(obligation_id=notification.pk, submitted_to="CSIRT", reference="N-1", actor=commander)
    final.refresh_from_db()
    assert final.deadline == utc(2026, 7, 3, 9, 0)  # Art. 23(4)(d): one month after the notification
    assert final.reminders.filter(key="overdue").exists()

    at(utc(2026, 6, 10, 9, 0))  # Art. 23(4)(c): the CSIRT asks for an intermediate report by 15 June
    intermediate = obligation_request(
        obligation_id=notification.pk,
        requested_by="National CSIRT",
        due_at=utc(2026, 6, 15, 15, 0),
        actor=commander,
    )
    assert intermediate.rule.code == "intermediate-report" and intermediate.deadline == utc(2026, 6, 15, 15, 0)
    assert intermediate.reminders.exists() and intermediate.follows == notification
    at(utc(2026, 6, 14, 9, 0))
    obligation_submit(obligation_id=intermediate.pk, submitted_to="", reference="IR-1", actor=commander)

    at(utc(2026, 7, 2, 9, 0))  # Art. 23(4)(e): still ongoing when the final report is due
    obligation_submit(obligation_id=final.pk, submitted_to="", reference="P-1", is_ongoing=True, actor=commander)
    final.refresh_from_db()
    assert final.submitted_as.startswith("progress report")
    after = step(incident, "nis2-23", "final-report-after-handling")
    assert after.follows == final and after.deadline is None  # counts from the handling of the incident

    at(utc(2026, 7, 20, 9, 0))
    obligation_start_clock(
        obligation_id=after.pk, at=utc(2026, 7, 20, 8, 0), evidence="Fix verified in production", actor=commander
    )
    after.refresh_from_db()
    assert after.deadline == utc(2026, 8, 20, 8, 0)  # Art. 23(4)(e): one month after the handling
    obligation_submit(obligation_id=after.pk, submitted_to="", reference="F-1", actor=commander)
    states = set(RegulatoryObligation.objects.filter(incident=incident).values_list("state", flat=True))
    assert states == {ObligationState.SUBMITTED}


def test_waiving_the_nis2_notification_leaves_the_final_report_with_a_clock(incident, commander, legal, at):
    reportability_decide(incident_id=incident.pk, regimes=[regime("nis2-23")], reason="Significant", actor=commander)
    at(utc(2026, 6, 2, 10, 0))
    notification = step(incident, "nis2-23", "notification")
    obligation_waive(
        obligation_id=notification.pk, reason="The early warning carried all of it (CSIRT agreed)", actor=legal
    )
    final = step(incident, "nis2-23", "final-report")
    # Art. 23(4)(d) counts from the notification; waived, it counts from the waiver (12:00 CEST), one month on
    assert final.clock_started_at == utc(2026, 6, 2, 10, 0) and final.deadline == utc(2026, 7, 2, 10, 0)
    assert "waived" in final.clock_basis and final.reminders.exists()


def test_a_late_waiver_counts_from_the_notifications_own_deadline(incident, commander, legal, at):
    reportability_decide(incident_id=incident.pk, regimes=[regime("nis2-23")], reason="Significant", actor=commander)
    at(utc(2026, 6, 10, 10, 0))  # waived after its 72 hours had run out
    obligation_waive(obligation_id=step(incident, "nis2-23", "notification").pk, reason="Merged", actor=legal)
    final = step(incident, "nis2-23", "final-report")
    assert final.clock_started_at == utc(2026, 6, 4, 8, 0)  # the earlier of waiver and deadline
    assert final.deadline == utc(2026, 7, 4, 8, 0)  # Art. 23(4)(d): one month


def test_only_a_final_report_is_sent_as_a_progress_report(incident, commander):
    reportability_decide(incident_id=incident.pk, regimes=[regime("nis2-23")], reason="Significant", actor=commander)
    with pytest.raises(ValidationError, match="progress report"):
        obligation_submit(
            obligation_id=step(incident, "nis2-23", "early-warning").pk,
            submitted_to="CSIRT",
            reference="x",
            is_ongoing=True,
            actor=commander,
        )


# --- AI Act Art. 73(5), GDPR Art. 33(4), Form 8-K/A, SB 53 --------------------------------------------

CHAINS = [
    # (regime, first rule, follow-up rule, submitted at, expected follow-up deadline, the law)
    (
        "eu-ai-act-73",
        "report",
        "complete-report",
        utc(2026, 6, 5, 8, 0),
        utc(2026, 6, 20, 8, 0),
        "AI Act Art. 73(5): an incomplete initial report, then a complete one (internal target: 15 days)",
    ),
    (
        "gdpr-33",
        "notification",
        "further-information",
        utc(2026, 6, 3, 8, 0),
        utc(2026, 6, 10, 8, 0),
        "GDPR Art. 33(4): information in phases without undue further delay (internal target: 7 days)",
    ),
]


@pytest.mark.parametrize("regime_code,first,follow_up,sent_at,expected,law", CHAINS)
def test_an_incomplete_report_opens_the_next_one(
    incident, commander, at, regime_code, first, follow_up, sent_at, expected, law
):
    reportability_decide(incident_id=incident.pk, regimes=[regime(regime_code)], reason="Reportable", actor=commander)
    at(sent_at)
    obligation_submit(
        obligation_id=step(incident, regime_code, first).pk,
        submitted_to="",
        reference="R-1",
        is_incomplete=True,
        actor=commander,
    )
    nxt = step(incident, regime_code, follow_up)
    assert nxt.deadline == expected, law
    assert nxt.is_target and nxt.follows.rule.code == first and nxt.reminders.exists()


def test_gdpr_phases_repeat_while_each_is_incomplete(incident, commander, at):
    reportability_decide(incident_id=incident.pk, regimes=[regime("gdpr-33")], reason="Leak", actor=commander)
    at(utc(2026, 6, 3, 8, 0))
    obligation_submit(
        obligation_id=step(incident, "gdpr-33", "notification").pk,
        submitted_to="DPC",
        reference="B-1",
        is_incomplete=True,
        actor=commander,
    )
    at(utc(2026, 6, 6, 8, 0))
    (phase,) = steps(incident, "gdpr-33", "further-information")
    obligation_submit(obligation_id=phase.pk, submitted_to="", reference="B-2", is_incomplete=True, actor=commander)
    first, second = steps(incident, "gdpr-33", "further-information")
    assert (first.sequence, second.sequence) == (1, 2) and second.follows == first
    assert second.deadline == utc(2026, 6, 13, 8, 0)  # Art. 33(4): 7 days from the previous phase (target)
    assert (
        second.step_name.endswith("(2)")
        and second.recipient == first.recipient == "Lead supervisory authority (Art. 55/56)"
    )


def test_form_8k_amendment_counts_from_when_the_information_is_determined(incident, commander, at):
    at(MATERIAL + timedelta(hours=1))
    reportability_decide(
        incident_id=incident.pk,
        regimes=[regime("sec-8k-105")],
        reason="Material",
        triggers={"materiality": (MATERIAL, "Committee minutes")},
        actor=commander,
    )
    at(utc(2026, 6, 8, 15, 0))
    obligation_submit(
        obligation_id=step(incident, "sec-8k-105", "8k").pk,
        submitted_to="SEC (EDGAR)",
        reference="0001-26-000001",
        is_incomplete=True,
        actor=commander,
    )
    amendment = step(incident, "sec-8k-105", "8k-a")
    assert amendment.deadline is None  # Item 1.05 Instruction 2: counts from the determination of the information
    at(utc(2026, 7, 6, 12, 0))
    obligation_start_clock(
        obligation_id=amendment.pk,
        at=utc(2026, 7, 2, 14, 0),
        evidence="Forensics report on the scope, 2 July",
        actor=commander,
    )
    amendment.refresh_from_db()
    # Thu 2 July 10:00 EDT; Fri 3 July is Independence Day observed: Mon 6, Tue 7, Wed 8, Thu 9 at 17:30 EDT
    assert amendment.deadline == utc(2026, 7, 9, 21, 30)


def test_sb53_report_goes_to_oes_the_imminent_risk_disclosure_to_an_appropriate_authority(incident, commander):
    sb53 = regime("ca-sb53")
    assert "frontier developer" in sb53.clock_start_note and "not only to large" in sb53.clock_start_note
    imminent = DeadlineRule.objects.get(regime=sb53, code="imminent-risk")
    reportability_decide(
        incident_id=incident.pk, regimes=[sb53], variants=[imminent], reason="Critical safety incident", actor=commander
    )
    report, disclosure = step(incident, "ca-sb53", "report"), step(incident, "ca-sb53", "imminent-risk")
    assert report.recipient == "California Office of Emergency Services"
    assert "law enforcement or public safety agency" in disclosure.recipient
    assert "Office of Emergency Services" not in disclosure.recipient + imminent.citation
    assert report.deadline == utc(2026, 6, 16, 8, 0)  # § 22757.13(c)(1): 15 days of discovery (01:00 PDT)
    assert disclosure.deadline == utc(2026, 6, 2, 8, 0)  # § 22757.13(c)(2): 24 hours


def test_an_sb53_report_can_be_amended_without_a_deadline(incident, commander, at):
    reportability_decide(incident_id=incident.pk, regimes=[regime("ca-sb53")], reason="Critical", actor=commander)
    report = step(incident, "ca-sb53", "report")
    with pytest.raises(ValidationError, match="sent can be amended"):
        obligation_amend(obligation_id=report.pk, reason="More", actor=commander)
    at(utc(2026, 6, 10, 8, 0))
    obligation_submit(obligation_id=report.pk, submitted_to="", reference="OES-1", actor=commander)
    amended = obligation_amend(obligation_id=report.pk, reason="Root cause found after filing", actor=commander)
    assert amended.rule.code == "amended-report" and amended.deadline is None  # § 22757.13(c)(3): "may file"
    assert amended.follows == report and "Root cause found" in amended.clock_basis


def test_a_step_has_its_own_pdf_with_its_legal_basis_and_the_chain(client, incident, commander, at):
    reportability_decide(incident_id=incident.pk, regimes=[regime("nis2-23")], reason="Significant", actor=commander)
    at(utc(2026, 6, 3, 9, 0))
    notification = step(incident, "nis2-23", "notification")
    obligation_submit(obligation_id=notification.pk, submitted_to="CSIRT", reference="N-1", actor=commander)
    final = step(incident, "nis2-23", "final-report")
    client.force_login(commander)
    url = reverse("regulator-pdf", args=[incident.pk, "nis2-23"])
    response = client.get(url, {"step": final.pk})
    assert response.status_code == 200
    text = " ".join(text_of(response.content).split())
    assert "Final report (one month after the notification)" in text
    assert "Art. 23(4)(d)" in text and "2026-07-03 09:00 UTC" in text
    assert "Follows Incident notification (72 hours), submitted 2026-06-03 09:00 UTC, reference N-1" in text
    assert "Early warning (24 hours)" in text  # the chain under the regime
    assert client.get(url, {"step": "x"}).status_code == 400
    assert client.get(url, {"step": 999999}).status_code == 404
    other = reverse("admin:incidents_regulatoryobligation_change", args=[final.pk])
    assert f"{url}?step={final.pk}" in client.get(other).content.decode()


def test_the_obligation_page_records_requests_clock_events_and_amendments(client, incident, commander, at):
    at(utc(2026, 6, 3, 9, 0))
    reportability_decide(
        incident_id=incident.pk,
        regimes=[regime("nis2-23"), regime("ca-sb53"), regime("sec-8k-105")],
        reason="All three",
        triggers={"materiality": (AWARE + timedelta(hours=2), "Committee minutes")},
        actor=commander,
    )
    client.force_login(commander)

    def act(obligation, action, data):
        url = reverse("admin:incidents_regulatoryobligation_action", args=[obligation.pk, action])
        return client.post(url, data, follow=True)

    notification = step(incident, "nis2-23", "notification")
    page = client.get(reverse("admin:incidents_regulatoryobligation_change", args=[notification.pk])).content.decode()
    assert 'id="obligation-request"' in page and 'name="is_incomplete"' not in page  # NIS2: nothing follows incomplete
    act(notification, "request", {"requested_by": "CSIRT", "due_at": "2026-06-08 12:00"})
    assert step(incident, "nis2-23", "intermediate-report").deadline == utc(2026, 6, 8, 12, 0)  # Art. 23(4)(c)

    eight_k = step(incident, "sec-8k-105", "8k")
    act(eight_k, "submit", {"submitted_to": "SEC", "reference": "0001", "is_incomplete": "on"})
    amendment = step(incident, "sec-8k-105", "8k-a")
    act(amendment, "clock", {"at": "2026-06-03 08:00", "evidence": "Scope determined by forensics"})
    amendment.refresh_from_db()
    # Wed 3 June 04:00 EDT + 4 business days: Thu 4, Fri 5, Mon 8, Tue 9 June at 17:30 EDT (Instruction 2)
    assert amendment.deadline == utc(2026, 6, 9, 21, 30)

    report = step(incident, "ca-sb53", "report")
    act(report, "submit", {"submitted_to": "", "reference": "OES-1"})
    page = client.get(reverse("admin:incidents_regulatoryobligation_change", args=[report.pk])).content.decode()
    assert 'id="obligation-amend"' in page
    act(report, "amend", {"reason": "New facts about the cause"})
    assert step(incident, "ca-sb53", "amended-report").follows == report
