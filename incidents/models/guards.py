"""Guards of the incident state machine.

Each guard is a named function whose name reads as the condition, and whose `failure` text is what
the incident page shows when the guard stops a transition. Guards only read the incident.
"""

from incidents.constants import LOW_SEVERITIES, PageState

from .evals import evals_blockers

OPEN_PAGE_STATES = (PageState.PENDING, PageState.SENT, PageState.FAILED)


def _failure(message: str):
    def mark(func):
        func.failure = message
        return func

    return mark


@_failure("Set the category first.")
def has_category(incident) -> bool:
    return bool(incident.category)


@_failure("The triage matrix has not given a severity yet (set the category and impact).")
def has_severity(incident) -> bool:
    return bool(incident.severity)


@_failure("Assign an incident commander.")
def has_commander(incident) -> bool:
    return incident.commander_id is not None


@_failure("Record an active containment action first (kill switch, rollback, fallback, cohort or moderation).")
def has_active_containment(incident) -> bool:
    return incident.containment_actions.filter(reverted_at__isnull=True).exists()


def _unattended_containment_failure(incident) -> str:
    names = [
        f"{action.get_action_type_display()} (since {action.performed_at:%Y-%m-%d %H:%M} UTC)"
        for action in unattended_containment(incident)
    ]
    return f"Still in force: {'; '.join(names)}. Lift each, or hand it over to a named owner with a reason."


def unattended_containment(incident):
    """Reversible containment still in force that nobody has taken over (irreversible actions stay by nature)."""
    return incident.containment_actions.filter(
        reverted_at__isnull=True, handed_over_at__isnull=True, is_reversible=True
    )


def has_no_unattended_containment(incident) -> bool:
    """Closing never leaves a kill switch silently held: every active containment is lifted or handed over."""
    return not unattended_containment(incident).exists()


has_no_unattended_containment.failure = _unattended_containment_failure


def _open_pages_failure(incident) -> str:
    names = sorted({page.contact.name for page in incident.pages.filter(state__in=OPEN_PAGE_STATES)})
    return f"Pages still waiting for an answer ({', '.join(names)}): acknowledge or cancel them."


def has_no_open_pages(incident) -> bool:
    """Nobody is still being paged (and escalated to) about an incident that is closing."""
    return not incident.pages.filter(state__in=OPEN_PAGE_STATES).exists()


has_no_open_pages.failure = _open_pages_failure


@_failure("Only a drill's own incident closes with its drill.")
def is_drill_incident(incident) -> bool:
    return incident.is_drill


@_failure("Only SEV3 and SEV4 incidents may skip containment.")
def is_low_severity(incident) -> bool:
    return incident.severity in LOW_SEVERITIES


@_failure("Give the reason for going on without containment.")
def has_containment_skip_reason(incident) -> bool:
    return bool((incident.containment_skip_reason or "").strip())


@_failure("Record the root cause and its layer.")
def has_root_cause(incident) -> bool:
    return bool(incident.root_cause_layer and (incident.root_cause or "").strip())


@_failure("Describe the fix and its layer.")
def has_fix(incident) -> bool:
    return bool(incident.fix_layer and (incident.fix_description or "").strip())


@_failure("The fix is at another layer than the root cause: write why that fixes it.")
def fix_layer_matches_root_cause_or_is_justified(incident) -> bool:
    if not incident.fix_layer or incident.fix_layer == incident.root_cause_layer:
        return True
    return bool((incident.fix_layer_justification or "").strip())


@_failure("The eval cases do not prove the fix yet (see the Evals card).")
def evals_prove_the_fix(incident) -> bool:
    """Fixed is a rate: every linked case's latest run passes the severity's Wilson bound."""
    return not evals_blockers(incident)


@_failure("The triage matrix requires a post-mortem: publish it first (draft, review, approve, publish).")
def has_published_postmortem_if_required(incident) -> bool:
    """User-impacting incidents close only once their post-mortem has been reviewed and published."""
    from .postmortems import PostMortem, PostMortemState

    if not incident.requires_postmortem:
        return True
    return PostMortem.objects.filter(incident_id=incident.pk, state=PostMortemState.PUBLISHED).exists()


def _missing_audiences(incident) -> list[str]:
    from incidents.constants import Audience

    from .communications import Communication, CommunicationState

    required = list(incident.required_communications or [])
    if not required:
        return []
    sent = set(
        Communication.objects.filter(
            incident_id=incident.pk, audience__in=required, state=CommunicationState.SENT
        ).values_list("audience", flat=True)
    )
    labels = dict(Audience.choices)
    return [str(labels.get(a, a)).lower() for a in required if a not in sent]


def _communications_failure(incident) -> str:
    missing = ", ".join(_missing_audiences(incident))
    return f"The triage matrix requires communications: send (draft, approve, send) the update to {missing} first."


def has_required_communications_sent(incident) -> bool:
    """Closing waits for one sent communication per audience the triage matrix requires."""
    return not _missing_audiences(incident)


has_required_communications_sent.failure = _communications_failure


@_failure("Every regulatory obligation must be submitted or waived first (see the Regulatory card).")
def regulatory_obligations_submitted_or_waived(incident) -> bool:
    """A legal deadline does not end when the incident does: closing waits for every report owed."""
    return not incident.regulatory_obligations.filter(state="open").exists()


@_failure("Choose why the incident is dismissed (false alarm or duplicate).")
def has_dismiss_reason(incident) -> bool:
    return bool(incident.dismiss_reason)


@_failure("Name the incident this one duplicates.")
def names_duplicate_if_duplicate(incident) -> bool:
    return incident.dismiss_reason != "duplicate" or incident.duplicate_of_id is not None


@_failure("Give the reason for reopening (the regression or recurrence seen).")
def has_reopen_reason(incident) -> bool:
    return bool((incident.reopen_reason or "").strip())
