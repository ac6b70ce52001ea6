"""Step timings and the drill score.

The score rule, shown on the drill page and in the report:

- 70 points for the six steps (detect, triage, contain, investigate, fix, communicate), weighted
  equally: a step done by its target minute earns its full share, a step done late earns half, a step
  never done (or done after the exercise ended) earns nothing.
- 30 points for the checklist: the share of the scenario's expected actions the facilitator ticked.
  A scenario without expected actions gives the steps all 100 points.
- The total is rounded half up to a whole number, 0-100.

While the drill runs, a step not done yet is Pending until its target time (start + target minutes)
has passed, then Missed (it can still turn Late). Pending steps are left out of the provisional
score, which is over the steps decided so far. Once the exercise ends (debrief, completed, cancelled)
nothing is pending: a step not done is Missed.

Step times count from the moment the drill started; a facilitator's correction replaces the time read
from the incident.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .constants import STEP_SOURCES, Step, StepStatus

STEP_POINTS = 70
CHECKLIST_POINTS = 30
STEP_CREDIT = {StepStatus.ON_TIME: Decimal(1), StepStatus.LATE: Decimal("0.5"), StepStatus.MISSED: Decimal(0)}

# Only while the drill runs: no time recorded and the target time still ahead. Never stored (the
# score and the action log are written once the exercise is over), so it is not a StepStatus choice.
PENDING = "pending"
STATUS_LABELS = {**dict(StepStatus.choices), PENDING: "Pending"}

SCORE_RULE = (
    "Score 0-100: 70 points for the six steps, weighted equally (on time = full share, late = half, "
    "missed = none); 30 points for the share of expected actions ticked (a scenario without expected "
    "actions gives the steps all 100). Rounded half up. While the drill runs, a step whose target time "
    "has not come yet is pending and left out of the provisional score; when the exercise ends, a step "
    "not done is missed."
)


@dataclass
class StepResult:
    step: str
    target_minutes: int
    occurred_at: datetime.datetime | None
    minutes: float | None
    status: str
    is_corrected: bool = False
    correction_reason: str = ""
    recorded_at: datetime.datetime | None = None  # what the incident said, when corrected
    due_at: datetime.datetime | None = None  # the drill's start + the target minutes

    @property
    def label(self) -> str:
        return Step(self.step).label

    @property
    def source(self) -> str:
        return STEP_SOURCES[Step(self.step)]

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def is_pending(self) -> bool:
        return self.status == PENDING

    @property
    def minutes_text(self) -> str:
        return "—" if self.minutes is None else f"{self.minutes:.0f} min"


def step_status(minutes: float | None, target: int, *, is_due: bool = True) -> str:
    """On time, late or missed; a step not done is pending while `is_due` is False (its target time is ahead)."""
    if minutes is None:
        return StepStatus.MISSED if is_due else PENDING
    return StepStatus.ON_TIME if minutes <= target else StepStatus.LATE


def step_result(
    *,
    step: str,
    target_minutes: int,
    started_at: datetime.datetime,
    ended_at: datetime.datetime | None,
    occurred_at: datetime.datetime | None,
    now: datetime.datetime | None = None,
) -> StepResult:
    """A step done after the exercise ended (or before it started) does not count.

    `now` is given while the drill runs (the exercise has not ended): a step not done whose target time
    is after `now` is pending. Without it the exercise is over and a step not done is missed.
    """
    minutes = None
    if occurred_at is not None and occurred_at >= started_at and (ended_at is None or occurred_at <= ended_at):
        minutes = (occurred_at - started_at).total_seconds() / 60
    due_at = started_at + datetime.timedelta(minutes=target_minutes)
    return StepResult(
        step=step,
        target_minutes=target_minutes,
        occurred_at=occurred_at,
        minutes=minutes,
        status=step_status(minutes, target_minutes, is_due=now is None or now > due_at),
        due_at=due_at,
    )


def drill_score(statuses: list[str], ticked: int, total: int) -> int | None:
    """The 0-100 score from the step statuses and the checklist (see the module docstring).

    Pending steps are left out; None while every step is pending (nothing to score yet).
    """
    if not statuses:
        return 0
    statuses = [s for s in statuses if s != PENDING]
    if not statuses:
        return None
    step_share = sum(STEP_CREDIT[StepStatus(s)] for s in statuses) / Decimal(len(statuses))
    if total:
        value = STEP_POINTS * step_share + CHECKLIST_POINTS * Decimal(ticked) / Decimal(total)
    else:
        value = 100 * step_share
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
