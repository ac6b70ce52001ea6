"""iCalendar: shifts out at a secret per-user URL, read back by icalendar, and imported as a read-only layer."""

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import icalendar
import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from oncall import services
from oncall.calendars import layer_import_ical
from oncall.models import Layer
from oncall.selectors import who_is_on_call
from tests.oncall.factories import make_schedule

NOW = datetime(2026, 3, 5, 12, tzinfo=UTC)


class FeedServer:
    """A calendar server on a local port: serves whatever body and status the test sets."""

    def __init__(self):
        self.body, self.status, self.requests = b"", 200, 0
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server API)
                feed.requests += 1
                self.send_response(feed.status)
                self.send_header("Content-Type", "text/calendar")
                self.send_header("Content-Length", str(len(feed.body)))
                self.end_headers()
                self.wfile.write(feed.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/team.ics"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed_server():
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def rotation(people):
    return make_schedule("AI on-call", layers=[{"members": [people["alice"], people["bob"]], "length": "daily"}])


def test_a_schedule_s_calendar_at_the_secret_url(client, rotation, people):
    token = services.calendar_token_get(user=people["carol"]).token
    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("oncall:schedule-ics", args=[token, rotation.pk]))  # no login: the token
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(response.content)
    events = sorted(cal.walk("VEVENT"), key=lambda e: e.decoded("DTSTART"))
    # 14 days back to 90 days ahead, one event per daily shift, alternating
    first = next(e for e in events if e.decoded("DTSTART") == datetime(2026, 3, 5, 9, tzinfo=UTC))
    assert str(first["SUMMARY"]) == "On call: Bob (AI on-call)"
    assert str(first["ATTENDEE"]) == "mailto:bob@example.com"
    assert first.decoded("DTEND") == datetime(2026, 3, 6, 9, tzinfo=UTC)
    assert {str(e["ATTENDEE"]) for e in events} == {"mailto:alice@example.com", "mailto:bob@example.com"}
    assert len({str(e["UID"]) for e in events}) == len(events)


def test_a_user_s_own_shifts_and_a_wrong_or_replaced_token(client, rotation, people):
    alice = people["alice"]
    token = services.calendar_token_get(user=alice).token
    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("oncall:user-ics", args=[token]))
    events = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert events and all(str(e["ATTENDEE"]) == "mailto:alice@example.com" for e in events)
    assert client.get(reverse("oncall:user-ics", args=["not-a-token"])).status_code == 404
    services.calendar_token_replace(user=alice, actor=alice)
    assert client.get(reverse("oncall:user-ics", args=[token])).status_code == 404


def test_export_round_trips_through_an_imported_layer(client, rotation, people, feed_server, commander):
    token = services.calendar_token_get(user=commander).token
    with time_machine.travel(NOW, tick=False):
        feed_server.body = client.get(reverse("oncall:schedule-ics", args=[token, rotation.pk])).content
    mirror = make_schedule("Mirror of the AI on-call")
    layer = mirror.layers.get()
    layer.ical_url = feed_server.url
    layer.save()
    with time_machine.travel(NOW, tick=False):
        imported = layer_import_ical(layer_id=layer.pk, actor=commander)
    assert imported > 90 and feed_server.requests == 1
    layer.refresh_from_db()
    assert layer.ical_error == "" and layer.ical_fetched_at == NOW
    for hours in (0, 21, 22, 45, 24 * 30 + 3):
        at = NOW + timedelta(hours=hours)
        assert who_is_on_call(schedule_id=mirror.pk, at=at) == who_is_on_call(schedule_id=rotation.pk, at=at), at


