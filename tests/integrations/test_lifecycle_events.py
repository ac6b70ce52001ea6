"""Incident lifecycle events to subscribers: signed JSON through the outbox, never for drills or the
restricted (unless allowed), nothing for an action that rolled back."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.exceptions import ValidationError

from incidents import services
from incidents.channels import event_webhook_secret
from incidents.constants import Category, ContainmentType, DetectionSignal
from incidents.models import Notification
from integrations.models import EventSubscription, LifecycleEvent

ALL = list(LifecycleEvent.values)


@pytest.fixture
def sink():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_port}/fireline", "received": received}
    server.shutdown()
    server.server_close()


def bodies(sink) -> list[dict]:
    return [json.loads(r["body"]) for r in sink["received"]]


def open_incident(commander, feature, **kwargs):
    kwargs.setdefault("title", "Bot said something harmful")
    kwargs.setdefault("category", Category.HARMFUL_OUTPUT)
    return services.incident_open(
        actor=commander, detection_signal=DetectionSignal.USER_REPORT, feature=feature, commander=commander, **kwargs
    )


def test_declared_triaged_contained_reach_the_subscriber_signed(committed, sink, commander, feature):
    subscription = EventSubscription.objects.create(name="status sync", url=sink["url"], events=ALL)
    incident = committed(open_incident, commander, feature)
    committed(services.incident_triage, incident_id=incident.pk, actor=commander)
    committed(
        services.containment_record,
        incident_id=incident.pk,
        action_type=ContainmentType.FEATURE_FLAG_OFF,
        actor=commander,
        description="off",
    )
    events = [b["event"] for b in bodies(sink)]
    assert events == ["incident.declared", "incident.state_changed", "incident.containment_recorded"]
    triaged = bodies(sink)[1]
    assert triaged["change"] == {"from": "detected", "to": "triaged"}
    assert triaged["incident"]["reference"] == incident.reference and triaged["incident"]["severity"] == "SEV3"
    request = sink["received"][1]
    expected = hmac.new(
        event_webhook_secret(subscription.pk).encode(),
        request["headers"]["X-Fireline-Timestamp"].encode() + b"." + request["body"],
        hashlib.sha256,
    ).hexdigest()
    assert request["headers"]["X-Fireline-Signature"].endswith(expected)
    assert request["headers"]["X-Fireline-Event"] == "incident.state_changed"
    assert Notification.objects.filter(channel="event", state="sent").count() == 3


def test_only_the_chosen_events_are_sent(committed, sink, commander, feature):
    EventSubscription.objects.create(name="closures", url=sink["url"], events=[LifecycleEvent.STATE_CHANGED])
    incident = committed(open_incident, commander, feature)
    committed(services.incident_triage, incident_id=incident.pk, actor=commander)
    assert [b["event"] for b in bodies(sink)] == ["incident.state_changed"]


def test_restricted_incidents_go_only_where_allowed_and_drills_nowhere(committed, sink, commander, feature):
    EventSubscription.objects.create(name="public side", url=sink["url"], events=ALL)
    committed(open_incident, commander, feature, category=Category.DATA_LEAK, title="Leak")  # restricted
    committed(open_incident, commander, feature, title="Drill", is_drill=True)
    assert sink["received"] == []
    EventSubscription.objects.create(name="legal side", url=sink["url"], events=ALL, include_restricted=True)
    committed(open_incident, commander, feature, category=Category.DATA_LEAK, title="Another leak")
    assert [b["incident"]["title"] for b in bodies(sink)] == ["Another leak"]


def test_an_action_that_fails_announces_nothing(committed, sink, commander, feature):
    EventSubscription.objects.create(name="all", url=sink["url"], events=ALL)
    incident = committed(open_incident, commander, feature)
    committed(services.incident_triage, incident_id=incident.pk, actor=commander)
    sink["received"].clear()
    with pytest.raises(ValidationError):
        committed(services.incident_contain, incident_id=incident.pk, actor=commander)  # nothing contains it
    assert sink["received"] == []
    assert (
        not Notification.objects.filter(channel="event", subject="incident.state_changed")
        .exclude(body__contains='"to": "triaged"')
        .exists()
    )


def test_a_subscription_must_name_known_events(db):
    for events in ([], ["incident.exploded"]):
        subscription = EventSubscription(name="x", url="https://hooks.example.com/x", events=events)
        with pytest.raises(ValidationError) as caught:
            subscription.full_clean()
        assert "events" in caught.value.message_dict


def test_what_is_sent_matches_the_webhook_in_the_openapi_schema(committed, sink, commander, feature):
    import jsonschema
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    body_schema = schema["webhooks"]["IncidentLifecycleEvent"]["post"]["requestBody"]["content"]["application/json"]
    validator = jsonschema.Draft202012Validator({**body_schema["schema"], "components": schema["components"]})
    EventSubscription.objects.create(name="all", url=sink["url"], events=ALL)
    incident = committed(open_incident, commander, feature)
    committed(services.incident_triage, incident_id=incident.pk, actor=commander)
    committed(
        services.containment_record,
        incident_id=incident.pk,
        action_type=ContainmentType.FEATURE_FLAG_OFF,
        actor=commander,
        description="off",
    )
    assert len(bodies(sink)) == 3
    for body in bodies(sink):
        validator.validate(body)
    validator_errors = list(validator.iter_errors({**bodies(sink)[0], "event": "incident.exploded"}))
    assert validator_errors  # the schema does say something
