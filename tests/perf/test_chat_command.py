"""Benchmark (issue 20): a signed `/incident status` round trip (signed request in, reply out) through the
Django test client, against a floor measured in the same run, interleaved: a signed request to a trivial view
that verifies the same signature and answers a constant JSON. The issue's target is a p95 under 500 ms; the
ratio of p95s to the floor is printed beside it, with p50s. The chat user's identity is looked up once at the
stand-in and then cached, as in production; nothing else leaves the process in the round trip.
"""

import time
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from slack_sdk.signature import SignatureVerifier

from chatops.models import ChatRoom
from incidents import services
from incidents.constants import Category, DetectionSignal
from tests.chatops.conftest import signed_headers, slack  # noqa: F401 (the stand-in fixture)
from tests.incidents.factories import AIFeatureFactory, UserFactory
from tests.perf.ratios import ROUNDS, Ratio, check, median_ms, p95

pytestmark = [pytest.mark.perf, pytest.mark.django_db]

PER_ROUND = 100
WARMUP = 10
TARGET_P95_SECONDS = 0.5  # Slack's limit is 3 s; the issue asks for 500 ms at p95
TARGET_RATIO = 40.0  # status reads the incident, its room, containment and pages: within 40x of a bare signed view


@csrf_exempt
def signed_floor(request):
    verifier = SignatureVerifier(django_settings.SLACK_SIGNING_SECRET)
    ok = verifier.is_valid(
        body=request.body,
        timestamp=request.headers.get("X-Slack-Request-Timestamp"),
        signature=request.headers.get("X-Slack-Signature"),
    )
    return JsonResponse({"response_type": "ephemeral", "text": "ok"}, status=200 if ok else 401)


urlpatterns = [path("bench/slack-floor", signed_floor), path("", include("config.urls"))]


def test_incident_status_round_trip_p95(client, slack, settings):  # noqa: F811
    settings.ROOT_URLCONF = __name__
    commander = UserFactory(username="bench-cmdr", role="Incident Commander")
    user_id = slack.add_user(commander.email)
    incident = services.incident_open(
        title="Bench: the assistant leaks order numbers",
        category=Category.HARMFUL_OUTPUT,
        detection_signal=DetectionSignal.USER_REPORT,
        feature=AIFeatureFactory(key="bench-bot"),
        commander=commander,
        severity_override="SEV2",
        severity_override_reason="bench",
        actor=commander,
    )
    room = ChatRoom.objects.get(incident=incident)
    room.room_id = "C0BENCH"
    room.save()
    counter = iter(range(10_000_000))

    def timed(path: str, text: str) -> float:
        # a new nonce each time, so no request is a replay of another
        body = urlencode(
            {
                "command": "/incident",
                "text": text,
                "user_id": user_id,
                "channel_id": "C0BENCH",
                "trigger_id": str(next(counter)),
            }
        ).encode()
        headers = signed_headers(body)
        started = time.perf_counter()
        response = client.post(path, data=body, content_type="application/x-www-form-urlencoded", **headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content[:300]
        return elapsed

    def status() -> float:
        return timed("/chat/slack/commands", "status")

    def floor() -> float:
        return timed("/bench/slack-floor", "status")

    for _ in range(WARMUP):
        status()
        floor()
    ratio = Ratio("signed /incident status / signed trivial view, p95", TARGET_RATIO)
    every = []
    for round_no in range(ROUNDS):
        floors, statuses = [], []
        for _ in range(PER_ROUND):
            floors.append(floor())
            statuses.append(status())
        every += statuses
        ratio.add(
            p95(floors),
            p95(statuses),
            f"(round {round_no + 1}: status p50 {median_ms(statuses)} p95 {p95(statuses) * 1000:.2f} ms, "
            f"floor p50 {median_ms(floors)} p95 {p95(floors) * 1000:.2f} ms)",
        )
    print(
        f"\n     /incident status round trip: p50 {median_ms(every)}, p95 {p95(every) * 1000:.2f} ms "
        f"over {len(every)} requests (target p95 < {TARGET_P95_SECONDS * 1000:.0f} ms)"
    )
    check([ratio])
    assert p95(every) < TARGET_P95_SECONDS
