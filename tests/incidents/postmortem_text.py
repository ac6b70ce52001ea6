"""Post-mortem sections written the way a reviewer expects: no template guidance left in them."""

from incidents.models import PostMortem, PostMortemState
from incidents.services.postmortems import postmortem_submit, postmortem_update

WRITTEN = {
    "what_happened": "The assistant gave three users wrong advice on Monday; it was switched off within the hour.",
    "impact": "Three users saw the advice; none reported harm.",
    "root_cause": "The persona prompt let the topic through without the safety rules (prompt layer).",
    "why_not_caught": "No eval case covered the topic.",
    "what_is_changing": "Safety rules apply to every topic; a new eval case runs before each prompt release.",
}


def write_sections(postmortem_id: int, actor, **overrides) -> PostMortem:
    """Replace the template's guidance in every section still holding it (a draft only)."""
    postmortem = PostMortem.objects.get(pk=postmortem_id)
    if postmortem.state != PostMortemState.DRAFT:
        return postmortem
    changes = {}
    for name, text in {**WRITTEN, **overrides}.items():
        current = getattr(postmortem, name) or ""
        if name in overrides or not current.strip() or current.lstrip().startswith("_"):
            changes[name] = text
    return postmortem_update(postmortem_id=postmortem_id, changes=changes, actor=actor) if changes else postmortem


def submit_written(*, postmortem_id: int, actor) -> PostMortem:
    """Write the sections, then submit for review, as a commander does on the page."""
    write_sections(postmortem_id, actor)
    return postmortem_submit(postmortem_id=postmortem_id, actor=actor)
