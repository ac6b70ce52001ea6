"""Alert intake: store the raw payload, parse it, route each alert, deduplicate, open or update incidents.

`alert_intake` keeps every payload it is given. The raw payload and what it did (alerts, incidents,
counters) are committed together in one transaction, so a 202 means both are stored; a payload the
parser refuses, or one whose processing fails, is stored on its own with its error for a person to
look at (the failed attempt leaves nothing else behind). One commit per payload is what lets the
endpoint keep up with an alert storm; on PostgreSQL it is one statement (see alert_statements).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from config.json_input import printable
from incidents.constants import OPEN_STATES, DetectionSignal, Impact, TimelineKind
from incidents.models import (
    AIFeature,
    Alert,
    AlertDedupKey,
    AlertPayload,
    AlertRoutingRule,
    AlertState,
    Incident,
    PayloadStatus,
    TimelineEntry,
)
from incidents.selectors import visible_incidents

from . import alert_statements as statements
from . import hotcache
from .alert_parsing import AlertParseError, ParsedAlert, ParsedPayload, clamp_past, parse_payload
from .alert_statements import LAST_SEEN_GRANULARITY, REPEAT_WINDOW, KnownIncident, repeat_prefix
from .incidents import incident_open
from .workflow import timeline_add

# The routing rules and AI features, read on every payload, change rarely: kept in the cache and in
# each web process (see hotcache), dropped everywhere when a rule or a feature is saved or deleted.
# The shared entry also expires, which bounds how long a fill racing with a change can keep old rules.
ROUTING_CACHE_KEY = "fireline:alert-routing"
ROUTING_CACHE_SECONDS = 30


def _routing() -> tuple[list[AlertRoutingRule], dict[str, AIFeature]]:
    cached = hotcache.get(ROUTING_CACHE_KEY)
    if cached is None:
        rules = list(AlertRoutingRule.objects.filter(is_active=True).select_related("feature"))
        features = {feature.key: feature for feature in AIFeature.objects.all()}
        cached = (rules, features)
        cache.set(ROUTING_CACHE_KEY, cached, ROUTING_CACHE_SECONDS)
    return cached


def routing_cache_clear() -> None:
    cache.delete(ROUTING_CACHE_KEY)
    hotcache.invalidate([ROUTING_CACHE_KEY])


def routing_changed(**kwargs) -> None:
    """Signal receiver: a routing rule or an AI feature changed.

    Forgotten now (this transaction may route alerts next) and again once the change commits (another
    process may have filled the cache with the old rows in between).
    """
    routing_cache_clear()
    transaction.on_commit(routing_cache_clear)


IMPACT_FIELDS = {
    Impact.LIMITED: {},
    Impact.WIDESPREAD: {"users_affected": None},  # filled with the widespread threshold
    Impact.PUBLIC: {"is_public": True},
    Impact.REGULATORY: {"involves_privacy": True},
}


def _new_payload(*, integration: str, body: bytes, content_type: str, token=None) -> AlertPayload:
    return AlertPayload(
        integration=integration,
        # PostgreSQL text cannot hold NUL: keep it visible as U+FFFD rather than refuse the payload.
        body=body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
        content_type=content_type[:200],
        token=token,
    )


def _store_failed(payload: AlertPayload, error: str) -> None:
    """Keep the raw payload with its error, in its own transaction (a failed attempt was rolled back)."""
    payload.pk = None
    payload._state.adding = True
    payload.status = PayloadStatus.FAILED
    payload.error = printable(error[:5000])
    payload.result = {}
    payload.processed_at = timezone.now()
    with transaction.atomic():
        payload.save()


def alert_intake(*, integration: str, body: bytes, content_type: str, token=None) -> tuple[AlertPayload, dict]:
    """Store and process one payload: (payload, result).

    Raises AlertParseError for bad input and re-raises anything else that fails; either way the raw
    payload is stored first with its error (the exception's `payload` attribute), and nothing of the
    failed attempt stays behind. An alert of a batch that cannot be read refuses only itself: the others
    are routed, and the result (stored with the payload) lists it under `refused` with its field errors.
    """
    payload = _new_payload(integration=integration, body=body, content_type=content_type, token=token)
    try:
        parsed = parse_payload(payload.integration, payload.body, payload.content_type)
    except AlertParseError as exc:
        _store_failed(payload, str(exc))
        exc.payload = payload
        raise
    try:
        result = _route_all(payload, parsed)
    except Exception as exc:
        _store_failed(payload, f"{exc.__class__.__name__}: {exc}")
        exc.payload = payload
        raise
    return payload, result


def _route(alert: ParsedAlert, rules: list[AlertRoutingRule], features: dict) -> tuple:
    """(rule, feature, why-not) for one alert."""
    rule = next((r for r in rules if r.matches(alert.labels)), None)
    if rule is None:
        return None, None, "no routing rule matches its labels"
    feature = rule.feature
    if feature is None:
        key = alert.labels.get(rule.feature_label)
        if not key:
            return rule, None, f"it has no '{rule.feature_label}' label"
        feature = features.get(key)
        if feature is None:
            return rule, None, f"no AI feature has the key '{key}'"
    return rule, feature, ""


def _impact_fields(impact: str) -> dict:
    fields = dict(IMPACT_FIELDS[Impact(impact)])
    if "users_affected" in fields:
        fields["users_affected"] = settings.FIRELINE_WIDESPREAD_USERS
    return fields


def _keys_for(integration: str, alert) -> list[str]:
    """Dedup keys of a parsed or a stored alert: its fingerprint, and its group when it has one."""
    keys = [f"fp:{alert.fingerprint}"]
    if alert.group_key:
        keys.append(f"group:{integration}:{alert.group_key}")
    return keys


def _point_keys(keys: list[str], incident: Incident) -> None:
    for key in keys:
        try:
            with transaction.atomic():
                AlertDedupKey.objects.update_or_create(key=key, defaults={"incident": incident})
        except IntegrityError:  # another request created it a moment ago: point it at ours
            AlertDedupKey.objects.filter(key=key).update(incident=incident)


def _serialize_on(keys: set[str]) -> None:
    """Make concurrent payloads for the same fingerprint or group wait for each other (PostgreSQL).

    All of a payload's keys are locked up front, in one order, so two payloads never deadlock.
    SQLite needs nothing: it lets one writer in at a time.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(%s::text[]) AS k ORDER BY k",
            [sorted(keys)],
        )


