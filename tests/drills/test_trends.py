"""Per team, quarter over quarter: score, step times, and whether last quarter's gaps were closed."""

from django.utils import timezone

from drills import services
from drills.models import Drill
from drills.trends import drill_trends, trends_svg
from incidents.services.action_items import action_item_complete


def _completed(running_drill, facilitator, commander, quarter, gap=None, close_gap=False):
    drill = running_drill()
    services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    if gap:
        item = services.drill_add_gap(
            drill_id=drill.pk,
            title=gap,
            kind="process",
            owner=commander,
            due_date=timezone.localdate(),
            actor=facilitator,
        )
        if close_gap:
            action_item_complete(item_id=item.pk, actor=commander)
    drill = services.drill_complete(drill_id=drill.pk, actor=facilitator)
    Drill.objects.filter(pk=drill.pk).update(quarter=quarter)
    return Drill.objects.get(pk=drill.pk)


def test_trend_rows_per_quarter_with_last_quarters_gaps(running_drill, facilitator, commander, feature):
    q3 = _completed(running_drill, facilitator, commander, "2026-Q3", gap="Runbook missing")
    q4 = _completed(running_drill, facilitator, commander, "2026-Q4")
    trends = drill_trends(user=facilitator)
    rows = trends[feature.owner_team]
    assert [r.quarter for r in rows] == ["2026-Q3", "2026-Q4"]
    assert rows[0].score == q3.score and rows[1].score == q4.score
    assert (rows[0].gaps_open, rows[0].previous_gaps_open) == (1, None)
    assert (rows[1].previous_gaps_open, rows[1].previous_gaps_closed) == (1, 0)
    # Closing last quarter's gap shows on this quarter's row.
    from incidents.models import ActionItem

    action_item_complete(item_id=ActionItem.objects.get(title="Runbook missing").pk, actor=commander)
    rows = drill_trends(user=facilitator)[feature.owner_team]
    assert (rows[1].previous_gaps_open, rows[1].previous_gaps_closed) == (0, 1)
    svg = str(trends_svg(drill_trends(user=facilitator)))
    assert svg.startswith("<svg") and "2026-Q3" in svg and "2026-Q4" in svg and feature.owner_team in svg


def test_trend_chart_escapes_team_names():
    from drills.trends import QuarterRow

    svg = str(trends_svg({"<script>x</script>": [QuarterRow(quarter="2026-Q1", score=50.0)]}))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
