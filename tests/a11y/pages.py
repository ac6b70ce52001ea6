"""The pages a commander, a lawyer or a facilitator reaches, with the data that fills them.

One busy incident (tests/e2e/busy.py) with its pages, communications, a published post-mortem and a
scheduled drill: what the pages look like on a long night, not on an empty install.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from drills import services as drills
from drills.models import Scenario
from incidents.constants import Category
from incidents.models import Communication, Page
from incidents.services.escalation import ack_token
from incidents.services.postmortems import postmortem_approve, postmortem_create, postmortem_publish, postmortem_submit
from tests.conftest import fresh
from tests.e2e.busy import busy_incident
from tests.incidents.factories import AIFeatureFactory, UserFactory
from tests.incidents.postmortem_text import write_sections

PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Site:
    """What the pages are about: the busy incident and what hangs off it."""

    incident_id: int
    postmortem_id: int
    communication_id: int
    drill_id: int
    ack_token: str


def build_site() -> Site:
    commander = fresh(UserFactory(username="cmdr", role="Incident Commander", first_name="Cam", last_name="Mander"))
    legal = fresh(UserFactory(username="lawyer", role="Legal", first_name="Lee", last_name="Gal"))
    facilitator = fresh(UserFactory(username="facil", role="Drill Facilitator"))
    incident = busy_incident(commander=commander, legal=legal)
    incident.members.add(legal)
    postmortem = postmortem_create(incident_id=incident.pk, actor=commander)
    write_sections(postmortem.pk, commander)
    postmortem_submit(postmortem_id=postmortem.pk, actor=commander)
    postmortem_approve(postmortem_id=postmortem.pk, actor=commander)
    postmortem_approve(postmortem_id=postmortem.pk, actor=legal)
    postmortem_publish(postmortem_id=postmortem.pk, actor=legal)
    scenario = Scenario.objects.get(category=Category.HARMFUL_OUTPUT)
    drill = drills.drill_plan(
        scenario=scenario,
        feature=AIFeatureFactory(key="support-bot", name="Support assistant"),
        facilitator=facilitator,
        actor=None,
    )
    drills.drill_schedule(
        drill_id=drill.pk,
        scheduled_for=timezone.now() + datetime.timedelta(hours=2),
        participants=[commander],
        actor=None,
    )
    page = Page.objects.filter(incident=incident).order_by("pk").first()
    return Site(
        incident_id=incident.pk,
        postmortem_id=postmortem.pk,
        communication_id=Communication.objects.filter(incident=incident).order_by("pk").first().pk,
        drill_id=drill.pk,
        ack_token=ack_token(page) if page else "",
    )


def signed_in_pages(site: Site) -> list[tuple[str, str]]:
    """(name, path) of each page the commander opens once signed in."""
    pages = [
        ("command centre", "/admin/"),
        ("incident list", "/admin/incidents/incident/"),
        ("incident page", f"/admin/incidents/incident/{site.incident_id}/change/"),
        ("declare page", "/admin/incidents/incident/declare/"),
        ("post-mortem page", f"/admin/incidents/postmortem/{site.postmortem_id}/change/"),
        ("communication page", f"/admin/incidents/communication/{site.communication_id}/change/"),
        ("drill page", f"/admin/drills/drill/{site.drill_id}/change/"),
        ("readiness", "/command/readiness/"),
        ("metrics", "/command/metrics/"),
        ("preferences", "/preferences/"),
        ("incident form", "/admin/incidents/incident/add/"),
        ("user report inbox", "/admin/incidents/userreport/"),
        ("action items", "/admin/incidents/actionitem/"),
        ("regulatory obligations", "/admin/incidents/regulatoryobligation/"),
        ("drill list", "/admin/drills/drill/"),
        ("drill trends", "/admin/drills/drill/trends/"),
        ("on-call schedules", "/admin/oncall/schedule/"),
        ("new on-call schedule", "/admin/oncall/schedule/add/"),
    ]
    return pages


def public_pages(site: Site) -> list[tuple[str, str]]:
    """(name, path) of the pages anyone reaches without signing in."""
    pages = [("status page", "/status/"), ("report form", "/report/"), ("invalid link", "/ack/not-a-token/")]
    if site.ack_token:
        pages.append(("page acknowledgement", f"/ack/{site.ack_token}/"))
    return pages
