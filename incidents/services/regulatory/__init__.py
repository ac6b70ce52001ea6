"""Reportability decisions, regulatory obligations and their reminders.

A decision (which regimes apply, who decided, when, why, when the clock started) opens one
obligation per applicable rule, with its deadline computed by `incidents.deadlines` and its reminder
points written as rows. A beat task sends the reminder points that are due, each once, through the
outbox. Obligations end submitted (when, to whom, the reference, the exact file with its SHA-256)
or waived (Legal only, with a reason). Drills start no clocks.

Privacy incidents get a *proposed* GDPR decision from the sweep: its obligations are open at once,
because Art. 33's 72 hours run from awareness, not from the day Legal looks. Legal confirms the
proposal, or rejects it with a reason, which waives what it opened.

One clock start per trigger: a decision records awareness, discovery and the materiality determination
each with its own instant and evidence, and each regime's clock starts at its own trigger (the EU
regimes at awareness, SB 53 at discovery, the SEC's Form 8-K at the materiality determination), so
deciding them together never makes one regime's deadline late.

Reports come in chains (`DeadlineRule.opens_on`, `clock_from`): a report sent incomplete opens the next
one (AI Act Art. 73(5) complete report, GDPR Art. 33(4) next phase, Form 8-K/A); an authority's request
opens NIS2's intermediate report; a NIS2 final report sent while the incident is ongoing is a progress
report and opens the final report due a month after the incident is handled; an organisation may amend
an SB 53 report. Each step is an obligation with its deadline, reminders, submission proof and PDF.

The parts: `clocks` (rules, deadlines, reminder rows), `decisions` (reportability), `obligations`
(submissions, follow-up steps, waivers) and `reminders` (the beat task's sweeps). Import from this
package; the names below are its public interface.
"""

from .clocks import OBLIGATION_FIELDS, rules_for, utc_text
from .decisions import (
    DRILL_MESSAGE,
    is_privacy_incident,
    reportability_confirm,
    reportability_decide,
    reportability_propose_for_privacy,
    reportability_reject,
)
from .obligations import (
    file_sha256,
    obligation_amend,
    obligation_request,
    obligation_start_clock,
    obligation_submit,
    obligation_waive,
)
from .reminders import obligation_remind, privacy_proposals_due, regulatory_reminders_due

__all__ = [
    "DRILL_MESSAGE",
    "OBLIGATION_FIELDS",
    "file_sha256",
    "is_privacy_incident",
    "obligation_amend",
    "obligation_remind",
    "obligation_request",
    "obligation_start_clock",
    "obligation_submit",
    "obligation_waive",
    "privacy_proposals_due",
    "regulatory_reminders_due",
    "reportability_confirm",
    "reportability_decide",
    "reportability_propose_for_privacy",
    "reportability_reject",
    "rules_for",
    "utc_text",
]
