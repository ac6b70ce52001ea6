"""The public status page at /status/ and its Atom feed at /status/feed.atom, no login.

An incident is on the status page exactly when it has at least one *sent* public communication:
sending one is the explicit, Legal- or Communications-approved act of going public, so no separate
"show on status page" flag is kept that could disagree with it. Drills and restricted incidents are
never shown, whatever was sent. A dismissed incident that was announced stays, as Resolved: what the
public was told about is not silently taken back.
Only the frozen, approved text of the updates appears, with the incident's public status word
(`incidents.constants.PUBLIC_STATUS`, the same word its public update drafts use): no title, summary,
names or other internal fields. An incident is ongoing until it is closed; only then is it Resolved.
"""

from __future__ import annotations

from django.contrib.syndication.views import Feed
from django.db.models import Max, Prefetch, Q, QuerySet
from django.shortcuts import render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from incidents.constants import PUBLIC_STATUS, Audience, IncidentState, PublicStatus
from incidents.models import Communication, CommunicationState, Incident
from incidents.text import render_markdown

FEED_ITEMS = 50


def public_updates() -> QuerySet[Communication]:
    """Sent public updates of incidents that may be shown: never a drill's or a restricted incident's."""
    return Communication.objects.filter(
        audience=Audience.PUBLIC,
        state=CommunicationState.SENT,
        incident__is_drill=False,
        incident__is_restricted=False,
    )


def public_status(incident: Incident) -> PublicStatus:
    return PUBLIC_STATUS[incident.state]


def status_changed_at(incident: Incident):
    """When the incident entered its current state (each state entry is timestamped on the incident)."""
    return getattr(incident, f"{incident.state}_at", None)


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


def _row(incident: Incident) -> dict:
    status = public_status(incident)
    return {
        "anchor": f"incident-{incident.pk}",
        "status": status.label,
        "status_key": status.value,
        "headline": incident.public_updates[0].sent_subject,
        "updates": [
            {"pk": u.pk, "sent_at": u.sent_at, "subject": u.sent_subject, "html": render_markdown(u.sent_body)}
            for u in incident.public_updates
        ],
    }


@require_GET
@cache_control(max_age=60, public=True)
def status_page(request):
    incidents = status_incidents()
    ongoing = [_row(i) for i in incidents if public_status(i) != PublicStatus.RESOLVED]
    resolved = [_row(i) for i in incidents if public_status(i) == PublicStatus.RESOLVED]
    return render(request, "status/index.html", {"ongoing": ongoing, "resolved": resolved})


class StatusFeed(Feed):
    """One entry per sent public update, each saying where its incident stands now.

    The entry's `updated` moves when the incident's public status changes, so a reader that already
    has the update sees it again once the incident is, say, Resolved.
    """

    feed_type = Atom1Feed
    title = "Status updates"
    subtitle = "Public updates on incidents affecting our AI features."

    def link(self):
        return reverse("status-page")

    def items(self):
        state_fields = [f"incident__{state}_at" for state in IncidentState.values]
        return list(
            public_updates()
            .select_related("incident")
            .only("pk", "sent_at", "sent_subject", "sent_body", "incident__state", *state_fields)
            .order_by("-sent_at", "-pk")[:FEED_ITEMS]
        )

    def item_title(self, item):
        return item.sent_subject

    def item_description(self, item):
        status = public_status(item.incident).label
        return f"<p>Current status: <strong>{status}</strong></p>\n{render_markdown(item.sent_body)}"

    def item_categories(self, item):
        return [public_status(item.incident).label]

    def item_link(self, item):
        return f"{reverse('status-page')}#update-{item.pk}"

    def item_guid(self, item):
        return f"status-update-{item.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.sent_at

    def item_updateddate(self, item):
        changed = status_changed_at(item.incident)
        return max(item.sent_at, changed) if changed else item.sent_at


status_feed = StatusFeed()
