"""Readiness per AI feature: the playbook's "build these before you need them", each item green or red.

All features are scored together in a fixed number of queries (features, routing rules, monitors,
templates, contacts, drills): the scorecard costs the same with two features or fifty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from audit.models import AuditRecord
from incidents.constants import Audience, ContactState
from incidents.models import (
    AIFeature,
    AlertRoutingRule,
    CommunicationTemplate,
    EscalationPolicy,
    PostMortemTemplate,
    StakeholderContact,
)
from incidents.paging_gaps import paging_gap_list

from .links import admin_url
from .models import QualityMonitor

AUDIT_FRESH = timedelta(hours=24)
KILL_SWITCH_READ_FRESH = timedelta(hours=24)


@dataclass
class ReadinessItem:
    key: str
    label: str
    ok: bool
    detail: str
    fix_url: str | None = None


@dataclass
class FeatureReadiness:
    feature: AIFeature
    items: list[ReadinessItem] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for item in self.items if item.ok)

    @property
    def percent(self) -> int:
        return round(100 * self.passed / len(self.items)) if self.items else 0

    @property
    def missing(self) -> list[str]:
        return [item.label for item in self.items if not item.ok]


@dataclass
class Scorecard:
    now: datetime
    quarter: str
    features: list[FeatureReadiness]
    # severities whose escalation policy cannot page everyone it names: shown above the features, since
    # paging does not depend on the feature (and a fresh install has no feature yet)
    paging_gaps: list = field(default_factory=list)
    # stretches of the next 7 days when an on-call schedule has no one on call (the oncall app)
    schedule_gaps: list = field(default_factory=list)

    @property
    def percent(self) -> int:
        items = [item for f in self.features for item in f.items]
        return round(100 * sum(1 for i in items if i.ok) / len(items)) if items else 0


def _drills_this_quarter(now: datetime) -> tuple[set[int] | None, str]:
    """(feature ids with a drill completed this quarter, quarter label); None when drills are not available."""
    try:
        from drills.quarters import quarter_bounds, quarter_label
        from drills.selectors import features_with_completed_drill
    except ImportError:
        return None, ""
    start, end = quarter_bounds(now, settings.TIME_ZONE)
    return features_with_completed_drill(start, end), quarter_label(now, settings.TIME_ZONE)


def _schedule_gaps(now: datetime) -> list:
    try:
        from oncall.selectors import gap_list
    except ImportError:
        return []
    return gap_list(now=now)


def _would_route(rules: list[AlertRoutingRule], feature: AIFeature, labels: dict) -> bool:
    rule = next((r for r in rules if r.matches(labels)), None)
    if rule is None:
        return False
    return rule.feature_id == feature.pk if rule.feature_id else labels.get(rule.feature_label) == feature.key


def scorecard_get(*, features=None, now: datetime | None = None) -> Scorecard:
    now = now or timezone.now()
    features_qs = (
        AIFeature.objects.select_related("kill_switch")
        .annotate(
            has_recent_audit=Exists(
                AuditRecord.objects.filter(feature=OuterRef("pk"), occurred_at__gte=now - AUDIT_FRESH)
            ),
            live_eval_cases=Count("eval_cases", filter=Q(eval_cases__retired_at__isnull=True), distinct=True),
        )
        .order_by("name")
    )
    if features is not None:
        features_qs = features_qs.filter(pk__in=[f.pk if isinstance(f, AIFeature) else f for f in features])
    rules = list(AlertRoutingRule.objects.filter(is_active=True).order_by("position", "pk"))
    monitors: dict[int, list[QualityMonitor]] = {}
    for monitor in QualityMonitor.objects.filter(is_enabled=True).select_related("feature"):
        monitors.setdefault(monitor.feature_id, []).append(monitor)
    audiences = set(CommunicationTemplate.objects.values_list("audience", flat=True))
    missing_audiences = [label for value, label in Audience.choices if value not in audiences]
    has_postmortem_template = PostMortemTemplate.objects.exists()
    path_roles = {role for roles in EscalationPolicy.objects.values_list("roles", flat=True) for role in roles}
    contacts = list(
        StakeholderContact.objects.filter(role__in=path_roles)
        .exclude(state=ContactState.RETIRED)
        .values("state")
        .annotate(n=Count("pk"))
    )
    drilled, quarter = _drills_this_quarter(now)

    links = {
        "rules": admin_url("incidents_alertroutingrule_changelist"),
        "comm": admin_url("incidents_communicationtemplate_changelist"),
        "pm": admin_url("incidents_postmortemtemplate_changelist"),
        "contacts": admin_url("incidents_stakeholdercontact_changelist"),
        "drills": admin_url("drills_drill_changelist"),
    }

    result = []
    for feature in features_qs:
        card = FeatureReadiness(feature=feature)
        add = card.items.append
        feature_url = admin_url("incidents_aifeature_change", feature.pk)
        add(
            ReadinessItem(
                "audit",
                "Audit records arrived in the last 24 hours",
                feature.has_recent_audit,
                "Records are flowing." if feature.has_recent_audit else "No audit record in the last 24 hours.",
                admin_url("audit_auditrecord_changelist", query={"feature__id__exact": feature.pk}),
            )
        )
        explicit = any(r.feature_id == feature.pk for r in rules)
        routed = [m for m in monitors.get(feature.pk, []) if _would_route(rules, feature, _labels(m))]
        alerts_ok = explicit or bool(routed)
        if routed:
            detail = f"{len(routed)} quality monitor(s) alert through a routing rule."
        elif explicit:
            detail = "A routing rule sends alerts to this feature."
        elif monitors.get(feature.pk):
            detail = "Its quality monitors match no active routing rule."
        else:
            detail = "No quality monitor and no routing rule for this feature."
        add(
            ReadinessItem(
                "alerts",
                "Quality alerts routed to it",
                alerts_ok,
                detail,
                links["rules"]
                if monitors.get(feature.pk)
                else admin_url("command_qualitymonitor_add", query={"feature": feature.pk}),
            )
        )
        switch = getattr(feature, "kill_switch", None)
        read_recently = bool(switch and switch.last_read_at and switch.last_read_at >= now - KILL_SWITCH_READ_FRESH)
        if switch is None:
            detail = "No kill switch configured."
        elif switch.last_read_at is None:
            detail = f"Configured ({feature.kill_switch_key}), but the product has never read it."
        elif not read_recently:
            when = timezone.localtime(switch.last_read_at)
            detail = f"Configured, last read {when:%Y-%m-%d %H:%M}: not in the last 24 hours."
        else:
            detail = f"Configured and read at {timezone.localtime(switch.last_read_at):%Y-%m-%d %H:%M}."
        add(
            ReadinessItem(
                "kill_switch",
                "Kill switch configured and read recently",
                read_recently,
                detail,
                admin_url("incidents_killswitch_change", switch.pk)
                if switch
                else admin_url("incidents_killswitch_changelist"),
            )
        )
        add(
            ReadinessItem(
                "rollback",
                "Rollback procedure documented",
                bool(feature.rollback_procedure.strip()),
                "Written down." if feature.rollback_procedure.strip() else "No rollback procedure on the feature.",
                feature_url,
            )
        )
        add(
            ReadinessItem(
                "fallback",
                "Fallback documented",
                bool(feature.fallback_description.strip()),
                "Written down." if feature.fallback_description.strip() else "No fallback described on the feature.",
                feature_url,
            )
        )
        add(
            ReadinessItem(
                "communication_templates",
                "Communication templates present",
                not missing_audiences,
                "One for every audience."
                if not missing_audiences
                else "Missing: " + ", ".join(missing_audiences) + ".",
                links["comm"],
            )
        )
        add(
            ReadinessItem(
                "postmortem_template",
                "Post-mortem template present",
                has_postmortem_template,
                "Present." if has_postmortem_template else "No post-mortem template.",
                links["pm"],
            )
        )
        add(_escalation_item(feature, contacts, path_roles, links["contacts"]))
        if drilled is None:
            add(ReadinessItem("drill", "A drill completed this quarter", False, "Drills not available.", None))
        else:
            done = feature.pk in drilled
            add(
                ReadinessItem(
                    "drill",
                    "A drill completed this quarter",
                    done,
                    f"Drilled in {quarter}." if done else f"No drill completed in {quarter}.",
                    links["drills"],
                )
            )
        add(
            ReadinessItem(
                "eval_bench",
                "Eval bench is not empty",
                feature.live_eval_cases > 0,
                f"{feature.live_eval_cases} case(s) on the bench." if feature.live_eval_cases else "No eval case.",
                admin_url("incidents_evalcase_changelist", query={"feature__id__exact": feature.pk}),
            )
        )
        result.append(card)
    return Scorecard(
        now=now,
        quarter=quarter,
        features=result,
        paging_gaps=paging_gap_list(),
        schedule_gaps=_schedule_gaps(now),
    )


def _labels(monitor: QualityMonitor) -> dict:
    return {"ai_feature": monitor.feature.key, "signal": monitor.routing_signal, "monitor": monitor.signal}


def _escalation_item(feature: AIFeature, contacts: list[dict], path_roles: set, url) -> ReadinessItem:
    """The escalation path: the contacts of the roles the escalation policies page (paging does not look
    at teams, so every feature shares it). A stale contact fails it: a wrong number fails on the night
    it is needed. Never-verified contacts are named in the detail."""
    total = sum(row["n"] for row in contacts)
    stale = sum(row["n"] for row in contacts if row["state"] == ContactState.STALE)
    unverified = sum(row["n"] for row in contacts if row["state"] == ContactState.UNVERIFIED)
    if not path_roles or total == 0:
        ok, detail = False, "No one on the escalation path."
    elif stale:
        ok, detail = False, f"{stale} of {total} contact(s) on the path are stale: verify them again."
    else:
        ok, detail = True, f"No stale contact among the {total} on the path."
    if unverified:
        detail += f" {unverified} never verified."
    if url and (stale or unverified):
        url = f"{url}?state__exact={ContactState.STALE if stale else ContactState.UNVERIFIED}"
    return ReadinessItem("escalation", "Escalation path has no stale contacts", ok, detail, url)
