"""Response metrics over real incidents (drills left out) the user may see.

Counts and percentiles are computed in the database: on PostgreSQL with percentile_cont over
intervals, grouped by quarter or signal, so the page is a fixed handful of queries at any size.
SQLite (the laptop default) has no percentile function: there the durations come back in one query
and the percentiles are taken in Python.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import TruncQuarter
from django.utils import timezone

from incidents.constants import Category, DetectionSignal, Severity
from incidents.models import ActionItem, ActionItemSource, EvalCase
from incidents.selectors import visible_incidents

from .aggregates import database_has_percentiles, percentile
from .dashboard import incident_filter_for
from .formatting import format_duration

__all__ = [
    "DetectionShares",
    "Metrics",
    "MetricsFilterError",
    "detection_shares_get",
    "format_duration",
    "metrics_csv_rows",
    "metrics_get",
]

DEFAULT_QUARTERS = 8
DURATIONS = {
    # name: (label, start field, end field)
    "detect": ("Time to detect", "occurred_at", "detected_at"),
    "contain": ("Time to contain", "detected_at", "contained_at"),
    "fix": ("Time to fix", "detected_at", "fixed_at"),
    "close": ("Time to close", "detected_at", "closed_at"),
}
# Found by Fireline's own signals before anyone outside saw it.
OWN_SIGNALS = [DetectionSignal.MONITORING_ALERT, DetectionSignal.USER_REPORT, DetectionSignal.INTERNAL_DISCOVERY]


class MetricsFilterError(ValueError):
    def __init__(self, field_name: str, message: str):
        self.field_name = field_name
        super().__init__(message)


def _zone():
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def quarter_label(moment: datetime) -> str:
    local = moment.astimezone(_zone())
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def quarter_start(label: str) -> datetime:
    """The aware start of "2026-Q4"; MetricsFilterError when it is not a quarter."""
    try:
        year, quarter = label.split("-Q")
        year, quarter = int(year), int(quarter)
        if not (1 <= quarter <= 4 and 2000 <= year <= 2100):
            raise ValueError
    except ValueError:
        raise MetricsFilterError("quarter", f"{label!r} is not a quarter; write it as 2026-Q4.") from None
    return datetime(year, 3 * quarter - 2, 1, tzinfo=_zone())


def next_quarter(start: datetime) -> datetime:
    return start.replace(year=start.year + 1, month=1) if start.month == 10 else start.replace(month=start.month + 3)


def previous_quarter(start: datetime) -> datetime:
    return start.replace(year=start.year - 1, month=10) if start.month == 1 else start.replace(month=start.month - 3)


@dataclass
class Percentiles:
    count: int
    median: timedelta | None
    p90: timedelta | None

    @property
    def median_text(self) -> str:
        return format_duration(self.median)

    @property
    def p90_text(self) -> str:
        return format_duration(self.p90)


@dataclass
class Metrics:
    start: datetime
    end: datetime
    quarters: list[str]
    total: int
    per_quarter: dict[str, dict[str, int]]  # quarter -> severity -> count
    per_quarter_category: dict[str, dict[str, int]]  # quarter -> category -> count
    by_category_severity: dict[str, dict[str, int]]  # category -> severity -> count
    durations: dict[str, Percentiles]
    durations_per_quarter: dict[str, dict[str, Percentiles]]  # quarter -> duration -> percentiles
    detect_by_signal: dict[str, Percentiles]
    found_before_public: int
    recurrences: int
    evals_per_quarter: dict[str, int]
    evals_before: int
    action_items_open: int
    action_items_overdue: int
    drill_action_items_open: int
    filters: dict = field(default_factory=dict)

    @property
    def found_before_public_share(self) -> float | None:
        return self.found_before_public / self.total if self.total else None

    @property
    def recurrence_rate(self) -> float | None:
        return self.recurrences / self.total if self.total else None


def _period(quarter: str, now: datetime) -> tuple[datetime, datetime, list[str]]:
    if quarter:
        start = quarter_start(quarter)
        return start, next_quarter(start), [quarter]
    start = quarter_start(quarter_label(now))
    end = next_quarter(start)
    for _ in range(DEFAULT_QUARTERS - 1):
        start = previous_quarter(start)
    labels, moment = [], start
    while moment < end:
        labels.append(quarter_label(moment))
        moment = next_quarter(moment)
    return start, end, labels


# GROUPING(...) is a bit mask, the first column the highest bit; a set bit is a column not grouped by.
# Counts: GROUPING(q, category, severity); percentiles: GROUPING(q, detection_signal).
_COUNTS_ALL, _COUNTS_BY_QUARTER_CATEGORY_SEVERITY = 0b111, 0b000
_PERCENTILES_ALL, _PERCENTILES_BY_QUARTER, _PERCENTILES_BY_SIGNAL = 0b11, 0b01, 0b10


def _label_of(moment) -> str:
    """Quarter label of DATE_TRUNC's result, already in the display time zone (naive)."""
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def _pg_everything(incidents, quarter_of) -> tuple:
    """Counts, totals and every percentile in two queries with GROUP BY GROUPING SETS over the visible
    incidents, instead of one query per grouping; percentile_cont(ARRAY[0.5, 0.9]) sorts once for both.
    """
    base_sql, base_params = (
        incidents.annotate(q=quarter_of)
        .values(
            "q",
            "category",
            "severity",
            "detection_signal",
            "occurred_at",
            "detected_at",
            "contained_at",
            "fixed_at",
            "closed_at",
            "went_public_at",
            "recurrence_of",
        )
        .order_by()
        .query.sql_with_params()
    )
    measures = []
    for name, (_label, start_field, end_field) in DURATIONS.items():
        seconds = f"date_part('epoch', {end_field} - {start_field})"  # double precision, unlike EXTRACT
        measures.append(
            f"COUNT({seconds}) AS {name}_n, "
            f"percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {seconds}) AS {name}_p"
        )
    placeholders = ", ".join(["%s"] * len(OWN_SIGNALS))
    # Two scans: counts are cheap to group finely; percentiles sort, so they are grouped only as shown.
    count_list = ", ".join(
        [
            "GROUPING(q, category, severity) AS g, q, category, severity",
            "COUNT(*) AS n",
            f"COUNT(*) FILTER (WHERE detection_signal IN ({placeholders}) "
            "AND (went_public_at IS NULL OR went_public_at > detected_at)) AS before_public",
            "COUNT(recurrence_of) AS recurrences",
        ]
    )
    percentile_list = ", ".join(["GROUPING(q, detection_signal) AS g, q, detection_signal", *measures])
    # base_sql is the ORM's compiled query (its values are bound parameters); the rest is constant text.
    count_sql = (
        f"SELECT {count_list} FROM ({base_sql}) AS i "  # noqa: S608
        "GROUP BY GROUPING SETS ((), (q, category, severity))"
    )
    percentile_sql = (
        f"SELECT {percentile_list} FROM ({base_sql}) AS i "  # noqa: S608
        "GROUP BY GROUPING SETS ((), (q), (detection_signal))"
    )
    rows = []
    with connection.cursor() as cursor:
        for sql, params in ((count_sql, [*OWN_SIGNALS, *base_params]), (percentile_sql, base_params)):
            cursor.execute(sql, params)
            columns = [c.name for c in cursor.description]
            rows.extend(dict(zip(columns, row, strict=True)) for row in cursor.fetchall())
    counts, totals, overall, by_quarter, by_signal = [], {"n": 0, "before_public": 0, "recurrences": 0}, {}, {}, {}
    for row in rows:
        if "n" in row:
            if row["g"] == _COUNTS_ALL:
                totals = {key: row[key] for key in ("n", "before_public", "recurrences")}
            elif row["g"] == _COUNTS_BY_QUARTER_CATEGORY_SEVERITY:
                counts.append((_label_of(row["q"]), row["category"], row["severity"], row["n"]))
            continue
        summary = {}
        for name in DURATIONS:
            low, high = row[f"{name}_p"] or (None, None)
            summary[f"{name}_n"] = row[f"{name}_n"]
            summary[f"{name}_median"] = timedelta(seconds=low) if low is not None else None
            summary[f"{name}_p90"] = timedelta(seconds=high) if high is not None else None
        if row["g"] == _PERCENTILES_ALL:
            overall = summary
        elif row["g"] == _PERCENTILES_BY_QUARTER:
            by_quarter[_label_of(row["q"])] = summary
        elif row["g"] == _PERCENTILES_BY_SIGNAL:
            by_signal[row["detection_signal"]] = summary
    return counts, totals, overall, by_quarter, by_signal


