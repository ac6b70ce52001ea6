"""Metrics on a hand-built set of incidents whose medians and p90s are worked out below by hand.

Percentiles interpolate linearly between closest ranks (PostgreSQL's percentile_cont): for sorted
values v0..v(n-1), the p-th is at position (n-1)*p.
"""

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from command.metrics import DURATIONS, MetricsFilterError, detection_shares_get, metrics_csv_rows, metrics_get
from incidents.constants import Category, DetectionSignal, IncidentState, Severity
from incidents.models import ActionItem, ActionItemSource, EvalCase, Incident
from tests.incidents.factories import AIFeatureFactory, IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
Q4 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
Q3 = datetime(2026, 8, 3, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
S = DetectionSignal


def make(feature, detected, *, detect, signal, severity, category, contain=None, fix=None, close=None, **kw):
    return IncidentFactory(
        feature=feature,
        detected_at=detected,
        occurred_at=detected - detect * M,
        contained_at=detected + contain * M if contain is not None else None,
        fixed_at=detected + fix * M if fix is not None else None,
        closed_at=detected + close * M if close is not None else None,
        detection_signal=signal,
        severity=severity,
        category=category,
        state=IncidentState.CLOSED if close is not None else IncidentState.INVESTIGATING,
        **kw,
    )


@pytest.fixture
def world(commander):
    feature = AIFeatureFactory(key="support-bot")
    other = AIFeatureFactory(key="search")
    H, D, F = Category.HARMFUL_OUTPUT, Category.DATA_LEAK, Category.FACTUAL_MISINFORMATION
    a = make(
        feature, Q4, detect=10, signal=S.MONITORING_ALERT, severity="SEV1", category=H, contain=30, fix=120, close=600
    )
    make(feature, Q4 + M, detect=20, signal=S.MONITORING_ALERT, severity="SEV2", category=H, contain=60, fix=240)
    make(feature, Q4 + 2 * M, detect=60, signal=S.USER_REPORT, severity="SEV2", category=D, contain=90)
    # reported by a user, but it was public before Fireline knew
    make(feature, Q4 + 3 * M, detect=120, signal=S.USER_REPORT, severity="SEV3", category=F, went_public_at=Q4)
    make(
        feature,
        Q4 + 4 * M,
        detect=240,
        signal=S.EXTERNAL_ATTENTION,
        severity="SEV1",
        category=H,
        contain=30,
        recurrence_of=a,
    )
    make(
        other,
        Q3,
        detect=30,
        signal=S.INTERNAL_DISCOVERY,
        severity="SEV4",
        category=Category.SCALE_DEGRADATION,
        contain=120,
    )
    # a drill: never counted, whatever its numbers
    drill = make(
        feature,
        Q4,
        detect=1,
        signal=S.MONITORING_ALERT,
        severity="SEV1",
        category=H,
        contain=1,
        fix=1,
        close=1,
        is_drill=True,
    )
    # restricted, commanded by someone else: only insiders count it
    hidden = make(
        feature,
        Q4,
        detect=5,
        signal=S.MONITORING_ALERT,
        severity="SEV1",
        category=D,
        contain=5,
        is_restricted=True,
        commander=commander,
    )
    owner = UserFactory(username="owner")
    ActionItem.objects.create(incident=a, title="Add eval", kind="prevent", owner=owner, due_date=date(2026, 11, 1))
    ActionItem.objects.create(incident=a, title="Later", kind="detect", owner=owner, due_date=date(2026, 12, 24))
    ActionItem.objects.create(
        incident=drill,
        title="Drill gap",
        kind="process",
        owner=owner,
        due_date=date(2026, 11, 1),
        source=ActionItemSource.DRILL,
    )
    ActionItem.objects.create(incident=hidden, title="Secret", kind="process", owner=owner, due_date=date(2026, 11, 1))
    for when, feat in ((datetime(2024, 5, 1, tzinfo=UTC), feature), (Q3, feature), (Q4, feature), (Q4, other)):
        case = EvalCase.objects.create(feature=feat, input="x", expected_behaviour="y")
        EvalCase.objects.filter(pk=case.pk).update(created_at=when)
    return {"feature": feature, "other": other}


def minutes(value):
    return value.total_seconds() / 60 if value is not None else None


def test_durations_medians_and_p90_match_the_hand_computed_answers(world, viewer):
    m = metrics_get(user=viewer, now=NOW)
    assert m.total == 6  # five in Q4, one in Q3; drill and restricted left out
    # detect: 10 20 30 60 120 240 -> median (30+60)/2 = 45; p90 at 4.5 -> 120 + 0.5*120 = 180
    assert minutes(m.durations["detect"].median) == pytest.approx(45)
    assert minutes(m.durations["detect"].p90) == pytest.approx(180)
    # contain: 30 30 60 90 120 -> median 60; p90 at 3.6 -> 90 + 0.6*30 = 108
    assert minutes(m.durations["contain"].median) == pytest.approx(60)
    assert minutes(m.durations["contain"].p90) == pytest.approx(108)
    assert m.durations["contain"].count == 5
    # fix: 120 240 -> median 180; p90 at 0.9 -> 120 + 0.9*120 = 228
    assert minutes(m.durations["fix"].median) == pytest.approx(180)
    assert minutes(m.durations["fix"].p90) == pytest.approx(228)
    assert minutes(m.durations["close"].median) == pytest.approx(600)


def test_time_to_detect_by_signal(world, viewer):
    m = metrics_get(user=viewer, now=NOW)
    by = m.detect_by_signal
    assert minutes(by[S.MONITORING_ALERT].median) == pytest.approx(15)
    assert minutes(by[S.MONITORING_ALERT].p90) == pytest.approx(19)
    assert minutes(by[S.USER_REPORT].median) == pytest.approx(90)
    assert minutes(by[S.USER_REPORT].p90) == pytest.approx(114)
    assert minutes(by[S.EXTERNAL_ATTENTION].median) == pytest.approx(240)
    assert minutes(by[S.INTERNAL_DISCOVERY].median) == pytest.approx(30)


def test_counts_per_quarter_category_and_severity_found_before_public_and_recurrence(world, viewer):
    m = metrics_get(user=viewer, now=NOW)
    assert m.quarters[0] == "2025-Q1" and m.quarters[-1] == "2026-Q4" and len(m.quarters) == 8
    assert m.per_quarter["2026-Q4"] == {"SEV1": 2, "SEV2": 2, "SEV3": 1, "SEV4": 0, "": 0}
    assert m.per_quarter["2026-Q3"]["SEV4"] == 1
    assert m.per_quarter_category["2026-Q4"][Category.HARMFUL_OUTPUT] == 3
    assert m.by_category_severity[Category.DATA_LEAK]["SEV2"] == 1
    assert m.by_category_severity[Category.DATA_LEAK]["SEV1"] == 0  # the restricted one is not counted
    # own signals A B C F; D was public first; E was external attention
    assert m.found_before_public == 4 and m.found_before_public_share == pytest.approx(4 / 6)
    assert m.recurrences == 1 and m.recurrence_rate == pytest.approx(1 / 6)
    assert m.evals_before == 1 and m.evals_per_quarter["2026-Q3"] == 1 and m.evals_per_quarter["2026-Q4"] == 2
    # open items of real incidents the viewer sees: two, one overdue; the drill's is counted apart
    assert (m.action_items_open, m.action_items_overdue, m.drill_action_items_open) == (2, 1, 1)


def test_drills_are_left_out(world, superuser):
    drill_only = metrics_get(user=superuser, now=NOW)
    assert drill_only.total == 7  # six real + the restricted one the superuser sees; never the drill
    assert Incident.objects.filter(is_drill=True).count() == 1
    assert minutes(drill_only.durations["close"].median) == pytest.approx(600)  # the drill closed in 1 min


def test_restricted_incidents_count_only_for_those_who_may_see_them(world, viewer, superuser, commander):
    assert metrics_get(user=viewer, now=NOW).per_quarter["2026-Q4"]["SEV1"] == 2
    assert metrics_get(user=superuser, now=NOW).per_quarter["2026-Q4"]["SEV1"] == 3
    assert metrics_get(user=commander, now=NOW).per_quarter["2026-Q4"]["SEV1"] == 3
    assert metrics_get(user=viewer, now=NOW).action_items_overdue == 1
    assert metrics_get(user=superuser, now=NOW).action_items_overdue == 2


def test_filters_by_feature_category_and_quarter(world, viewer):
    q4 = metrics_get(user=viewer, quarter="2026-Q4", now=NOW)
    assert q4.quarters == ["2026-Q4"] and q4.total == 5
    # detect in Q4: 10 20 60 120 240 -> median 60
    assert minutes(q4.durations["detect"].median) == pytest.approx(60)
    other = metrics_get(user=viewer, feature=world["other"], now=NOW)
    assert other.total == 1 and other.evals_per_quarter["2026-Q4"] == 1 and other.evals_before == 0
    harmful = metrics_get(user=viewer, category=Category.HARMFUL_OUTPUT, now=NOW)
    assert harmful.total == 3 and harmful.recurrences == 1
    with pytest.raises(MetricsFilterError):
        metrics_get(user=viewer, quarter="2026-Q5", now=NOW)
    with pytest.raises(MetricsFilterError):
        metrics_get(user=viewer, category="nonsense", now=NOW)


def test_metrics_page_shows_charts_and_the_csv_holds_the_numbers(world, client, viewer, time_machine):
    time_machine.move_to(NOW, tick=False)
    client.force_login(viewer)
    page = client.get("/command/metrics/")
    assert page.status_code == 200
    body = page.content.decode()
    assert body.count('role="img"') == 4 and "Incidents per quarter, by severity" in body
    assert "45 min" in body and "3 h 00 min" in body  # detect median and p90
    response = client.get("/command/metrics.csv?quarter=2026-Q4")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "quarter", "key", "subkey", "value"]
    table = {tuple(r[:4]): r[4] for r in rows[1:]}
    assert table[("time_to_detect", "all", "median", "seconds")] == "3600.0"
    assert table[("incidents", "all", "total", "")] == "5"
    assert table[("incidents_by_severity", "2026-Q4", "SEV1", "")] == "2"
    assert table[("recurrence", "all", "count", "")] == "1"