def _read_keys(keys: set[str]) -> tuple[dict[str, KnownIncident], set[str]]:
    """Which incident each known key points to, and which keys' "last seen" is due for an update."""
    if connection.vendor == "postgresql":
        return statements.read_keys(keys)
    rows = AlertDedupKey.objects.filter(key__in=keys).values_list(
        "key", "incident_id", "incident__state", "last_seen_at"
    )
    known, stale_seen = {}, set()
    due = timezone.now() - LAST_SEEN_GRANULARITY
    for key, incident_id, state, last_seen_at in rows:
        known[key] = KnownIncident(incident_id, state)
        # "last seen" is kept to the minute: a storm does not rewrite the same rows on every request.
        if last_seen_at < due:
            stale_seen.add(key)
    return known, stale_seen


class _MustOpen(Exception):
    """An alert of the payload opens an incident: route it again under the group lock."""


@dataclass
class _Routed:
    """What one payload does, worked out before anything of it is written."""

    alerts: list[dict] = field(default_factory=list)  # Alert columns, in the payload's order
    notes: list[tuple[int, datetime, str]] = field(default_factory=list)  # (incident id, occurred at, text)
    repeats: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))  # (incident, name)
    seen_keys: set[str] = field(default_factory=set)
    opened: list[int] = field(default_factory=list)
    updated: set[int] = field(default_factory=set)
    recurrences: list[int] = field(default_factory=list)
    deduplicated: int = 0
    inboxed: int = 0
    resolved: int = 0
    refused: list[dict] = field(default_factory=list)  # alerts of the batch that could not be read

    def result(self) -> dict:
        return {
            "alerts": len(self.alerts),
            "incidents_opened": self.opened,
            "incidents_updated": sorted(self.updated - set(self.opened)),
            "recurrences": self.recurrences,
            "deduplicated": self.deduplicated,
            "inboxed": self.inboxed,
            "resolved": self.resolved,
            "refused": self.refused,
        }

    def counts(self) -> dict[int, int]:
        """Alerts to add to each incident's counter: its repeated firings."""
        per_incident = defaultdict(int)
        for (incident_id, _), count in self.repeats.items():
            per_incident[incident_id] += count
        return per_incident


