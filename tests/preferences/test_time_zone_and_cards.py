"""Each person's time zone and the incident-page cards they keep open."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.constants import ContainmentType
from preferences.models import UserPreference
from tests.incidents.factories import UserFactory

INCIDENT_PAGE = "admin:incidents_incident_change"


def page_html(client, incident) -> str:
    response = client.get(reverse(INCIDENT_PAGE, args=[incident.pk]))
    assert response.status_code == 200
    return response.content.decode()


def fold(html: str, card: str) -> str:
    """The opening tag of a folded card."""
    match = re.search(rf'<details[^>]*id="card-{card}"[^>]*>', html)
    assert match, f"no card {card}"
    return match.group(0)


@pytest.fixture
def logged_in(client, commander):
    client.force_login(commander)
    return client


def test_the_browser_zone_is_taken_once_and_times_show_in_it_named(logged_in, commander, open_incident):
    incident = open_incident()
    # no zone yet: the server's zone, named, and the page asks the browser for one
    html = page_html(logged_in, incident)
    assert "data-zone-url=" in html
    assert f"{timezone.localtime(incident.detected_at, datetime.UTC):%Y-%m-%d %H:%M} UTC" in html

    response = logged_in.post(reverse("preferences:browser-time-zone"), {"time_zone": "Europe/Berlin"})
    assert response.status_code == 200 and response.json()["source"] == "browser"
    html = page_html(logged_in, incident)
    assert "data-zone-url=" not in html  # asked once, not on every page
    berlin = timezone.localtime(incident.detected_at, datetime.timezone(datetime.timedelta(hours=1)))
    assert f"{berlin:%Y-%m-%d %H:%M} CET" in html
    assert "CET · time zone" in html  # the header names the zone and links to change it


def test_a_chosen_zone_wins_over_the_browser(logged_in, commander):
    response = logged_in.post(reverse("preferences:preferences"), {"time_zone": "America/New_York"})
    assert response.status_code == 302
    logged_in.post(reverse("preferences:browser-time-zone"), {"time_zone": "Europe/Berlin"})
    pref = UserPreference.objects.get(user=commander)
    assert (pref.time_zone, pref.time_zone_source) == ("America/New_York", "chosen")
    html = logged_in.get(reverse("preferences:preferences")).content.decode()
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} E[SD]T", html)


@pytest.mark.parametrize("zone", ["", "Mars/Olympus_Mons", "../../etc/passwd", "x" * 80])
def test_a_bad_zone_is_refused_naming_the_field_and_keeps_the_stored_one(logged_in, commander, zone):
    logged_in.post(reverse("preferences:preferences"), {"time_zone": "Asia/Tokyo"})
    response = logged_in.post(reverse("preferences:browser-time-zone"), {"time_zone": zone})
    assert response.status_code in (200, 400)
    # the browser never overrides a chosen zone; a bad one is refused outright when nothing was chosen
    other = UserFactory(username="fresh", role="Incident Commander")
    logged_in.force_login(other)
    response = logged_in.post(reverse("preferences:browser-time-zone"), {"time_zone": zone})
    assert response.status_code == 400
    assert "time_zone" in response.json()["errors"]
    assert not UserPreference.objects.filter(user=other).exclude(time_zone="").exists()
    response = logged_in.post(reverse("preferences:preferences"), {"time_zone": zone})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="time-zone-errors"' in body
    assert "Choose a time zone." in body or "is not a time zone name such as Europe/Berlin" in body
    assert UserPreference.objects.get(user=commander).time_zone == "Asia/Tokyo"


def test_django_widgets_use_the_one_format(logged_in, open_incident):
    open_incident()
    html = logged_in.get(reverse("admin:incidents_incident_changelist")).content.decode()
    # the list's date column: ISO date, 24-hour clock, zone named (not "Dec. 4, 2026, 6:52 p.m.")
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", html)
    assert "p.m." not in html and "a.m." not in html


def test_cards_start_closed_and_stay_as_the_person_left_them(logged_in, commander, open_incident, client):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    html = page_html(logged_in, incident)
    assert " open" in fold(html, "containment")  # triaged, nothing contained: the ledger is open
    assert " open" not in fold(html, "timeline")

    for card, state in (("timeline", "1"), ("containment", "0")):
        response = logged_in.post(reverse("preferences:card-state"), {"page": "incident", "card": card, "open": state})
        assert response.status_code == 200
    html = page_html(logged_in, incident)
    assert " open" in fold(html, "timeline") and " open" not in fold(html, "containment")

    # remembered for the person, not the browser: a new login sees the same
    client.logout()
    client.force_login(commander)
    html = page_html(client, incident)
    assert " open" in fold(html, "timeline") and " open" not in fold(html, "containment")
    # ... and not for anyone else
    other = UserFactory(username="other-cmdr", role="Incident Commander")
    client.force_login(other)
    assert " open" not in fold(page_html(client, incident), "timeline")


@pytest.mark.parametrize(
    "data, field",
    [
        ({"page": "incident", "card": "Timeline<script>", "open": "1"}, "card"),
        ({"page": "incident", "card": "", "open": "1"}, "card"),
        ({"page": "elsewhere", "card": "timeline", "open": "1"}, "page"),
        ({"page": "incident", "card": "timeline", "open": "yes"}, "open"),
    ],
)
def test_a_bad_card_report_is_refused_naming_the_field(logged_in, commander, data, field):
    response = logged_in.post(reverse("preferences:card-state"), data)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not UserPreference.objects.filter(user=commander).exclude(open_cards={}).exists()


def test_the_card_endpoints_need_a_login(client, db):
    response = client.post(reverse("preferences:card-state"), {"page": "incident", "card": "timeline", "open": "1"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not UserPreference.objects.exists()


def test_the_contain_now_card_is_gone_once_contained_and_says_when_the_switch_is_already_off(
    logged_in, commander, open_incident
):
    incident = open_incident(users_affected=50_000, is_public=True)  # harmful, public: SEV1 or SEV2
    incident.refresh_from_db()
    assert incident.severity in ("SEV1", "SEV2")
    html = page_html(logged_in, incident)
    if 'id="contain-now"' in html and "feature flag off" in html.lower():
        assert "for every user at once" in html
    # another incident holds the switch off already: the card says so instead of promising to turn it off
    other = open_incident(title="Same feature, other region", users_affected=50_000, is_public=True)
    services.containment_record(
        incident_id=other.pk, action_type=ContainmentType.FEATURE_FLAG_OFF, actor=commander, description="off"
    )
    html = page_html(logged_in, incident)
    if 'id="contain-now"' in html:
        effect = re.search(r'id="contain-now-effect">(.*?)</span>', html, re.S).group(1)
        assert "for every user at once" not in effect
        assert "already off" in effect or "feature flag off" not in effect.lower()
    services.incident_contain_now(incident_id=incident.pk, actor=commander)
    services.incident_investigate(incident_id=incident.pk, actor=commander)
    action = incident.containment_actions.filter(reverted_at__isnull=True).first()
    services.containment_revert(action_id=action.pk, reason="fixed upstream", actor=commander)
    assert 'id="contain-now"' not in page_html(logged_in, incident)


def test_the_playbook_names_who_does_each_item(logged_in, commander, open_incident):
    commander.first_name, commander.last_name = "Ana", "Commander"
    commander.save()
    incident = open_incident()
    html = page_html(logged_in, incident)
    checklist = html[html.index('id="checklist"') :]
    checklist = checklist[: checklist.index("</ul>")]
    assert checklist.count('class="fl-owner">Ana Commander<') >= 3
