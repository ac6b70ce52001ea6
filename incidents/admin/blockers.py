"""Where each blocked step of the incident page is unblocked: a link from the guard's words to that place.

The guards' texts stay plain (they are also API and ValidationError messages); the admin adds the link.
A static text is matched by its guard's own `failure`; a text built per incident (callable `failure`,
or the eval gate's per-case reasons) by the words it starts with.
"""

from __future__ import annotations

from django.urls import reverse

from incidents.models import guards

# guard -> anchor on the incident page where the missing thing is entered
GUARD_PLACES = {
    guards.has_category: "#id_category",
    guards.has_severity: "#id_users_affected",
    guards.has_commander: "#id_commander",
    guards.has_active_containment: "#containment",
    guards.is_low_severity: "#id_severity_override",
    guards.has_containment_skip_reason: "#transitions",
    guards.has_root_cause: "#id_root_cause_layer",
    guards.has_fix: "#id_fix_layer",
    guards.fix_layer_matches_root_cause_or_is_justified: "#id_fix_layer_justification",
    guards.evals_prove_the_fix: "#evals",
    guards.regulatory_obligations_submitted_or_waived: "#regulatory",
}

# texts built per incident: the words they start with -> anchor
PREFIX_PLACES = [
    ("EV-", "#evals"),  # evals_blockers: one line per case that does not pass yet
    ("Link at least one eval case", "#evals"),
    ("The triage matrix requires communications", "#communications"),
    ("Still in force:", "#containment"),
    ("Pages still waiting", "#pages"),
]


def postmortem_place(incident, *, can_write: bool) -> str:
    """The post-mortem itself when it exists, else the button that writes it."""
    postmortem = getattr(incident, "postmortem", None) if incident.pk else None
    if postmortem is not None:
        return reverse("admin:incidents_postmortem_change", args=[postmortem.pk])
    return "#postmortem-write" if can_write else ""


def blocker_place(text: str, *, postmortem_url: str = "") -> str:
    """The URL or anchor where what `text` asks for is done; empty when there is no such place."""
    if text == guards.has_published_postmortem_if_required.failure:
        return postmortem_url
    for guard, place in GUARD_PLACES.items():
        if text == getattr(guard, "failure", None):
            return place
    for prefix, place in PREFIX_PLACES:
        if text.startswith(prefix):
            return place
    return ""


def link_blockers(options, incident, *, can_write_postmortem: bool) -> None:
    """Give each transition option `blocker_links`: (text, place) pairs, in the order of its blockers."""
    postmortem_url = postmortem_place(incident, can_write=can_write_postmortem)
    for option in options:
        option.blocker_links = [(text, blocker_place(text, postmortem_url=postmortem_url)) for text in option.blockers]
