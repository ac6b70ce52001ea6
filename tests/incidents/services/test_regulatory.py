"""Reportability decisions, obligations (submit / waive), reminders under frozen time, the close guard."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import Category, StakeholderRole
from incidents.models import (
    DeadlineRule,
    DecisionState,
    Incident,
    Notification,
    ObligationState,
    Regime,
    RegulatoryObligation,
    TimelineEntry,
)
from incidents.services.regulatory import (
    obligation_submit,
    obligation_waive,
    regulatory_reminders_due,
    reportability_confirm,
    reportability_decide,
    reportability_reject,
)
from incidents.tasks import regulatory_clock
from tests.incidents.factories import make_contact
from tests.incidents.services.test_incidents import prove_fix, send_required_communications, set_fix

T0 = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)  # Friday 10:00 in Brussels; DST starts on Sunday


def regime(code):
    return Regime.objects.get(code=code)


def variant(regime_code, code):
    return DeadlineRule.objects.get(regime__code=regime_code, code=code)


@pytest.fixture
def legal_contact(db):
    return make_contact(name="Lee Gal", role=StakeholderRole.LEGAL, email="legal@example.com")


@pytest.fixture
def reportable(open_incident, commander, time_machine):
    """An incident detected at T0, with GDPR Art. 33 decided by the commander."""
    time_machine.move_to(T0 + timedelta(minutes=10), tick=False)
    incident = open_incident(detected_at=T0)
    reportability_decide(
        incident_id=incident.pk, regimes=[regime("gdpr-33")], reason="Personal data left the system.", actor=commander
    )
    return incident


def obligation_of(incident, regime_code, rule_code=None):
    qs = RegulatoryObligation.objects.filter(incident=incident, rule__regime__code=regime_code)
    return qs.get(rule__code=rule_code) if rule_code else qs.get()


# --- decisions ------------------------------------------------------------------------------------


def test_a_decision_opens_obligations_with_deadlines_logged_and_on_the_timeline(reportable, commander):
    obligation = obligation_of(reportable, "gdpr-33")
    assert obligation.state == ObligationState.OPEN
    assert obligation.clock_started_at == T0 and obligation.deadline == T0 + timedelta(hours=72)
    assert "Art. 33(1)" in obligation.rule_summary
    decision = obligation.decision
    assert decision.state == DecisionState.CONFIRMED and decision.decided_by == commander
    assert ActionLogEntry.objects.filter(incident=reportable, target_type="incidents.reportabilitydecision").exists()
    assert ActionLogEntry.objects.filter(incident=reportable, target_type="incidents.regulatoryobligation").exists()
    texts = list(TimelineEntry.objects.filter(incident=reportable).values_list("text", flat=True))
    assert any("Reportability decided" in t for t in texts)
    assert any("Regulatory obligation opened" in t and "2026-03-30 09:00 UTC" in t for t in texts)
    assert {r.key for r in obligation.reminders.all()} == {"50%", "80%", "24h-before", "overdue"}


def test_a_variant_replaces_the_ai_act_default_and_sb53_imminent_risk_adds_to_it(open_incident, commander):
    incident = open_incident()
    reportability_decide(
        incident_id=incident.pk,
        regimes=[regime("eu-ai-act-73"), regime("ca-sb53")],
        variants=[variant("eu-ai-act-73", "death"), variant("ca-sb53", "imminent-risk")],
        reason="A user died after following the advice.",
        actor=commander,
    )
    codes = set(incident.regulatory_obligations.values_list("rule__regime__code", "rule__code"))
    assert codes == {("eu-ai-act-73", "death"), ("ca-sb53", "report"), ("ca-sb53", "imminent-risk")}


def test_the_clock_start_can_be_the_materiality_determination(open_incident, commander, time_machine):
    time_machine.move_to(datetime(2026, 11, 26, 12, 0, tzinfo=UTC), tick=False)
    incident = open_incident(detected_at=datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    determined = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
    reportability_decide(
        incident_id=incident.pk,
        regimes=[regime("sec-8k-105")],
        clock_started_at=determined,
        reason="The board found it material.",
        actor=commander,
    )
    assert obligation_of(incident, "sec-8k-105").deadline == datetime(2026, 12, 2, 22, 30, tzinfo=UTC)


def test_a_decision_needs_a_reason_a_regime_and_permission(open_incident, commander, viewer, responder):
    incident = open_incident()
    with pytest.raises(ValidationError, match="why"):
        reportability_decide(incident_id=incident.pk, regimes=[regime("gdpr-33")], reason=" ", actor=commander)
    with pytest.raises(ValidationError, match="at least one"):
        reportability_decide(incident_id=incident.pk, regimes=[], reason="x", actor=commander)
    for user in (viewer, responder):
        with pytest.raises(PermissionDenied):
            reportability_decide(incident_id=incident.pk, regimes=[regime("gdpr-33")], reason="x", actor=user)
    assert not incident.regulatory_obligations.exists()


def test_drills_start_no_clocks(open_incident, commander):
    drill = open_incident(is_drill=True, involves_privacy=True)
    with pytest.raises(ValidationError, match="drill"):
        reportability_decide(incident_id=drill.pk, regimes=[regime("gdpr-33")], reason="practice", actor=commander)
    regulatory_clock()
    assert not drill.regulatory_obligations.exists() and not drill.reportability.exists()


def test_a_second_decision_does_not_restart_a_running_clock(reportable, commander, time_machine):
    time_machine.move_to(T0 + timedelta(hours=5), tick=False)
    reportability_decide(
        incident_id=reportable.pk,
        regimes=[regime("gdpr-33"), regime("nis2-23")],
        reason="It is also a significant incident.",
        actor=commander,
    )
    assert obligation_of(reportable, "gdpr-33").deadline == T0 + timedelta(hours=72)
    assert reportable.regulatory_obligations.count() == 4


# --- privacy proposals --------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"involves_privacy": True}, {"category": Category.DATA_LEAK}])
def test_privacy_incidents_get_gdpr_proposed_once(open_incident, kwargs):
    incident = open_incident(**kwargs)
    other = open_incident()
    assert regulatory_clock()["proposed"] == 1
    decision = incident.reportability.get()
    assert decision.state == DecisionState.PROPOSED and decision.decided_by is None
    codes = set(incident.regulatory_obligations.values_list("rule__regime__code", flat=True))
    assert codes == {"gdpr-33", "gdpr-34"}
    gdpr33 = obligation_of(incident, "gdpr-33")
    assert gdpr33.state == ObligationState.OPEN and gdpr33.deadline == incident.detected_at + timedelta(hours=72)
    assert obligation_of(incident, "gdpr-34").is_target
    assert regulatory_clock()["proposed"] == 0
    assert not other.reportability.exists()


def test_legal_confirms_a_proposal_and_others_cannot(open_incident, legal, commander, viewer):
    incident = open_incident(involves_privacy=True)
    regulatory_clock()
    decision = incident.reportability.get()
    for user in (commander, viewer):
        with pytest.raises(PermissionDenied):
            reportability_confirm(decision_id=decision.pk, actor=user)
    reportability_confirm(decision_id=decision.pk, actor=legal)
    decision.refresh_from_db()
    assert decision.state == DecisionState.CONFIRMED and decision.reviewed_by == legal


def test_legal_rejects_a_proposal_with_a_reason_and_its_obligations_are_waived(open_incident, legal):
    incident = open_incident(involves_privacy=True)
    regulatory_clock()
    decision = incident.reportability.get()
    with pytest.raises(ValidationError):
        reportability_reject(decision_id=decision.pk, reason="", actor=legal)
    reportability_reject(decision_id=decision.pk, reason="Only synthetic test data was exposed.", actor=legal)
    assert set(incident.regulatory_obligations.values_list("state", flat=True)) == {ObligationState.WAIVED}
    assert regulatory_clock()["proposed"] == 0  # Legal's word stands: no new proposal


# --- submit and waive ---------------------------------------------------------------------------


def test_submit_records_when_to_whom_reference_and_the_exact_file_with_its_hash(
    reportable, commander, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    obligation = obligation_of(reportable, "gdpr-33")
    content = b"%PDF-1.7 the report as sent"
    sent_at = T0 + timedelta(minutes=5)
    obligation_submit(
        obligation_id=obligation.pk,
        submitted_to="Berlin DPA",
        reference="BlnBDI-2026-0042",
        submitted_at=sent_at,
        report_file=SimpleUploadedFile("report.pdf", content, content_type="application/pdf"),
        actor=commander,
    )
    obligation.refresh_from_db()
    assert obligation.state == ObligationState.SUBMITTED
    assert (obligation.submitted_at, obligation.submitted_to, obligation.submission_reference) == (
        sent_at,
        "Berlin DPA",
        "BlnBDI-2026-0042",
    )
    assert obligation.report_sha256 == hashlib.sha256(content).hexdigest()
    assert obligation.report_file.path.startswith(str(tmp_path))
    with obligation.report_file.open("rb") as stored:
        assert stored.read() == content
    entry = ActionLogEntry.objects.get(target_id=str(obligation.pk), verb="transition:submit")
    assert entry.after["report_sha256"] == obligation.report_sha256
    assert TimelineEntry.objects.filter(incident=reportable, text__contains="BlnBDI-2026-0042").exists()
    with pytest.raises(ValidationError, match="submitted already"):
        obligation_submit(obligation_id=obligation.pk, submitted_to="x", reference="", actor=commander)


def test_viewers_and_responders_cannot_submit(reportable, viewer, responder):
    obligation = obligation_of(reportable, "gdpr-33")
    for user in (viewer, responder):
        with pytest.raises(PermissionDenied):
            obligation_submit(obligation_id=obligation.pk, submitted_to="DPA", reference="1", actor=user)
    assert RegulatoryObligation.objects.get(pk=obligation.pk).state == ObligationState.OPEN


def test_only_legal_waives_and_only_with_a_reason(reportable, viewer, responder, commander, legal):
    obligation = obligation_of(reportable, "gdpr-33")
    for user in (viewer, responder, commander):
        with pytest.raises(PermissionDenied, match="Legal"):
            obligation_waive(obligation_id=obligation.pk, reason="not personal data", actor=user)
    with pytest.raises(ValidationError, match="reason"):
        obligation_waive(obligation_id=obligation.pk, reason="  ", actor=legal)
    obligation_waive(obligation_id=obligation.pk, reason="Art. 33(1): unlikely to result in a risk", actor=legal)
    obligation.refresh_from_db()
    assert obligation.state == ObligationState.WAIVED and obligation.waived_by == legal
    assert ActionLogEntry.objects.filter(target_id=str(obligation.pk), verb="transition:waive").exists()
    assert TimelineEntry.objects.filter(incident=reportable, text__startswith="Regulatory obligation waived").exists()


def test_the_waive_permission_belongs_to_legal_only(roles):
    holders = {name for name, group in roles.items() if group.permissions.filter(codename="waive_regulatoryobligation")}
    assert holders == {"Legal"}


def test_state_cannot_be_set_directly(reportable):
    obligation = obligation_of(reportable, "gdpr-33")
    with pytest.raises(AttributeError):
        obligation.state = ObligationState.SUBMITTED


def test_nis2_final_report_clock_starts_when_the_notification_is_submitted(open_incident, commander, time_machine):
    time_machine.move_to(T0 + timedelta(hours=1), tick=False)
    incident = open_incident(detected_at=T0)
    reportability_decide(incident_id=incident.pk, regimes=[regime("nis2-23")], reason="Significant.", actor=commander)
    final = obligation_of(incident, "nis2-23", "final-report")
    assert final.deadline is None and not final.reminders.exists()
    time_machine.move_to(T0 + timedelta(hours=30), tick=False)
    notification = obligation_of(incident, "nis2-23", "notification")
    obligation_submit(obligation_id=notification.pk, submitted_to="CSIRT", reference="N-1", actor=commander)
    final.refresh_from_db()
    assert final.clock_started_at == T0 + timedelta(hours=30)
    # 16:00 CET in Brussels; a month later the same wall time is 16:00 CEST, i.e. 14:00 UTC
    assert final.deadline == datetime(2026, 4, 28, 14, 0, tzinfo=UTC)
    assert final.reminders.filter(key="overdue").exists()


# --- reminders under frozen time ----------------------------------------------------------------


def reminders_sent(incident):
    return sorted(
        Notification.objects.filter(incident=incident, dedup_key__startswith="reg:").values_list("dedup_key", flat=True)
    )


def test_reminders_at_the_right_times_sent_once_to_legal_and_the_commander(reportable, legal_contact, time_machine):
    obligation = obligation_of(reportable, "gdpr-33")
    time_machine.move_to(T0 + timedelta(hours=35, minutes=59), tick=False)
    regulatory_clock()
    assert reminders_sent(reportable) == []

    time_machine.move_to(T0 + timedelta(hours=36), tick=False)  # 50%
    assert regulatory_clock()["reminded"] == 2
    assert regulatory_clock()["reminded"] == 0  # twice: sent once
    sent = Notification.objects.filter(incident=reportable, dedup_key__startswith=f"reg:{obligation.pk}:50%")
    assert {n.recipient for n in sent} == {"legal@example.com", "cmdr@example.com"}
    assert all("due in 36h" in n.subject for n in sent)

    time_machine.move_to(T0 + timedelta(hours=48), tick=False)  # 24 hours before
    regulatory_clock()
    time_machine.move_to(T0 + timedelta(hours=57, minutes=36), tick=False)  # 80%
    regulatory_clock()
    time_machine.move_to(T0 + timedelta(hours=72), tick=False)  # overdue
    regulatory_clock()
    regulatory_clock()
    keys = reminders_sent(reportable)
    assert len(keys) == 8
    assert [k.split(":")[2] for k in keys[::2]] == ["24h-before", "50%", "80%", "overdue"]
    overdue = Notification.objects.get(dedup_key=f"reg:{obligation.pk}:overdue:c{legal_contact.pk}")
    assert overdue.subject.startswith("OVERDUE")
    assert TimelineEntry.objects.filter(incident=reportable, text__startswith="Regulatory reminder").count() == 4


def test_points_passed_together_send_only_the_latest(reportable, legal_contact, time_machine):
    time_machine.move_to(T0 + timedelta(hours=73), tick=False)
    regulatory_clock()
    obligation = obligation_of(reportable, "gdpr-33")
    outcomes = dict(obligation.reminders.values_list("key", "outcome"))
    assert outcomes == {"50%": "skipped", "24h-before": "skipped", "80%": "skipped", "overdue": "sent"}
    assert {k.split(":")[2] for k in reminders_sent(reportable)} == {"overdue"}


def test_a_submitted_obligation_is_not_reminded(reportable, legal_contact, commander, time_machine):
    obligation = obligation_of(reportable, "gdpr-33")
    obligation_submit(obligation_id=obligation.pk, submitted_to="DPA", reference="1", actor=commander)
    time_machine.move_to(T0 + timedelta(days=5), tick=False)
    assert regulatory_reminders_due() == 0 and reminders_sent(reportable) == []


def test_a_restricted_incident_title_does_not_leave_in_a_reminder(
    open_incident, commander, legal_contact, time_machine
):
    time_machine.move_to(T0, tick=False)
    incident = open_incident(detected_at=T0, category=Category.DATA_LEAK, title="Leaked Alice's medical records")
    regulatory_clock()
    time_machine.move_to(T0 + timedelta(hours=40), tick=False)
    regulatory_clock()
    bodies = Notification.objects.filter(incident=incident, dedup_key__startswith="reg:")
    assert bodies.exists() and not any("Alice" in n.subject + n.body for n in bodies)


# --- the close guard ------------------------------------------------------------------------------


def test_closing_waits_for_every_obligation(open_incident, commander, legal):
    incident = open_incident(category=Category.CAPABILITY_LOSS)  # SEV4: no post-mortem
    reportability_decide(
        incident_id=incident.pk, regimes=[regime("gdpr-33"), regime("gdpr-34")], reason="x", actor=commander
    )
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.incident_investigate_without_containment(incident_id=incident.pk, reason="minor", actor=commander)
    set_fix(incident, commander)
    services.incident_mark_fixed(incident_id=incident.pk, actor=commander)
    send_required_communications(incident, commander)
    prove_fix(incident, commander)
    services.incident_verify(incident_id=incident.pk, actor=commander)
    incident.refresh_from_db()
    assert "Every regulatory obligation must be submitted or waived first" in " ".join(
        services.transition_blockers(incident, "close")
    )
    with pytest.raises(ValidationError, match="regulatory obligation"):
        services.incident_close(incident_id=incident.pk, actor=commander)
    obligation_submit(
        obligation_id=obligation_of(incident, "gdpr-33").pk, submitted_to="DPA", reference="1", actor=commander
    )
    with pytest.raises(ValidationError, match="regulatory obligation"):
        services.incident_close(incident_id=incident.pk, actor=commander)
    obligation_waive(
        obligation_id=obligation_of(incident, "gdpr-34").pk, reason="Art. 34(3)(a): encrypted", actor=legal
    )
    assert services.incident_close(incident_id=incident.pk, actor=commander).state == "closed"


# --- admin --------------------------------------------------------------------------------------


def said(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_incident_page_card_decides_submits_and_waives(client, open_incident, commander, legal, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    incident = open_incident()
    client.force_login(commander)
    page = reverse("admin:incidents_incident_change", args=[incident.pk])
    assert 'id="reportability-form"' in client.get(page).content.decode()
    response = client.post(
        reverse("admin:incidents_incident_reg_decide", args=[incident.pk]),
        {"regimes": [regime("gdpr-33").pk, regime("gdpr-34").pk], "reason": "Emails leaked", "clock_started_at": ""},
    )
    assert any("clocks are running" in m for m in said(response)), said(response)
    html = client.get(page).content.decode()
    assert "Breach notification (72 hours)" in html and "internal target, not a legal deadline" in html
    gdpr33, gdpr34 = obligation_of(incident, "gdpr-33"), obligation_of(incident, "gdpr-34")
    url = reverse("admin:incidents_incident_reg_obligation", args=[incident.pk, gdpr33.pk, "submit"])
    client.post(url, {"submitted_to": "DPA", "reference": "R-1", "report_file": SimpleUploadedFile("r.pdf", b"pdf")})
    assert RegulatoryObligation.objects.get(pk=gdpr33.pk).state == ObligationState.SUBMITTED
    waive = reverse("admin:incidents_incident_reg_obligation", args=[incident.pk, gdpr34.pk, "waive"])
    response = client.post(waive, {"reason": "low risk"})
    assert any("Only Legal" in m for m in said(response))
    client.force_login(legal)
    client.post(waive, {"reason": "Art. 34(3)(a): the data was encrypted"})
    assert RegulatoryObligation.objects.get(pk=gdpr34.pk).state == ObligationState.WAIVED


def test_deadlines_show_in_the_readers_time_zone(client, reportable, commander):
    make_contact(
        name="Cmdr",
        role=StakeholderRole.ENGINEERING_ON_CALL,
        email="c@example.com",
        user=commander,
        time_zone="Europe/Berlin",
    )
    client.force_login(commander)
    html = client.get(reverse("admin:incidents_incident_change", args=[reportable.pk])).content.decode()
    assert "2026-03-30 11:00 CEST" in html  # 09:00 UTC in the database


def test_obligation_list_marks_overdue_in_red_with_bounded_queries(
    client, open_incident, commander, legal, time_machine, django_assert_max_num_queries
):
    time_machine.move_to(T0, tick=False)
    for _ in range(3):
        incident = open_incident(detected_at=T0)
        reportability_decide(
            incident_id=incident.pk, regimes=[regime("gdpr-33"), regime("nis2-23")], reason="x", actor=commander
        )
    time_machine.move_to(T0 + timedelta(hours=30), tick=False)
    client.force_login(legal)
    with django_assert_max_num_queries(15):
        response = client.get(reverse("admin:incidents_regulatoryobligation_changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="fl-overdue"') == 6  # the 24-hour early warnings, deadline and time left
    assert "overdue by 6h 00m" in html and "1d 18h left" in html
    overdue = client.get(reverse("admin:incidents_regulatoryobligation_changelist") + "?due=overdue")
    assert overdue.context["cl"].result_count == 3


def test_obligation_admin_waive_button_and_restricted_incidents_hidden(client, open_incident, commander, legal, viewer):
    incident = open_incident(category=Category.DATA_LEAK)  # restricted
    regulatory_clock()
    obligation = obligation_of(incident, "gdpr-34")
    client.force_login(viewer)
    assert client.get(reverse("admin:incidents_regulatoryobligation_changelist")).context["cl"].result_count == 0
    client.force_login(legal)
    change = reverse("admin:incidents_regulatoryobligation_change", args=[obligation.pk])
    assert "Waive (Legal)" in client.get(change).content.decode()
    client.post(
        reverse("admin:incidents_regulatoryobligation_action", args=[obligation.pk, "waive"]),
        {"reason": "No high risk: Art. 34(1) not met"},
    )
    assert RegulatoryObligation.objects.get(pk=obligation.pk).state == ObligationState.WAIVED
    assert Incident.objects.get(pk=incident.pk).is_restricted


def test_regimes_are_editable_in_the_admin_by_legal(client, legal):
    client.force_login(legal)
    gdpr = regime("gdpr-33")
    response = client.get(reverse("admin:incidents_regime_change", args=[gdpr.pk]))
    assert response.status_code == 200 and "Art. 33(1)" in response.content.decode()


@pytest.mark.parametrize("regime_codes", [["gdpr-33"], ["gdpr-33", "gdpr-34", "nis2-23", "eu-ai-act-73", "ca-sb53"]])
def test_incident_page_card_runs_a_fixed_number_of_queries(
    client, open_incident, commander, regime_codes, django_assert_max_num_queries
):
    incident = open_incident()
    for code in regime_codes:
        reportability_decide(incident_id=incident.pk, regimes=[regime(code)], reason=code, actor=commander)
    client.force_login(commander)
    # the page's own reads (the paging warning asks the on-call schedules once), obligations, decisions, regimes, zone
    with django_assert_max_num_queries(41):
        response = client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))
    assert response.status_code == 200
    assert response.content.decode().count("data-obligation=") == incident.regulatory_obligations.count()
