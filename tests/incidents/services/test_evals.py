"""Evals prove a fix: the Wilson gate, the permanent bench, regressions that reopen, the harness API."""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from incidents import services
from incidents.constants import IncidentState, TimelineKind
from incidents.models import EvalCase, Notification, wilson_upper_bound
from incidents.services import api_token_create
from incidents.services.evals import evalcase_create, evalcase_retire, evalruns_record, incident_eval_status
from tests.incidents.factories import make_contact


def test_wilson_upper_bound_known_values():
    assert wilson_upper_bound(0, 20) == pytest.approx(0.1611, abs=1e-4)  # zero failures is not zero risk
    assert wilson_upper_bound(1, 100) == pytest.approx(0.0545, abs=1e-4)
    assert wilson_upper_bound(10, 10) == pytest.approx(1.0)
    assert wilson_upper_bound(0, 0) == 1.0


@pytest.fixture
def fixed_incident(open_incident, commander):
    incident = open_incident()  # harmful output, limited: SEV3, threshold 5%
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.incident_investigate_without_containment(incident_id=incident.pk, reason="minor", actor=commander)
    services.incident_update(
        incident_id=incident.pk,
        actor=commander,
        changes={"root_cause_layer": "prompt", "root_cause": "r", "fix_layer": "prompt", "fix_description": "f"},
    )
    return services.incident_mark_fixed(incident_id=incident.pk, actor=commander)


def case_for(incident, actor):
    return evalcase_create(
        feature=incident.feature, input="x", expected_behaviour="y", actor=actor, source_incident=incident
    )


@pytest.mark.parametrize(
    "trials, failures, passes, why",
    [
        (19, 0, False, "19 trials; at least 20 are needed"),
        (20, 0, False, "upper bound 16.1% is over the 5.0% threshold"),  # zero failures, too few trials to be sure
        (73, 0, True, ""),
        (200, 2, True, ""),
        (200, 5, False, "upper bound 5.7% is over"),
    ],
)
def test_the_wilson_gate(fixed_incident, commander, trials, failures, passes, why):
    case = case_for(fixed_incident, commander)
    evalruns_record(runs=[{"case": case.pk, "trials": trials, "failures": failures}], harness="h")
    [status] = incident_eval_status(fixed_incident)
    assert status.passes is passes and why in status.why_not
    if passes:
        assert services.incident_verify(incident_id=fixed_incident.pk, actor=commander).state == "verified"
    else:
        with pytest.raises(ValidationError) as exc:
            services.incident_verify(incident_id=fixed_incident.pk, actor=commander)
        assert f"EV-{case.pk}" in " ".join(exc.value.messages)


def test_only_the_latest_run_counts_and_every_case_must_pass(fixed_incident, commander):
    a, b = case_for(fixed_incident, commander), case_for(fixed_incident, commander)
    evalruns_record(
        runs=[
            {"case": a.pk, "trials": 100, "failures": 50, "ran_at": "2026-11-01T00:00:00Z"},
            {"case": a.pk, "trials": 500, "failures": 0, "ran_at": "2026-11-02T00:00:00Z"},
        ]
    )
    with pytest.raises(ValidationError, match=f"EV-{b.pk}: no run reported yet"):
        services.incident_verify(incident_id=fixed_incident.pk, actor=commander)
    evalruns_record(runs=[{"case": b.pk, "trials": 500, "failures": 0}])
    services.incident_verify(incident_id=fixed_incident.pk, actor=commander)


def test_cases_are_retired_never_deleted(fixed_incident, commander, viewer, client):
    case = case_for(fixed_incident, commander)
    with pytest.raises(ValidationError):
        evalcase_retire(case_id=case.pk, reason="", actor=commander)
    with pytest.raises(PermissionDenied):
        evalcase_retire(case_id=case.pk, reason="dup", actor=viewer)
    evalcase_retire(case_id=case.pk, reason="duplicate of EV-1", actor=commander)
    case.refresh_from_db()
    assert case.is_retired and case.retired_reason == "duplicate of EV-1"
    client.force_login(commander)
    assert client.get(reverse("admin:incidents_evalcase_delete", args=[case.pk])).status_code == 403
    assert EvalCase.objects.filter(pk=case.pk).exists()
    # a retired case no longer gates the incident
    assert incident_eval_status(fixed_incident) == []


def test_a_later_failing_run_reopens_and_pages_the_commander(fixed_incident, commander):
    make_contact(name="Cmdr", role="engineering_on_call", email="cmdr@example.com", user=commander)
    case = case_for(fixed_incident, commander)
    evalruns_record(runs=[{"case": case.pk, "trials": 500, "failures": 0}])
    services.incident_verify(incident_id=fixed_incident.pk, actor=commander)
    evalruns_record(runs=[{"case": case.pk, "trials": 100, "failures": 30, "model_version": "m-2"}], harness="nightly")
    fixed_incident.refresh_from_db()
    assert fixed_incident.state == IncidentState.INVESTIGATING and fixed_incident.reopen_count == 1
    assert fixed_incident.timeline.filter(kind=TimelineKind.TRANSITION, text__contains="Regression: EV-").exists()
    page = Notification.objects.get(incident=fixed_incident, dedup_key__startswith="regression:")
    assert page.recipient == "cmdr@example.com" and "reopened" in page.subject


