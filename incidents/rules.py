"""Object-level visibility of incidents (django-rules), mirrored for querysets in selectors."""

import rules

from incidents.selectors import user_sees_all_restricted


@rules.predicate
def can_see_incident(user, incident) -> bool:
    if incident is None or user is None or not user.is_authenticated or not user.is_active:
        return False
    if not incident.is_restricted or user_sees_all_restricted(user):
        return True
    if incident.commander_id == user.pk:
        return True
    return incident.members.filter(pk=user.pk).exists()


# Object-level only: asked without an object the predicate answers False, so it grants nothing broad.
rules.add_perm("incidents.see_incident", can_see_incident)
