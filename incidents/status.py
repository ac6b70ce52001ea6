"""The public status page at /status/ and its Atom feed at /status/feed.atom, no login.

An incident is on the status page exactly when it has at least one *sent* public communication:
sending one is the explicit, Legal- or Communications-approved act of going public, so no separate
"show on status page" flag is kept that could disagree with it. Drills and restricted incidents are
never shown, whatever was sent. Only the frozen, approved text of the updates appears, with a public
status phrase derived from the incident's state: no title, summary, names or other internal fields.
"""

from __future__ import annotations

from django.contrib.syndication.views import Feed
from django.db.models import Max, Prefetch, Q, QuerySet
from django.shortcuts import render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from incidents.constants import Audience, IncidentState
from incidents.models import Communication, CommunicationState, Incident
from incidents.text import render_markdown

FEED_ITEMS = 50

PUBLIC_STATUS = {
    IncidentState.DETECTED: "Investigating",
    IncidentState.TRIAGED: "Investigating",
    IncidentState.CONTAINED: "Mitigated, investigating",
    IncidentState.INVESTIGATING: "Investigating",
    IncidentState.FIXED: "Fix deployed, monitoring",
    IncidentState.VERIFIED: "Resolved",
    IncidentState.POSTMORTEM: "Resolved",
    IncidentState.CLOSED: "Resolved",
    IncidentState.DISMISSED: "Resolved",
}


def public_updates() -> QuerySet[Communication]:
    """Sent public updates of incidents that may be shown: never a drill, never a restricted incident."""
    return Communication.objects.filter(
        audience=Audience.PUBLIC,
        state=CommunicationState.SENT,
        incident__is_drill=False,
        incident__is_restricted=False,
    )


def status_incidents() -> list[Incident]:
    updates = (
        public_updates().only("pk", "incident_id", "sent_at", "sent_subject", "sent_body").order_by("-sent_at", "-pk")
    )
    incidents = (
        Incident.objects.filter(pk__in=public_updates().values("incident_id"))
        .only("pk", "state")
        .annotate(
            last_update_at=Max(
                "communications__sent_at",
                filter=Q(communications__audience=Audience.PUBLIC, communications__state=CommunicationState.SENT),
            )
        )
        .order_by("-last_update_at", "-pk")
        .prefetch_related(Prefetch("communications", queryset=updates, to_attr="public_updates"))
    )
    return list(incidents)


@require_GET
@cache_control(max_age=60, public=True)
def status_page(request):
    rows = [
        {
            "anchor": f"incident-{incident.pk}",
            "status": PUBLIC_STATUS.get(incident.state, "Investigating"),
            "is_resolved": PUBLIC_STATUS.get(incident.state) == "Resolved",
            "headline": incident.public_updates[0].sent_subject,
            "updates": [
                {"pk": u.pk, "sent_at": u.sent_at, "subject": u.sent_subject, "html": render_markdown(u.sent_body)}
                for u in incident.public_updates
            ],
        }
        for incident in status_incidents()
    ]
    return render(
        request,
        "status/index.html",
        {"rows": rows, "any_open": any(not r["is_resolved"] for r in rows)},
    )


class StatusFeed(Feed):
    feed_type = Atom1Feed
    title = "Status updates"
    subtitle = "Public updates on incidents affecting our AI features."

    def link(self):
        return reverse("status-page")

    def items(self):
        return list(
            public_updates().only("pk", "sent_at", "sent_subject", "sent_body").order_by("-sent_at", "-pk")[:FEED_ITEMS]
        )

    def item_title(self, item):
        return item.sent_subject

    def item_description(self, item):
        return render_markdown(item.sent_body)

    def item_link(self, item):
        return f"{reverse('status-page')}#update-{item.pk}"

    def item_guid(self, item):
        return f"status-update-{item.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.sent_at

    def item_updateddate(self, item):
        return item.sent_at


status_feed = StatusFeed()