def test_a_passing_later_run_does_not_reopen(fixed_incident, commander):
    case = case_for(fixed_incident, commander)
    evalruns_record(runs=[{"case": case.pk, "trials": 500, "failures": 0}])
    services.incident_verify(incident_id=fixed_incident.pk, actor=commander)
    evalruns_record(runs=[{"case": case.pk, "trials": 1000, "failures": 1}])
    fixed_incident.refresh_from_db()
    assert fixed_incident.state == IncidentState.VERIFIED


def test_harness_api_stores_runs_and_exports_the_bench(client, fixed_incident, commander):
    case = case_for(fixed_incident, commander)
    _, token = api_token_create(name="harness", scopes=["evals"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    good = client.post(
        "/api/v1/evals/runs",
        data=json.dumps(
            {
                "harness": "ci",
                "runs": [
                    {
                        "case": case.pk,
                        "trials": 80,
                        "failures": 0,
                        "seeds": [1, 2, 3],
                        "model_version": "m1",
                        "prompt_version": "p9",
                    }
                ],
            }
        ),
        content_type="application/json",
        **auth,
    )
    assert good.status_code == 201 and len(good.json()["stored"]) == 1
    bad = client.post(
        "/api/v1/evals/runs",
        data=json.dumps({"harness": "ci", "runs": [{"case": case.pk, "trials": 5, "failures": 9}]}),
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 400 and "failures" in json.dumps(bad.json()["errors"])
    missing = client.post(
        "/api/v1/evals/runs",
        data=json.dumps({"harness": "ci", "runs": [{"case": 99999, "trials": 5, "failures": 0}]}),
        content_type="application/json",
        **auth,
    )
    assert missing.status_code == 400 and "EV-99999" in json.dumps(missing.json())
    lines = client.get("/api/v1/evals/cases", **auth)
    assert lines["Content-Type"] == "application/x-ndjson"
    [row] = [json.loads(line) for line in lines.content.decode().splitlines()]
    assert row["id"] == case.pk and row["expected_behaviour"] == "y"
    _, other = api_token_create(name="x", scopes=["alerts"])
    assert client.get("/api/v1/evals/cases", HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 403


def test_incident_page_shows_the_gate_the_switch_and_a_layer_mismatch(client, fixed_incident, commander):
    case = case_for(fixed_incident, commander)
    evalruns_record(runs=[{"case": case.pk, "trials": 20, "failures": 0}])
    services.incident_update(incident_id=fixed_incident.pk, actor=commander, changes={"fix_layer": "moderation"})
    client.force_login(commander)
    html = client.get(reverse("admin:incidents_incident_change", args=[fixed_incident.pk])).content.decode()
    assert 'id="evals"' in html and "upper bound 16.1% is over the 5.0% threshold" in html
    assert 'id="layer-mismatch"' in html and "A patch in moderation does not fix a prompt problem" in html
    assert 'id="kill-switch"' in html and ">ON<" in html


def test_sev1_is_contained_in_one_click(client, open_incident, commander, django_capture_on_commit_callbacks):
    incident = open_incident(is_public=True)  # SEV1 harmful output: flag off + fallback
    services.incident_triage(incident_id=incident.pk, actor=commander)
    client.force_login(commander)
    html = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert 'id="contain-now"' in html
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:incidents_incident_contain_now", args=[incident.pk]))
    assert set(incident.containment_actions.values_list("action_type", flat=True)) == {"feature_flag_off", "fallback"}
    incident.feature.kill_switch.refresh_from_db()
    assert incident.feature.kill_switch.is_on is False
    html = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert 'id="contain-now"' not in html and ">OFF<" in html


def test_the_bench_does_not_reveal_restricted_incidents(client, open_incident, commander, db):
    from tests.conftest import fresh
    from tests.incidents.factories import UserFactory

    leak = open_incident(category="data_leak", title="Leaked addresses")
    case = evalcase_create(
        feature=leak.feature,
        input="x",
        expected_behaviour="never shows addresses",
        actor=commander,
        source_incident=leak,
    )
    outsider = fresh(UserFactory(username="other-cmdr", role="Incident Commander"))
    client.force_login(outsider)
    listing = client.get(reverse("admin:incidents_evalcase_changelist")).content.decode()
    assert "never shows addresses" in listing and "restricted" in listing and f"INC-{leak.pk}" not in listing
    page = client.get(reverse("admin:incidents_evalcase_change", args=[case.pk])).content.decode()
    assert "Leaked addresses" not in page and f"INC-{leak.pk}" not in page
    client.force_login(commander)
    assert f"INC-{leak.pk}" in client.get(reverse("admin:incidents_evalcase_change", args=[case.pk])).content.decode()