def _plan(
    payload: AlertPayload, parsed: list[ParsedAlert], known: dict, stale_seen: set, may_open: bool, refused=()
) -> _Routed:
    """Route every alert of a payload. Opens incidents only when `may_open` (under the lock); otherwise
    an alert that would open one raises _MustOpen before anything is written."""
    rules, features = _routing()
    routed = _Routed(refused=list(refused))
    for alert in parsed:
        keys = _keys_for(payload.integration, alert)
        mine = [known[k] for k in keys if k in known]
        open_incident = next((i for i in mine if i.state in OPEN_STATES), None)
        row = {
            "status": alert.status,
            "fingerprint": alert.fingerprint,
            "group_key": alert.group_key,
            "name": alert.name,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "starts_at": alert.starts_at,
            "ends_at": alert.ends_at,
            "generator_url": alert.generator_url[:1000],
            "state": AlertState.ROUTED.value,
            "is_duplicate": False,
            "incident_id": None,
            "rule_id": None,
        }
        routed.alerts.append(row)
        if alert.status == "resolved":
            routed.resolved += 1
            if open_incident is None:
                row["state"] = AlertState.DISMISSED.value  # resolved before anything was opened for it
                continue
            row["incident_id"] = open_incident.pk
            routed.notes.append(
                (
                    open_incident.pk,
                    clamp_past(alert.ends_at) or timezone.now(),
                    f"Alert '{alert.name}' resolved (the incident stays open until closed)",
                )
            )
            routed.updated.add(open_incident.pk)
            continue
        if open_incident is not None:
            row["incident_id"], row["is_duplicate"] = open_incident.pk, True
            routed.repeats[(open_incident.pk, alert.name)] += 1
            routed.seen_keys.update(k for k in keys if k in stale_seen)
            routed.deduplicated += 1
            routed.updated.add(open_incident.pk)
            continue
        rule, feature, why_not = _route(alert, rules, features)
        if feature is None:
            row["state"], row["rule_id"] = AlertState.INBOX.value, rule.pk if rule else None
            row["annotations"] = {**alert.annotations, "fireline_inbox_reason": why_not}
            routed.inboxed += 1
            continue
        if not may_open:
            raise _MustOpen
        previous = Incident.objects.get(pk=mine[0].pk) if mine else None  # a recurrence: rare
        incident = _open_from_alert(payload, alert, rule, feature, previous)
        if previous is not None:
            routed.recurrences.append(incident.pk)
        _point_keys(keys, incident)
        known.update({k: KnownIncident(incident.pk, incident.state) for k in keys})
        row["incident_id"], row["rule_id"] = incident.pk, rule.pk
        routed.opened.append(incident.pk)
    return routed


def _route_all(payload: AlertPayload, parsed_payload: ParsedPayload) -> dict:
    parsed = parsed_payload.alerts
    refused = [{"index": index, "errors": errors} for index, errors in sorted(parsed_payload.refused.items())]
    all_keys = {key for alert in parsed for key in _keys_for(payload.integration, alert)}
    if connection.vendor == "postgresql":
        # A storm's payloads repeat keys this process has just read: plan from memory and let the write
        # check the plan (one round trip); when a key moved meanwhile, nothing is written and the keys
        # are read afresh below.
        recalled = statements.recall(all_keys)
        if recalled is not None:
            try:
                routed = _plan(payload, parsed, *recalled, may_open=False, refused=refused)
            except _MustOpen:
                pass
            else:
                if _record(payload, routed, assumed=recalled[0], keys=all_keys):
                    return {"payload_id": payload.pk, **routed.result()}
    # Every key of the payload in one query; incidents opened below join this map as they are made.
    known, stale_seen = _read_keys(all_keys)
    try:
        # Most of a storm repeats incidents already open, or waits in the inbox: such a payload opens
        # nothing, takes no lock and is written in one statement (see _record).
        routed = _plan(payload, parsed, known, stale_seen, may_open=False, refused=refused)
    except _MustOpen:
        # This payload opens an incident: wait for any other payload with one of its keys, then read
        # the keys again, so two payloads of one group never open two incidents.
        with transaction.atomic():
            _serialize_on(all_keys)
            known, stale_seen = _read_keys(all_keys)
            routed = _plan(payload, parsed, known, stale_seen, may_open=True, refused=refused)
            _record(payload, routed)
    else:
        _record(payload, routed)
    return {"payload_id": payload.pk, **routed.result()}


def _repeat_note(incident_id: int, name: str, count: int) -> None:
    """SQLite: bump the recent "fired again" line of this alert, or write a new one."""
    prefix = repeat_prefix(name)
    recent = (
        TimelineEntry.objects.filter(
            incident_id=incident_id,
            kind=TimelineKind.ALERT,
            text__startswith=prefix,
            occurred_at__gte=timezone.now() - REPEAT_WINDOW,
        )
        .order_by("-occurred_at", "-id")
        .first()
    )
    if recent is None:
        timeline_add(incident_id, kind=TimelineKind.ALERT, text=f"{prefix} (×{count})")
    else:
        total = int(recent.text.rsplit("×", 1)[1].rstrip(")")) + count
        recent.text = f"{prefix} (×{total})"
        recent.save(update_fields=["text"])


