import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditRecord
from command.models import QualityMonitor
from command.monitors import quality_monitor_check, signal_read
from command.tasks import check_quality_monitors
from incidents.constants import Category, DetectionSignal
from incidents.models import Alert, AlertPayload, AlertRoutingRule, AlertState, Incident
from tests.audit.factories import audit_records

from .factories import monitor

pytestmark = pytest.mark.django_db


def test_refusal_rate_error_rate_cost_and_latency_are_read_from_the_audit_trail(feature):
    audit_records(feature, 40, blocked=10, errors=4, latency_ms=lambda i: (i + 1) * 10, cost="0.02")
    audit_records(feature, 5, minutes_ago=60)  # outside the window
    now = timezone.now()
    read = {
        signal: signal_read(monitor=monitor(feature, signal=signal, threshold=0.5), now=now)
        for signal in ("refusal_rate", "error_rate", "cost_per_request", "latency_p95")
    }
    assert read["refusal_rate"].value == pytest.approx(0.25) and read["refusal_rate"].sample_size == 40
    assert read["error_rate"].value == pytest.approx(0.1)
    assert read["cost_per_request"].value == pytest.approx(0.02)
    # latencies 10..400 ms: p95 by linear interpolation = 10 + 0.95 * 390
    assert read["latency_p95"].value == pytest.approx(380.5)


def test_a_crossing_raises_exactly_one_alert_through_the_intake_and_opens_one_incident(feature):
    m = monitor(feature, threshold=0.1)
    audit_records(feature, 20, blocked=10)

    assert quality_monitor_check(monitor_id=m.pk) == "fired"
    alert = Alert.objects.get()
    assert alert.integration == "generic" and alert.status == "firing"
    assert alert.fingerprint == f"fireline-quality-monitor-{m.pk}"
    assert alert.labels["ai_feature"] == feature.key and alert.labels["signal"] == "refusal_rate"
    assert AlertPayload.objects.count() == 1  # stored raw first, like any monitor's alert
    incident = Incident.objects.get()
    # routed by the seeded "Refusal-rate spike" rule
    assert incident.feature == feature and incident.category == Category.CAPABILITY_LOSS
    assert incident.detection_signal == DetectionSignal.MONITORING_ALERT

    # still above on the next minutes: nothing more is sent
    assert quality_monitor_check(monitor_id=m.pk) == "firing"
    check_quality_monitors()
    assert Alert.objects.count() == 1 and Incident.objects.count() == 1
    m.refresh_from_db()
    assert m.is_firing and m.last_value == pytest.approx(0.5)


def test_going_back_under_sends_one_resolved_alert_and_a_new_crossing_deduplicates_onto_the_open_incident(feature):
    m = monitor(feature, threshold=0.1)
    audit_records(feature, 20, blocked=10)
    quality_monitor_check(monitor_id=m.pk)
    incident = Incident.objects.get()

    AuditRecord.objects.all().delete()
    audit_records(feature, 20, blocked=0)
    assert quality_monitor_check(monitor_id=m.pk) == "resolved"
    resolved = Alert.objects.get(status="resolved")
    assert resolved.incident == incident and resolved.fingerprint == f"fireline-quality-monitor-{m.pk}"
    assert incident.timeline.filter(text__contains="resolved").exists()
    assert quality_monitor_check(monitor_id=m.pk) == "ok"
    assert Alert.objects.count() == 2

    audit_records(feature, 30, blocked=30)
    assert quality_monitor_check(monitor_id=m.pk) == "fired"
    again = Alert.objects.filter(status="firing").order_by("-pk").first()
    assert again.is_duplicate and again.incident == incident
    assert Incident.objects.count() == 1


def test_too_few_requests_give_no_verdict_and_a_firing_monitor_stays_firing(feature):
    m = monitor(feature, threshold=0.1, min_sample_size=50)
    audit_records(feature, 20, blocked=20)
    assert quality_monitor_check(monitor_id=m.pk) == "too-few"
    assert not Alert.objects.exists()
    m.refresh_from_db()
    assert not m.is_firing and m.last_sample_size == 20


def test_a_disabled_monitor_is_not_checked(feature):
    m = monitor(feature, threshold=0.1, is_enabled=False)
    audit_records(feature, 20, blocked=20)
    assert check_quality_monitors() == {}
    assert quality_monitor_check(monitor_id=m.pk) == "disabled"
    assert not Alert.objects.exists()


def test_without_a_matching_routing_rule_the_alert_lands_in_the_inbox(feature):
    AlertRoutingRule.objects.filter(matchers__signal="latency_spike").delete()
    m = monitor(feature, signal="latency_p95", threshold=200)
    audit_records(feature, 20, latency_ms=500)
    assert quality_monitor_check(monitor_id=m.pk) == "fired"
    assert Alert.objects.get().state == AlertState.INBOX
    assert not Incident.objects.exists()


def test_error_rate_alerts_are_routed_by_the_rule_this_app_seeds(feature):
    m = monitor(feature, signal="error_rate", threshold=0.05)
    audit_records(feature, 20, errors=5)
    quality_monitor_check(monitor_id=m.pk)
    assert Incident.objects.get().category == Category.CAPABILITY_LOSS


def test_a_rate_threshold_above_one_is_refused_with_a_field_error(feature):
    m = QualityMonitor(feature=feature, signal="error_rate", threshold=5, window_minutes=15, min_sample_size=10)
    with pytest.raises(ValidationError) as exc:
        m.full_clean()
    assert "threshold" in exc.value.message_dict


def test_monitors_are_edited_in_the_admin_and_the_edit_is_logged(client, superuser, feature):
    from audit.models import ActionLogEntry

    client.force_login(superuser)
    response = client.post(
        "/admin/command/qualitymonitor/add/",
        {
            "feature": feature.pk,
            "signal": "error_rate",
            "threshold": "0.05",
            "window_minutes": 10,
            "min_sample_size": 20,
            "is_enabled": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    m = QualityMonitor.objects.get()
    assert m.threshold == 0.05
    assert ActionLogEntry.objects.filter(target_type__icontains="qualitymonitor").exists()
    bad = client.post(
        "/admin/command/qualitymonitor/add/",
        {
            "feature": feature.pk,
            "signal": "refusal_rate",
            "threshold": "7",
            "window_minutes": 10,
            "min_sample_size": 20,
        },
    )
    assert bad.status_code == 200 and b"fraction" in bad.content
    assert QualityMonitor.objects.count() == 1


def test_the_beat_schedule_runs_the_check_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["check-quality-monitors"]
    assert entry["task"] == "command.tasks.check_quality_monitors" and entry["schedule"] == 60.0


def test_records_older_than_the_window_do_not_count(feature):
    m = monitor(feature, threshold=0.1, window_minutes=5)
    audit_records(feature, 20, blocked=20, minutes_ago=10)
    audit_records(feature, 20, blocked=0, minutes_ago=1)
    reading = signal_read(monitor=m, now=timezone.now())
    assert reading.sample_size == 20 and reading.value == 0


def test_demo_monitors_are_seeded_once_and_tuned_ones_are_left_alone(feature):
    from command.demo import seed_demo_monitors

    assert seed_demo_monitors(features=[feature]) == 4
    QualityMonitor.objects.filter(signal="error_rate").update(threshold=0.2)
    assert seed_demo_monitors(features=[feature]) == 0
    assert QualityMonitor.objects.get(signal="error_rate").threshold == 0.2