def test_a_bad_filter_is_a_field_error_not_a_crash(world, client, viewer):
    client.force_login(viewer)
    page = client.get("/command/metrics/?quarter=2026-Q9")
    assert page.status_code == 400 and "is not a quarter" in page.content.decode()
    csv_response = client.get("/command/metrics.csv?category=bogus")
    assert csv_response.status_code == 400 and b"category" in csv_response.content


def test_metrics_need_a_staff_login(client):
    response = client.get("/command/metrics/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("who", ["superuser", "viewer"])
def test_metrics_page_query_count_does_not_grow_with_the_data(client, request, who, django_assert_max_num_queries):
    client.force_login(request.getfixturevalue(who))
    feature = AIFeatureFactory()
    for i in range(3):
        make(feature, Q4 + i * M, detect=5, signal=S.USER_REPORT, severity="SEV2", category="data_leak", contain=9)
    with django_assert_max_num_queries(30) as small:
        assert client.get("/command/metrics/").status_code == 200
    for i in range(60):
        make(
            feature,
            Q3 + i * M,
            detect=i,
            signal=S.MONITORING_ALERT,
            severity=f"SEV{1 + i % 4}",
            category=Category.values[i % 6],
            contain=i + 1,
            fix=i + 2,
            close=i + 3,
            is_restricted=i % 5 == 0,
        )
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get("/command/metrics/").status_code == 200
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get("/command/metrics.csv").status_code == 200


def _cells(html: str, label_html: str) -> list[str]:
    """The cells after a row's label cell, as text."""
    row = re.search(rf"<tr><td>{re.escape(label_html)}</td>(.*?)</tr>", html)
    assert row, label_html
    return re.findall(r"<td[^>]*>(?:<b>)?(.*?)(?:</b>)?</td>", row.group(1))


def test_the_page_and_the_csv_show_what_the_selector_computes(world, client, viewer, time_machine):
    time_machine.move_to(NOW, tick=False)
    expected = metrics_get(user=viewer, now=NOW)
    client.force_login(viewer)
    html = client.get("/command/metrics/").content.decode()

    assert f'<div class="cc-tile"><b>{expected.total}</b><span>incidents</span></div>' in html
    for name, (label, _start, _end) in DURATIONS.items():
        p = expected.durations[name]
        assert _cells(html, f"<b>{label}</b>") == [p.median_text, p.p90_text, str(p.count)], name
    for signal in DetectionSignal.values:
        p = expected.detect_by_signal[signal]
        assert _cells(html, DetectionSignal(signal).label) == [p.median_text, p.p90_text, str(p.count)], signal
    for category in Category.values:
        counts = expected.by_category_severity[category]
        shown = _cells(html, Category(category).label)
        assert shown == [str(counts[s]) for s in [*Severity.values, ""]] + [str(sum(counts.values()))], category
    assert sum(int(_cells(html, Category(c).label)[-1]) for c in Category.values) <= expected.total

    response = client.get("/command/metrics.csv")
    buffer = io.StringIO()
    csv.writer(buffer).writerows(metrics_csv_rows(expected))
    assert response.content.decode() == buffer.getvalue()


def test_the_incident_list_shows_the_detection_shares_the_selector_counts(world, client, viewer):
    shares = detection_shares_get(user=viewer)
    assert shares.total == 6  # the restricted incident is hidden, the drill is left out
    assert [(s.label, s.count, s.percent) for s in shares.shares] == [
        ("monitoring", 2, 33),
        ("user reports", 2, 33),
        ("internal", 1, 17),
        ("external attention", 1, 17),
    ]
    client.force_login(viewer)
    html = client.get("/admin/incidents/incident/").content.decode()
    strip = re.search(r'<div class="fl-detection" id="detection-shares">(.*?)</div>', html, re.S).group(1)
    found = " · ".join(f"{s.label} <b>{s.percent}%</b>" for s in shares.shares)
    assert f"Found by {found}" in strip
    assert "of 6 incidents you can see" in strip
    # mean time to detect per signal, where the start is known: (10+20)/2 min, (60+120)/2 min, 30 min, 240 min
    times = "monitoring 15m 00s · user reports 1h 30m · internal 30m 00s · external attention 4h 00m"
    assert times in " ".join(strip.split())
