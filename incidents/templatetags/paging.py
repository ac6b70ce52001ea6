"""The incident page's Paging card asks here whether anyone can be paged for the incident."""

from django import template

from incidents.paging_gaps import PagingGap, incident_paging_gap

register = template.Library()


@register.simple_tag
def paging_gap_for(incident) -> PagingGap | None:
    if incident is None or not incident.pk or not incident.is_open:
        return None
    return incident_paging_gap(incident=incident)
