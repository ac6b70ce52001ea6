"""The documented score rule, on known inputs."""

import datetime

import pytest

from drills.constants import StepStatus
from drills.scoring import SCORE_RULE, drill_score, step_result

ON, LATE, MISSED = StepStatus.ON_TIME, StepStatus.LATE, StepStatus.MISSED


@pytest.mark.parametrize(
    ("statuses", "ticked", "total", "expected"),
    [
        ([ON] * 6, 5, 5, 100),
        ([MISSED] * 6, 0, 5, 0),
        ([LATE] * 6, 0, 4, 35),  # 70 * 0.5
        ([ON] * 6, 0, 4, 70),
        ([MISSED] * 6, 4, 4, 30),
        # 70 * (1 + 1 + 0.5 + 0 + 0 + 1) / 6 = 40.83; + 30 * 3/5 = 18 -> 58.83 -> 59
        ([ON, ON, LATE, MISSED, MISSED, ON], 3, 5, 59),
        # No checklist: the steps carry all 100 points. 100 * 3.5 / 6 = 58.33 -> 58
        ([ON, ON, LATE, MISSED, MISSED, ON], 0, 0, 58),
        # 70 * 0.5 / 6 = 5.83 + 30 * 1/2 = 15 -> 20.83 -> 21
        ([LATE, MISSED, MISSED, MISSED, MISSED, MISSED], 1, 2, 21),
    ],
)
def test_score_rule(statuses, ticked, total, expected):
    assert drill_score(statuses, ticked, total) == expected


def test_half_points_round_up():
    # 70 * 0.25 (three of six steps late = 1.5/6) = 17.5 -> 18 with an empty checklist share
    assert drill_score([LATE, LATE, LATE, MISSED, MISSED, MISSED], 0, 1) == 18


def test_rule_is_written_down():
    assert "70 points" in SCORE_RULE and "30 points" in SCORE_RULE and "half" in SCORE_RULE


START = datetime.datetime(2026, 5, 1, 10, 0, tzinfo=datetime.UTC)


def test_step_on_the_target_minute_is_on_time_one_second_later_is_late():
    exact = step_result(
        step="triage",
        target_minutes=15,
        started_at=START,
        ended_at=None,
        occurred_at=START + datetime.timedelta(minutes=15),
    )
    late = step_result(
        step="triage",
        target_minutes=15,
        started_at=START,
        ended_at=None,
        occurred_at=START + datetime.timedelta(minutes=15, seconds=1),
    )
    assert (exact.status, late.status) == (ON, LATE)


def test_step_after_the_exercise_ended_is_missed():
    result = step_result(
        step="fix",
        target_minutes=60,
        started_at=START,
        ended_at=START + datetime.timedelta(minutes=30),
        occurred_at=START + datetime.timedelta(minutes=45),
    )
    assert result.status == MISSED and result.minutes is None
