"""Writes for drills: one service per transition or edit.

Each locks the drill, checks `drills.run_drill`, validates, saves, writes one action-log row and,
once the drill has an incident, an entry on that incident's timeline; all in one transaction.
Messages are outbox rows (incidents.services.notifications), delivered after commit.

The parts: `common` (lock, permission, messages, transition options), `planning`, `transitions`,
`running` (injects and reminders) and `debrief`. Import from this package; the names below are its
public interface.
"""

from .common import (
    GAP_DUE_DAYS,
    TRANSITION_LABELS,
    drill_transition_blockers,
    drill_transition_options,
    user_recipients,
)
from .debrief import (
    drill_add_gap,
    drill_correct_step,
    drill_record_contact_gaps,
    drill_tick,
    escalation_path_stale_contacts,
)
from .planning import drill_plan, drill_propose, drills_propose_due
from .running import drill_release_injects, drill_send_reminder, drills_release_injects_due, drills_send_reminders_due
from .transitions import (
    TRANSITION_SERVICES,
    drill_cancel,
    drill_complete,
    drill_end_exercise,
    drill_schedule,
    drill_start,
)

__all__ = [
    "GAP_DUE_DAYS",
    "TRANSITION_LABELS",
    "TRANSITION_SERVICES",
    "drill_add_gap",
    "drill_cancel",
    "drill_complete",
    "drill_correct_step",
    "drill_end_exercise",
    "drill_plan",
    "drill_propose",
    "drill_record_contact_gaps",
    "drill_release_injects",
    "drill_schedule",
    "drill_send_reminder",
    "drill_start",
    "drill_tick",
    "drill_transition_blockers",
    "drill_transition_options",
    "drills_propose_due",
    "drills_release_injects_due",
    "drills_send_reminders_due",
    "escalation_path_stale_contacts",
    "user_recipients",
]
