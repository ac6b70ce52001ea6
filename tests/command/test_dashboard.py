from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.constants import NotificationState, PageState, StakeholderRole
from incidents.models import (
    ActionItem,
    Alert,
    AlertPayload,
    AlertState,
    Notification,
    Page,
    Regime,
    RegulatoryObligation,
    UserReport,
)
from incidents.services.regulatory import reportability_decide
from tests.incidents.factories import IncidentFactory, UserFactory, make_contact

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def page_of(client, user):
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    return response


def test_the_admin_index_is_the_command_centre_and_keeps_the_app_list(client, viewer):
    response = page_of(client, viewer)
    body = response.content.decode()
    assert "Command centre" in body and "/command/readiness/" in body and "/command/metrics/" in body
    assert "All admin pages" in body and response.context["app_list"]


def test_login_is_required(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_open_incidents_by_severity_with_their_clocks_most_severe_first(client, superuser, feature):
    now = timezone.now()
    IncidentFactory(feature=feature, severity="SEV3", state="triaged", detected_at=now - timedelta(hours=5))
    sev1 = IncidentFactory(
        feature=feature,
        severity="SEV1",
        state="contained",
        detected_at=now - timedelta(hours=2, minutes=5),
        contained_at=now - timedelta(hours=1, minutes=35),
    )
    IncidentFactory(feature=feature, severity="", state="detected", detected_at=now - timedelta(minutes=3))
    IncidentFactory(feature=feature, severity="SEV1", state="closed")  # closed: not on the board
    centre = page_of(client, superuser).context["centre"]
    assert centre.severity_counts == {"SEV1": 1, "SEV3": 1, "": 1} and centre.open_total == 3
    assert [i.severity for i in centre.open_incidents] == ["SEV1", "", "SEV3"]
    first = centre.open_incidents[0]
    assert first == sev1 and first.clock_open == "2 h 05 min" and first.clock_contain == "30 min"
    assert centre.open_incidents[1].clock_contain is None


def test_drill_incidents_are_shown_apart_and_marked(client, superuser, feature):
    IncidentFactory(feature=feature, severity="SEV1", state="triaged", is_drill=True, title="Practice run")
    response = page_of(client, superuser)
    centre = response.context["centre"]
    assert centre.open_total == 0 and centre.open_incidents == []
    assert [i.title for i in centre.drill_incidents] == ["Practice run"]
    assert "DRILL</span>" in response.content.decode()


def test_a_drill_that_has_ended_leaves_the_drills_card(client, superuser, feature, facilitator_drill):
    from drills.models import Drill

    running = IncidentFactory(feature=feature, state="contained", is_drill=True, title="Running exercise")
    ended = IncidentFactory(feature=feature, state="contained", is_drill=True, title="Last quarter's exercise")
    Drill.objects.filter(pk=facilitator_drill(feature, state="running").pk).update(incident=running)
    Drill.objects.filter(pk=facilitator_drill(feature, state="completed").pk).update(incident=ended)
    centre = page_of(client, superuser).context["centre"]
    assert [i.title for i in centre.drill_incidents] == ["Running exercise"]


def test_restricted_incidents_are_not_shown_or_counted_for_outsiders(client, viewer, legal, commander, feature):
    secret = IncidentFactory(feature=feature, severity="SEV1", state="triaged", is_restricted=True, title="Leak")
    secret.members.add(commander)
    owner = UserFactory(username="owner")
    ActionItem.objects.create(
        incident=secret, title="Rotate keys", kind="prevent", owner=owner, due_date=timezone.localdate() - timedelta(1)
    )
    contact = make_contact(name="Ann", role=StakeholderRole.LEGAL, email="a@example.com")
    Page.objects.create(incident=secret, contact=contact, reason="r", dedup_key="p1", ack_due_at=timezone.now())
    outsider = page_of(client, viewer)
    centre = outsider.context["centre"]
    assert centre.open_total == 0 and centre.action_items_overdue == 0 and centre.pages_total == 0
    assert "Leak" not in outsider.content.decode() and "Rotate keys" not in outsider.content.decode()
    for insider in (legal, commander):
        centre = page_of(client, insider).context["centre"]
        assert centre.open_total == 1 and centre.action_items_overdue == 1 and centre.pages_total == 1


def test_overdue_regulatory_deadlines_and_action_items_in_red(client, superuser, commander, open_incident):
    incident = open_incident()
    reportability_decide(
        incident_id=incident.pk, regimes=[Regime.objects.get(code="gdpr-33")], reason="Personal data.", actor=commander
    )
    RegulatoryObligation.objects.filter(incident=incident).update(deadline=timezone.now() - timedelta(hours=1))
    today = timezone.localdate()
    ActionItem.objects.create(incident=incident, title="Add eval", kind="detect", owner=commander, due_date=today - DAY)
    ActionItem.objects.create(incident=incident, title="Not yet", kind="prevent", owner=commander, due_date=today + DAY)
    response = page_of(client, superuser)
    centre = response.context["centre"]
    assert centre.obligations_overdue == 1 and centre.obligations[0].overdue
    assert centre.action_items_overdue == 1 and [a.title for a in centre.action_items] == ["Add eval"]
    body = response.content.decode()
    assert "OVERDUE since" in body and 'class="cc-late"' in body
    assert "Not yet" not in body


def test_drill_obligations_never_show(client, superuser, feature):
    drill = IncidentFactory(feature=feature, is_drill=True, state="triaged")
    centre = page_of(client, superuser).context["centre"]
    assert not RegulatoryObligation.objects.filter(incident=drill).exists()
    assert centre.obligations == []


def test_failed_notifications_unacknowledged_pages_and_inbox_counts(client, superuser, feature):
    incident = IncidentFactory(feature=feature, severity="SEV2", state="triaged")
    contact = make_contact(name="Ann", role=StakeholderRole.LEGAL, email="a@example.com")
    Page.objects.create(
        incident=incident, contact=contact, reason="r", dedup_key="p1", ack_due_at=timezone.now() - timedelta(1)
    )
    Page.objects.create(
        incident=incident,
        contact=contact,
        reason="r",
        dedup_key="p2",
        ack_due_at=timezone.now(),
        state=PageState.ACKNOWLEDGED,
    )
    Notification.objects.create(
        incident=incident,
        channel="email",
        recipient="a@example.com",
        subject="s",
        body="b",
        dedup_key="n1",
        state=NotificationState.FAILED,
        last_error="550 mailbox unavailable",
    )
    payload = AlertPayload.objects.create(integration="generic", body="{}")
    for fingerprint, state in (("f", AlertState.INBOX), ("g", AlertState.DISMISSED)):
        Alert.objects.create(
            payload=payload, integration="generic", status="firing", fingerprint=fingerprint, state=state
        )
    UserReport.objects.create(feature=feature, what_user_saw="x", what_was_wrong="y", source="api")
    response = page_of(client, superuser)
    centre = response.context["centre"]
    assert (centre.pages_total, centre.pages_overdue) == (1, 1)
    assert centre.failed_notifications_total == 1
    assert (centre.alert_inbox, centre.report_inbox) == (1, 1)
    assert "550 mailbox unavailable" in response.content.decode()


def test_upcoming_drills(client, superuser, feature, facilitator_drill):
    facilitator_drill(feature, state="scheduled", scheduled_for=timezone.now() + timedelta(days=3))
    facilitator_drill(feature, state="completed", completed_at=timezone.now())
    centre = page_of(client, superuser).context["centre"]
    assert centre.drills_available and len(centre.upcoming_drills) == 1


def _fill(feature, commander, n):
    owner = UserFactory(username=f"owner{n}")
    contact = make_contact(name=f"C{n}", role=StakeholderRole.LEGAL, email=f"c{n}@example.com")
    for i in range(n):
        incident = IncidentFactory(
            feature=feature, severity=f"SEV{1 + i % 4}", state="triaged", is_restricted=i % 3 == 0
        )
        incident.members.add(commander)
        ActionItem.objects.create(
            incident=incident, title="x", kind="prevent", owner=owner, due_date=timezone.localdate() - timedelta(1)
        )
        Page.objects.create(
            incident=incident, contact=contact, reason="r", dedup_key=f"p{n}-{i}", ack_due_at=timezone.now()
        )
        Notification.objects.create(
            incident=incident,
            channel="email",
            recipient="x@example.com",
            subject="s",
            body="b",
            dedup_key=f"n{n}-{i}",
            state=NotificationState.FAILED,
        )


@pytest.mark.parametrize("who", ["superuser", "viewer", "commander"])
def test_the_query_count_does_not_grow_with_the_data(
    client, feature, commander, django_assert_max_num_queries, request, who
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    _fill(feature, commander, 3)
    with django_assert_max_num_queries(40) as small:
        client.get("/admin/")
    _fill(feature, commander, 40)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get("/admin/")
    assert response.status_code == 200
