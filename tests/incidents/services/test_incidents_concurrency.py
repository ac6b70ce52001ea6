"""Two people firing transitions on one incident at once: one wins, the other is told to reload."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import DismissReason
from incidents.models import Incident
from incidents.services import IncidentChanged


def test_second_transition_from_a_stale_page_is_refused(open_incident, commander):
    incident = open_incident()
    seen_by_both = incident.state
    services.incident_triage(incident_id=incident.pk, actor=commander, expected_state=seen_by_both)
    with pytest.raises(IncidentChanged) as exc:
        services.incident_dismiss(
            incident_id=incident.pk, reason=DismissReason.FALSE_ALARM, actor=commander, expected_state=seen_by_both
        )
    assert "changed since you opened it" in exc.value.messages[0]
    incident.refresh_from_db()
    assert incident.state == "triaged"
    assert ActionLogEntry.objects.filter(incident=incident, verb="transition:dismiss").count() == 0


def test_a_stale_instance_cannot_overwrite_a_newer_state(open_incident, commander):
    """The ConcurrentTransitionMixin backs up the row lock: a save from a stale copy fails."""
    from django_fsm import ConcurrentTransition

    incident = open_incident()
    stale = Incident.objects.get(pk=incident.pk)
    services.incident_triage(incident_id=incident.pk, actor=commander)
    stale.dismiss_reason = DismissReason.FALSE_ALARM
    stale.dismiss()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        stale.save()
    assert Incident.objects.get(pk=incident.pk).state == "triaged"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="real row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_threads_racing_one_wins_one_is_told_to_reload(open_incident, commander):
    incident = open_incident()
    barrier = threading.Barrier(2)
    outcomes = []

    def fire(name):
        try:
            barrier.wait(timeout=5)
            if name == "triage":
                services.incident_triage(incident_id=incident.pk, actor=commander, expected_state="detected")
            else:
                services.incident_dismiss(
                    incident_id=incident.pk,
                    reason=DismissReason.FALSE_ALARM,
                    actor=commander,
                    expected_state="detected",
                )
            outcomes.append((name, "ok"))
        except ValidationError as exc:
            outcomes.append((name, exc.messages[0]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=fire, args=(n,)) for n in ("triage", "dismiss")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    results = dict(outcomes)
    assert sorted(results.values()).count("ok") == 1, results
    loser = next(n for n, r in results.items() if r != "ok")
    assert "changed since you opened it" in results[loser]
    winner = next(n for n, r in results.items() if r == "ok")
    assert Incident.objects.get(pk=incident.pk).state == ("triaged" if winner == "triage" else "dismissed")
    assert ActionLogEntry.objects.filter(incident_id=incident.pk, verb__startswith="transition:").count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="real row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_alerts_of_one_group_open_one_incident_and_count_every_alert(feature):
    """Six monitors' payloads of one alert group at once, then six repeats at once: one incident, exact counts."""
    import json

    from incidents.models import Alert
    from incidents.services.alerts import alert_intake
    from tests.incidents.api.test_alerts import firing

    def burst(fingerprints):
        barrier = threading.Barrier(len(fingerprints))
        errors = []

        def send(fp):
            try:
                body = json.dumps(firing(fp, group="race-group")).encode()
                barrier.wait(timeout=10)
                alert_intake(integration="alertmanager", body=body, content_type="application/json")
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=send, args=(fp,)) for fp in fingerprints]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors

    burst([f"race-{n}" for n in range(6)])  # none known yet: each may open, only one may
    assert Incident.objects.count() == 1
    burst([f"race-{n}" for n in range(6)])  # all known and open: the lock-free path
    incident = Incident.objects.get()
    assert Alert.objects.filter(incident=incident).count() == 12
    assert incident.alert_count == 12
    repeats = incident.timeline.filter(text__contains="fired again")
    assert repeats.count() == 1 and repeats.get().text.endswith("(×11)"), [e.text for e in repeats]