def _percentiles_from(row: dict, name: str) -> Percentiles:
    return Percentiles(row.get(f"{name}_n", 0), row.get(f"{name}_median"), row.get(f"{name}_p90"))


def _python_percentiles(rows: list[tuple], key_index: int | None) -> dict:
    """rows: (group, occurred, detected, contained, fixed, closed); the same shape _pg_percentiles returns."""
    index = {"occurred_at": 1, "detected_at": 2, "contained_at": 3, "fixed_at": 4, "closed_at": 5}
    groups: dict = {}
    for row in rows:
        groups.setdefault(row[0] if key_index is not None else None, []).append(row)
    out = {}
    for key, members in groups.items():
        summary = {"n": len(members)}
        for name, (_label, start_field, end_field) in DURATIONS.items():
            values = [
                (r[index[end_field]] - r[index[start_field]]).total_seconds()
                for r in members
                if r[index[end_field]] is not None and r[index[start_field]] is not None
            ]
            median, p90 = percentile(values, 0.5), percentile(values, 0.9)
            summary[f"{name}_n"] = len(values)
            summary[f"{name}_median"] = timedelta(seconds=median) if median is not None else None
            summary[f"{name}_p90"] = timedelta(seconds=p90) if p90 is not None else None
        out[key] = summary
    return out