def _record(payload: AlertPayload, routed: _Routed, assumed: dict | None = None, keys: set[str] = frozenset()) -> bool:
    """Write the payload, its alerts, the timeline lines and the counters: all of it or nothing.

    With `assumed` (PostgreSQL: a plan made from remembered keys), writes only if every one of `keys`
    still points to the incident it was assumed to, open or not as assumed; False when it wrote nothing.
    """
    payload.status, payload.result, payload.processed_at = PayloadStatus.PROCESSED, routed.result(), timezone.now()
    if connection.vendor == "postgresql":
        if connection.in_atomic_block:
            with transaction.atomic():  # a savepoint: a failure leaves the caller's transaction usable
                return statements.write_payload(payload, routed, assumed, keys)
        return statements.write_payload(payload, routed, assumed, keys)  # one statement, one transaction
    with transaction.atomic():
        payload.save()
        Alert.objects.bulk_create(Alert(payload=payload, integration=payload.integration, **a) for a in routed.alerts)
        for incident_id, occurred_at, text in routed.notes:
            timeline_add(incident_id, kind=TimelineKind.ALERT, occurred_at=occurred_at, text=text)
        for (incident_id, name), count in routed.repeats.items():
            _repeat_note(incident_id, name, count)
        for incident_id, count in routed.counts().items():
            Incident.objects.filter(pk=incident_id).update(alert_count=F("alert_count") + count)
        if routed.seen_keys:
            AlertDedupKey.objects.filter(key__in=routed.seen_keys).update(last_seen_at=timezone.now())
    return True


def _open_from_alert(payload, alert: ParsedAlert, rule, feature, previous: Incident | None) -> Incident:
    source = f"[Source]({alert.generator_url})" if alert.generator_url.startswith(("http://", "https://")) else ""
    incident = incident_open(
        actor=None,
        title=alert.summary[:200],
        detection_signal=DetectionSignal.MONITORING_ALERT,
        feature=feature,
        category=rule.category,
        occurred_at=clamp_past(alert.starts_at),
        summary=f"Opened by the alert **{alert.name}** ({payload.get_integration_display()}).\n\n{source}",
        **_impact_fields(rule.impact),
    )
    Incident.objects.filter(pk=incident.pk).update(alert_count=1, recurrence_of=previous)
    incident.alert_count, incident.recurrence_of = 1, previous
    if previous is not None:
        timeline_add(
            incident,
            kind=TimelineKind.ALERT,
            text=f"Recurrence of {previous.reference} ({previous.get_state_display().lower()}): "
            f"the alert '{alert.name}' fired again",
        )
    return incident


# --- the inbox ----------------------------------------------------------------------------------


def _inbox_alerts(alert_ids, actor):
    if not actor.has_perm("incidents.change_alert"):
        raise PermissionDenied("You may not route alerts.")
    alerts = list(Alert.objects.select_for_update().filter(pk__in=alert_ids))
    if not alerts:
        raise ValidationError("Choose at least one alert.")
    not_inbox = [a.pk for a in alerts if a.state != AlertState.INBOX]
    if not_inbox:
        raise ValidationError(f"Alerts {', '.join(map(str, not_inbox))} are not in the inbox any more.")
    return alerts


@transaction.atomic
def alerts_attach(*, alert_ids: list[int], incident_id: int, actor) -> Incident:
    alerts = _inbox_alerts(alert_ids, actor)
    incident = visible_incidents(user=actor).select_for_update().filter(pk=incident_id).first()
    if incident is None:
        raise Incident.DoesNotExist("No such incident.")
    if not incident.is_open:
        raise ValidationError(f"{incident.reference} is {incident.get_state_display().lower()}; reopen it first.")
    for alert in alerts:
        _point_keys(_keys_for(alert.integration, alert), incident)
    Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(state=AlertState.ROUTED, incident=incident)
    Incident.objects.filter(pk=incident.pk).update(alert_count=F("alert_count") + len(alerts))
    timeline_add(
        incident,
        kind=TimelineKind.ALERT,
        actor=actor,
        text=f"{len(alerts)} alert(s) from the inbox attached by {actor.get_username()}: "
        + ", ".join(sorted({a.name for a in alerts}))[:300],
    )
    return incident


@transaction.atomic
def alerts_open_incident(*, alert_ids: list[int], feature: AIFeature, category: str, actor) -> Incident:
    alerts = _inbox_alerts(alert_ids, actor)
    first = min(alerts, key=lambda a: a.starts_at or a.received_at)
    incident = incident_open(
        actor=actor,
        title=str(first.annotations.get("summary") or first.name)[:200],
        detection_signal=DetectionSignal.MONITORING_ALERT,
        feature=feature,
        category=category,
        occurred_at=clamp_past(first.starts_at),
        commander=actor,
    )
    Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(state=AlertState.ROUTED, incident=incident)
    for alert in alerts:
        _point_keys(_keys_for(alert.integration, alert), incident)
    Incident.objects.filter(pk=incident.pk).update(alert_count=len(alerts))
    return incident


@transaction.atomic
def alerts_dismiss(*, alert_ids: list[int], actor) -> int:
    alerts = _inbox_alerts(alert_ids, actor)
    return Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(state=AlertState.DISMISSED)