def test_an_imported_feed_that_fails_keeps_the_last_shifts(rotation, people, feed_server, commander):
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Other system//EN")
    cal.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", "1@other")
    event.add("dtstart", NOW)
    event.add("dtend", NOW + timedelta(hours=8))
    event.add("summary", "dave")  # no attendee: the summary names the user
    cal.add_component(event)
    stranger = icalendar.Event()
    stranger.add("uid", "2@other")
    stranger.add("dtstart", NOW + timedelta(hours=8))
    stranger.add("dtend", NOW + timedelta(hours=16))
    stranger.add("summary", "Somebody Else")
    cal.add_component(stranger)
    feed_server.body = cal.to_ical()
    layer = Layer.objects.create(schedule=rotation, name="vendor", priority=9, ical_url=feed_server.url)
    layer_import_ical(layer_id=layer.pk, now=NOW)
    layer.refresh_from_db()
    assert layer.ical_error == "No Fireline user for: Somebody Else"
    assert who_is_on_call(schedule_id=rotation.pk, at=NOW + timedelta(hours=1)) == people["dave"].pk
    # the unmatched event is no one: the rotation below shows through
    assert who_is_on_call(schedule_id=rotation.pk, at=NOW + timedelta(hours=9)) == people["bob"].pk

    feed_server.status = 500
    with pytest.raises(ValidationError) as err:
        layer_import_ical(layer_id=layer.pk, now=NOW)
    assert "ical_url" in err.value.message_dict
    layer.refresh_from_db()
    assert "500" in layer.ical_error and layer.imported_shifts.count() == 2
    feed_server.status, feed_server.body = 200, b"<html>not a calendar</html>"
    with pytest.raises(ValidationError):
        layer_import_ical(layer_id=layer.pk, now=NOW)
    assert layer.imported_shifts.count() == 2
    assert who_is_on_call(schedule_id=rotation.pk, at=NOW + timedelta(hours=1)) == people["dave"].pk


def test_only_schedule_editors_import(rotation, feed_server, responder):
    layer = Layer.objects.create(schedule=rotation, name="vendor", ical_url=feed_server.url)
    with pytest.raises(Exception, match="Schedule Managers"):
        layer_import_ical(layer_id=layer.pk, actor=responder)
    assert feed_server.requests == 0


def test_a_feed_added_in_the_admin_is_imported_at_once(
    client, commander, rotation, people, feed_server, django_capture_on_commit_callbacks
):
    token = services.calendar_token_get(user=commander).token
    feed_server.body = client.get(reverse("oncall:schedule-ics", args=[token, rotation.pk])).content
    client.force_login(commander)
    data = {
        "name": "Vendor rota",
        "time_zone": "UTC",
        "layers-TOTAL_FORMS": "1",
        "layers-INITIAL_FORMS": "0",
        "layers-MIN_NUM_FORMS": "0",
        "layers-MAX_NUM_FORMS": "1000",
        "layers-0-name": "vendor",
        "layers-0-priority": "1",
        "layers-0-time_zone": "UTC",
        "layers-0-rotation_start": "2026-03-02",
        "layers-0-handoff_time": "09:00",
        "layers-0-length": "weekly",
        "layers-0-interval": "1",
        "layers-0-rotation": "alice",
        "layers-0-ical_url": feed_server.url,
        "policy_tiers-TOTAL_FORMS": "0",
        "policy_tiers-INITIAL_FORMS": "0",
        "policy_tiers-MIN_NUM_FORMS": "0",
        "policy_tiers-MAX_NUM_FORMS": "1000",
    }
    response = client.post(reverse("admin:oncall_schedule_add"), data)
    assert "An imported layer takes its people from the feed" in response.content.decode()
    data["layers-0-rotation"] = ""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:oncall_schedule_add"), data)
    assert response.status_code == 302
    layer = Layer.objects.get(name="vendor")
    assert feed_server.requests == 1 and layer.imported_shifts.count() > 90
    now = timezone.now()
    assert who_is_on_call(schedule_id=layer.schedule_id, at=now) == who_is_on_call(schedule_id=rotation.pk, at=now)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254", "10.1.2.3"])
def test_a_feed_inside_the_network_is_refused_and_never_fetched(rotation, feed_server, host, settings):
    settings.FIRELINE_ALLOW_PRIVATE_FETCH = False  # the production default
    url = feed_server.url.replace("127.0.0.1", host) if host != "127.0.0.1" else feed_server.url
    layer = Layer.objects.create(schedule=rotation, name="internal", ical_url=url)
    with pytest.raises(ValidationError) as err:
        layer_import_ical(layer_id=layer.pk, now=NOW)
    assert "inside the network" in err.value.message_dict["ical_url"][0]
    assert feed_server.requests == 0
    layer.refresh_from_db()
    assert "inside the network" in layer.ical_error