def metrics_get(*, user, feature=None, category: str = "", quarter: str = "", now: datetime | None = None) -> Metrics:
    now = now or timezone.now()
    if category and category not in Category.values:
        raise MetricsFilterError("category", f"{category!r} is not one of the six categories.")
    start, end, labels = _period(quarter, now)
    incidents = visible_incidents(user=user).real().filter(detected_at__gte=start, detected_at__lt=end)
    if feature is not None:
        incidents = incidents.filter(feature=feature)
    if category:
        incidents = incidents.filter(category=category)
    quarter_of = TruncQuarter("detected_at", tzinfo=_zone())

    per_quarter = {label: {s: 0 for s in [*Severity.values, ""]} for label in labels}
    per_quarter_category = {label: {c: 0 for c in [*Category.values, ""]} for label in labels}
    by_category_severity = {c: {s: 0 for s in [*Severity.values, ""]} for c in [*Category.values, ""]}
    if database_has_percentiles():
        counts, totals, overall, by_quarter, by_signal = _pg_everything(incidents, quarter_of)
    else:
        counts = [
            (quarter_label(row["q"]), row["category"], row["severity"], row["n"])
            for row in incidents.annotate(q=quarter_of)
            .values("q", "category", "severity")
            .annotate(n=Count("pk"))
            .order_by()
        ]
        totals = incidents.aggregate(
            n=Count("pk"),
            before_public=Count(
                "pk",
                filter=Q(detection_signal__in=OWN_SIGNALS)
                & (Q(went_public_at__isnull=True) | Q(went_public_at__gt=F("detected_at"))),
            ),
            recurrences=Count("pk", filter=Q(recurrence_of__isnull=False)),
        )
        rows = list(
            incidents.annotate(q=quarter_of).values_list(
                "q", "occurred_at", "detected_at", "contained_at", "fixed_at", "closed_at", "detection_signal"
            )
        )
        overall = _python_percentiles(rows, None).get(None, {})
        by_quarter = {quarter_label(k): v for k, v in _python_percentiles(rows, 0).items()}
        by_signal = _python_percentiles([(r[6], *r[1:6]) for r in rows], 0)
    for label, category_value, severity, n in counts:
        if label in per_quarter:
            per_quarter[label][severity] += n
            per_quarter_category[label][category_value] += n
        by_category_severity[category_value][severity] += n
    durations = {name: _percentiles_from(overall, name) for name in DURATIONS}
    durations_per_quarter = {
        label: {name: _percentiles_from(by_quarter.get(label, {}), name) for name in DURATIONS} for label in labels
    }
    detect_by_signal = {
        signal: _percentiles_from(by_signal.get(signal, {}), "detect") for signal in DetectionSignal.values
    }

    evals = EvalCase.objects.all()
    if feature is not None:
        evals = evals.filter(feature=feature)
    if category:
        evals = evals.filter(failure_category=category)
    eval_rows = evals.aggregate(before=Count("pk", filter=Q(created_at__lt=start)))
    evals_per_quarter = dict.fromkeys(labels, 0)
    for row in (
        evals.filter(created_at__gte=start, created_at__lt=end)
        .annotate(q=TruncQuarter("created_at", tzinfo=_zone()))
        .values("q")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        evals_per_quarter[quarter_label(row["q"])] = evals_per_quarter.get(quarter_label(row["q"]), 0) + row["n"]

    items = ActionItem.objects.filter(incident_filter_for(user)).open()
    if feature is not None:
        items = items.filter(incident__feature=feature)
    if category:
        items = items.filter(incident__category=category)
    today = timezone.localdate(now)
    real = Q(incident__is_drill=False) & ~Q(source=ActionItemSource.DRILL)
    item_counts = items.aggregate(
        open=Count("pk", filter=real),
        overdue=Count("pk", filter=real & Q(due_date__lt=today)),
        drills=Count("pk", filter=~real),
    )

    return Metrics(
        start=start,
        end=end,
        quarters=labels,
        total=totals["n"],
        per_quarter=per_quarter,
        per_quarter_category=per_quarter_category,
        by_category_severity=by_category_severity,
        durations=durations,
        durations_per_quarter=durations_per_quarter,
        detect_by_signal=detect_by_signal,
        found_before_public=totals["before_public"],
        recurrences=totals["recurrences"],
        evals_per_quarter=evals_per_quarter,
        evals_before=eval_rows["before"],
        action_items_open=item_counts["open"],
        action_items_overdue=item_counts["overdue"],
        drill_action_items_open=item_counts["drills"],
        filters={"feature": feature, "category": category, "quarter": quarter},
    )


def metrics_csv_rows(metrics: Metrics) -> list[list]:
    """The metrics as the CSV's rows: section, quarter, key, sub-key, value (durations in seconds)."""
    rows: list[list] = [["section", "quarter", "key", "subkey", "value"]]
    for quarter in metrics.quarters:
        for severity, count in metrics.per_quarter[quarter].items():
            rows.append(["incidents_by_severity", quarter, severity or "untriaged", "", count])
        for category, count in metrics.per_quarter_category[quarter].items():
            rows.append(["incidents_by_category", quarter, category or "none", "", count])
    for name in DURATIONS:
        p = metrics.durations[name]
        for stat, value in (("median", p.median), ("p90", p.p90)):
            rows.append([f"time_to_{name}", "all", stat, "seconds", _csv_seconds(value)])
        rows.append([f"time_to_{name}", "all", "count", "", p.count])
        for quarter in metrics.quarters:
            q = metrics.durations_per_quarter[quarter][name]
            rows.append([f"time_to_{name}", quarter, "median", "seconds", _csv_seconds(q.median)])
            rows.append([f"time_to_{name}", quarter, "p90", "seconds", _csv_seconds(q.p90)])
    for signal, p in metrics.detect_by_signal.items():
        rows.append(["time_to_detect_by_signal", "all", signal, "median_seconds", _csv_seconds(p.median)])
        rows.append(["time_to_detect_by_signal", "all", signal, "p90_seconds", _csv_seconds(p.p90)])
        rows.append(["time_to_detect_by_signal", "all", signal, "count", p.count])
    rows.append(["incidents", "all", "total", "", metrics.total])
    rows.append(["found_before_public", "all", "count", "", metrics.found_before_public])
    rows.append(["found_before_public", "all", "share", "", _csv_share(metrics.found_before_public_share)])
    rows.append(["recurrence", "all", "count", "", metrics.recurrences])
    rows.append(["recurrence", "all", "rate", "", _csv_share(metrics.recurrence_rate)])
    rows.append(["eval_bench", "before", "cases", "", metrics.evals_before])
    for quarter in metrics.quarters:
        rows.append(["eval_bench", quarter, "added", "", metrics.evals_per_quarter.get(quarter, 0)])
    rows.append(["action_items", "now", "open", "", metrics.action_items_open])
    rows.append(["action_items", "now", "overdue", "", metrics.action_items_overdue])
    rows.append(["action_items", "now", "open_from_drills", "", metrics.drill_action_items_open])
    return rows


def _csv_seconds(value: timedelta | None):
    return "" if value is None else round(value.total_seconds(), 1)


def _csv_share(value: float | None):
    return "" if value is None else round(value, 4)


# How incidents were found, as the incident list sums it up; the order is the playbook's hope: caught by
# Fireline's own monitoring first, by the press last.
DETECTION_SHARE_LABELS = [
    (DetectionSignal.MONITORING_ALERT, "monitoring"),
    (DetectionSignal.USER_REPORT, "user reports"),
    (DetectionSignal.INTERNAL_DISCOVERY, "internal"),
    (DetectionSignal.EXTERNAL_ATTENTION, "external attention"),
]


@dataclass(frozen=True)
class DetectionShare:
    signal: str
    label: str
    count: int
    percent: int
    time_to_detect: timedelta | None  # the mean, over incidents whose start is known


@dataclass(frozen=True)
class DetectionShares:
    total: int
    shares: list[DetectionShare]

    @property
    def times_to_detect(self) -> list[tuple[str, timedelta]]:
        return [(share.label, share.time_to_detect) for share in self.shares if share.time_to_detect]


def detection_shares_get(*, user) -> DetectionShares | None:
    """How incidents were found, over the real (non-drill) incidents this user can see; None when there are none.

    The playbook's aim is to hear of a problem from monitoring or users before it is public: a growing
    "external attention" share says detection is failing. One GROUP BY query.
    """
    rows = {
        row["detection_signal"]: row
        for row in visible_incidents(user=user)
        .real()
        .order_by()
        .values("detection_signal")
        .annotate(
            count=Count("pk"),
            time_to_detect=Avg(
                ExpressionWrapper(F("detected_at") - F("occurred_at"), output_field=DurationField()),
                filter=Q(occurred_at__isnull=False),
            ),
        )
    }
    total = sum(row["count"] for row in rows.values())
    if not total:
        return None
    shares = []
    for signal, label in DETECTION_SHARE_LABELS:
        row = rows.get(signal, {"count": 0, "time_to_detect": None})
        shares.append(
            DetectionShare(
                signal=signal,
                label=label,
                count=row["count"],
                percent=round(100 * row["count"] / total),
                time_to_detect=row["time_to_detect"],
            )
        )
    return DetectionShares(total=total, shares=shares)
