"""In a real browser: a chat post Slack never accepted shows on the incident page like a failed notification."""

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from chatops.backends.base import backend_reset
from chatops.constants import ROOM_CHANNEL
from chatops.models import ChatSettings
from incidents import services
from incidents.constants import Category, DetectionSignal, NotificationState
from incidents.models import Notification
from incidents.services.notifications import notification_deliver
from tests.chatops.slack_standin import SlackStandIn
from tests.incidents.factories import AIFeatureFactory, UserFactory

from .test_commander_flow import login


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_incident_page_shows_a_failed_chat_delivery(live_server, page: Page, settings):
    standin = SlackStandIn().start()
    standin.stop()  # Slack is down, and stays down past the last attempt
    settings.SLACK_API_URL = standin.api_url
    settings.SLACK_BOT_TOKEN = standin.token
    settings.FIRELINE_NOTIFY_MAX_ATTEMPTS = 1
    backend_reset()
    cache.clear()  # the PostgreSQL pass shares one Redis cache across tests: start from nothing remembered
    ChatSettings.objects.update_or_create(pk=1, defaults={"backend": "slack", "room_severities": ["SEV1", "SEV2"]})
    commander = UserFactory(username="chat-cmdr", role="Incident Commander")
    incident = services.incident_open(
        title="Bot tells users to stop their medication",
        category=Category.HARMFUL_OUTPUT,
        detection_signal=DetectionSignal.USER_REPORT,
        feature=AIFeatureFactory(key="care-bot"),
        commander=commander,
        severity_override="SEV1",
        severity_override_reason="health advice",
        actor=commander,
    )
    rows = Notification.objects.filter(incident=incident, channel=ROOM_CHANNEL)
    # Deliver what is still waiting, as the worker or the outbox sweep would (whether a task already ran
    # depends on how an earlier test left Celery in this process).
    for row in rows.filter(state=NotificationState.PENDING):
        notification_deliver(notification_id=row.pk)
    states = [(row.state, row.last_error) for row in rows]
    assert states and all(state == NotificationState.FAILED for state, _ in states), states
    try:
        login(page, live_server.url, "chat-cmdr")
        page.goto(f"{live_server.url}/admin/incidents/incident/{incident.pk}/change/")

        failed = page.locator("li", has_text="by incident chat room after 1 attempts")
        expect(failed.first).to_be_visible()
        expect(failed.first).to_contain_text("Connection refused")
        expect(page.get_by_text("Could not reach", exact=False).first).to_be_visible()
    finally:
        backend_reset()
