"""The on-call card for the command centre and the readiness scorecard (a fixed number of queries)."""

from django import template

from oncall.selectors import gap_list, on_call_now_list

register = template.Library()


@register.inclusion_tag("oncall/now_card.html")
def oncall_now_card(show_now: bool = True, gaps=None):
    """Who is on call in each schedule now, and the gaps of the next 7 days (computed here unless given)."""
    return {
        "rows": on_call_now_list() if show_now else [],
        "gaps": gap_list() if gaps is None else gaps,
        "show_now": show_now,
    }
