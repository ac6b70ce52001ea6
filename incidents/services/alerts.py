"""Alert intake: store the raw payload, parse it, route each alert, deduplicate, open or update incidents.

`alert_intake` keeps every payload it is given. The raw payload and what it did (alerts, incidents,
counters) are committed together in one transaction, so a 202 means both are stored; a payload the
parser refuses, or one whose processing fails, is stored on its own with its error for a person to
look at (the failed attempt leaves nothing else behind). One commit per payload is what lets the
endpoint keep up with an alert storm.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.models import F
from django.utils import timezone

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

from . import hotcache
from .alert_parsing import AlertParseError, ParsedAlert, clamp_past, parse_payload
from .incidents import incident_open

# Repeated firings of one alert share a timeline entry for this long, so a storm reads as one line.
REPEAT_WINDOW = timedelta(minutes=10)
LAST_SEEN_GRANULARITY = timedelta(minutes=1)

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


class KnownIncident(NamedTuple):
    """The incident a dedup key points to, as far as routing needs to know it."""

    pk: int
    state: str


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
    payload.error = error[:5000]
    payload.result = {}
    payload.processed_at = timezone.now()
    with transaction.atomic():
        payload.save()


def alert_intake(*, integration: str, body: bytes, content_type: str, token=None) -> tuple[AlertPayload, dict]:
    """Store and process one payload: (payload, result).

    Raises AlertParseError for bad input and re-raises anything else that fails; either way the raw
    payload is stored first with its error (the exception's `payload` attribute), and nothing of the
    failed attempt stays behind.
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


# PostgreSQL: the intake's two hot statements run prepared (see _run). Only the incident's id and state
# are read: reading whole incidents costs more than the rest of a repeat.
READ_KEYS_SQL = """
SELECT k.key, k.incident_id, i.state, k.last_seen_at
FROM incidents_alertdedupkey AS k JOIN incidents_incident AS i ON i.id = k.incident_id
WHERE k.key = ANY(%(keys)s::text[])
"""


def _run(sql: str, params: dict) -> list[tuple]:
    """Run one of the intake's hot statements on PostgreSQL as a prepared statement.

    An alert storm runs the same few statements thousands of times; preparing them once per connection
    saves their planning on every request. Django leaves psycopg's automatic preparing off (it would
    break transaction-mode connection poolers), so only these statements are prepared, by name.

    The statement is also the connection's health check: instead of Django's SELECT 1 before each
    request's first query (a round trip per alert payload), a statement outside a transaction that
    finds the connection dead (the server restarted, say) is run once more on a new connection. A
    monitor retries a webhook that fails, so the second try is no weaker a promise than the first.
    """
    try:
        return _execute_prepared(sql, params)
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block or connection.is_usable():
            raise
        connection.close()
    return _execute_prepared(sql, params)


def _execute_prepared(sql: str, params: dict) -> list[tuple]:
    connection.ensure_connection()
    with connection.wrap_database_errors, ServerBindingCursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


# What this process last read of each dedup key: key -> (incident or None, its "last seen" time). Used
# only to plan a payload without reading first; the statement that writes the plan checks, in the same
# snapshot, that every key still points where the plan assumed (see RECORD_GUARD), so a stale entry
# costs one extra read and never a wrong route. Bounded: emptied when it grows past REMEMBERED_KEYS.
_remembered: dict[str, tuple[KnownIncident | None, datetime | None]] = {}
REMEMBERED_KEYS = 20_000


def forget_remembered_keys() -> None:
    _remembered.clear()


def _recall(keys: set[str]) -> tuple[dict[str, KnownIncident], set[str]] | None:
    """What this process last read of these keys, as _read_keys answers; None when one was never read."""
    known, stale_seen = {}, set()
    due = timezone.now() - LAST_SEEN_GRANULARITY
    for key in keys:
        entry = _remembered.get(key)
        if entry is None:
            return None
        incident, last_seen_at = entry
        if incident is not None:
            known[key] = incident
            if last_seen_at < due:
                stale_seen.add(key)
    return known, stale_seen


def _read_keys(keys: set[str]) -> tuple[dict[str, KnownIncident], set[str]]:
    """Which incident each known key points to, and which keys' "last seen" is due for an update."""
    if connection.vendor == "postgresql":
        rows = _run(READ_KEYS_SQL, {"keys": sorted(keys)})
        if len(_remembered) > REMEMBERED_KEYS:
            _remembered.clear()
        _remembered.update(dict.fromkeys(keys, (None, None)))
        _remembered.update({key: (KnownIncident(incident_id, state), seen) for key, incident_id, state, seen in rows})
    else:
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

    def result(self) -> dict:
        return {
            "alerts": len(self.alerts),
            "incidents_opened": self.opened,
            "incidents_updated": sorted(self.updated - set(self.opened)),
            "recurrences": self.recurrences,
            "deduplicated": self.deduplicated,
            "inboxed": self.inboxed,
            "resolved": self.resolved,
        }

    def counts(self) -> dict[int, int]:
        """Alerts to add to each incident's counter: its repeated firings."""
        per_incident = defaultdict(int)
        for (incident_id, _), count in self.repeats.items():
            per_incident[incident_id] += count
        return per_incident


def _plan(payload: AlertPayload, parsed: list[ParsedAlert], known: dict, stale_seen: set, may_open: bool) -> _Routed:
    """Route every alert of a payload. Opens incidents only when `may_open` (under the lock); otherwise
    an alert that would open one raises _MustOpen before anything is written."""
    rules, features = _routing()
    routed = _Routed()
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


def _route_all(payload: AlertPayload, parsed: list[ParsedAlert]) -> dict:
    all_keys = {key for alert in parsed for key in _keys_for(payload.integration, alert)}
    if connection.vendor == "postgresql":
        # A storm's payloads repeat keys this process has just read: plan from memory and let the write
        # check the plan (one round trip); when a key moved meanwhile, nothing is written and the keys
        # are read afresh below.
        recalled = _recall(all_keys)
        if recalled is not None:
            try:
                routed = _plan(payload, parsed, *recalled, may_open=False)
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
        routed = _plan(payload, parsed, known, stale_seen, may_open=False)
    except _MustOpen:
        # This payload opens an incident: wait for any other payload with one of its keys, then read
        # the keys again, so two payloads of one group never open two incidents.
        with transaction.atomic():
            _serialize_on(all_keys)
            known, stale_seen = _read_keys(all_keys)
            routed = _plan(payload, parsed, known, stale_seen, may_open=True)
            _record(payload, routed)
    else:
        _record(payload, routed)
    return {"payload_id": payload.pk, **routed.result()}


def _repeat_prefix(name: str) -> str:
    return f"Alert '{name}' fired again"


def _repeat_note(incident_id: int, name: str, count: int) -> None:
    """SQLite: bump the recent "fired again" line of this alert, or write a new one."""
    prefix = _repeat_prefix(name)
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
        TimelineEntry.objects.create(
            incident_id=incident_id, kind=TimelineKind.ALERT, occurred_at=timezone.now(), text=f"{prefix} (×{count})"
        )
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
                return _record_in_one_statement(payload, routed, assumed, keys)
        return _record_in_one_statement(payload, routed, assumed, keys)  # one statement, one transaction
    with transaction.atomic():
        payload.save()
        Alert.objects.bulk_create(Alert(payload=payload, integration=payload.integration, **a) for a in routed.alerts)
        for incident_id, occurred_at, text in routed.notes:
            TimelineEntry.objects.create(
                incident_id=incident_id, kind=TimelineKind.ALERT, occurred_at=occurred_at, text=text
            )
        for (incident_id, name), count in routed.repeats.items():
            _repeat_note(incident_id, name, count)
        for incident_id, count in routed.counts().items():
            Incident.objects.filter(pk=incident_id).update(alert_count=F("alert_count") + count)
        if routed.seen_keys:
            AlertDedupKey.objects.filter(key__in=routed.seen_keys).update(last_seen_at=timezone.now())
    return True


# PostgreSQL: the whole of a payload in one statement, so an alert storm costs one round trip and one
# commit per request. Rows travel as JSON arrays. Each part is a CTE, and a payload's statement holds
# only the parts it needs (a part with nothing to do still costs the server time), so there are a few
# variants, each prepared once per connection. Every part hangs off the payload row: when the guard
# refuses, no payload row is made and nothing else is written.
RECORD_GUARD = """guard AS (
    SELECT coalesce(bool_and(
        k.incident_id IS NOT DISTINCT FROM a.incident
        AND (i.state = ANY(%(open_states)s::text[])) IS NOT DISTINCT FROM a.open
    ), true) AS holds
    FROM jsonb_to_recordset(%(assumed)s::jsonb) AS a(key text, incident bigint, open boolean)
    LEFT JOIN incidents_alertdedupkey AS k ON k.key = a.key
    LEFT JOIN incidents_incident AS i ON i.id = k.incident_id
)"""
RECORD_PAYLOAD = """payload AS (
    INSERT INTO incidents_alertpayload
        (integration, received_at, content_type, body, token_id, status, error, result, processed_at)
    SELECT %(integration)s, %(now)s, %(content_type)s, %(body)s, %(token)s, %(status)s, '', %(result)s::jsonb, %(now)s
    {guarded}
    RETURNING id
)"""
RECORD_PARTS = {
    "alerts": """alerts AS (
    INSERT INTO incidents_alert (payload_id, integration, received_at, status, fingerprint, group_key, name, labels,
                                 annotations, starts_at, ends_at, generator_url, state, is_duplicate, incident_id,
                                 rule_id)
    SELECT payload.id, %(integration)s, %(now)s, a.status, a.fingerprint, a.group_key, a.name, a.labels,
           a.annotations, a.starts_at, a.ends_at, a.generator_url, a.state, a.is_duplicate, a.incident_id, a.rule_id
    FROM payload, jsonb_to_recordset(%(alerts)s::jsonb) AS a(
        n int, status text, fingerprint text, group_key text, name text, labels jsonb, annotations jsonb,
        starts_at timestamptz, ends_at timestamptz, generator_url text, state text, is_duplicate boolean,
        incident_id bigint, rule_id bigint)
    ORDER BY a.n
)""",
    "notes": """notes AS (
    INSERT INTO incidents_timelineentry (incident_id, kind, occurred_at, recorded_at, text, is_automatic, is_key_event)
    SELECT t.incident, %(kind)s, t.occurred_at, %(now)s, t.text, true, false
    FROM payload, jsonb_to_recordset(%(notes)s::jsonb) AS t(incident bigint, occurred_at timestamptz, text text)
)""",
    # The "fired again" line of each (incident, alert name) is bumped when one was written in the last
    # REPEAT_WINDOW, else written new. The bump reads the line's current text (not the snapshot's), so
    # concurrent payloads add up instead of overwriting each other.
    "repeats": r"""repeats AS (
    SELECT r.incident, r.prefix, r.count, recent.id AS entry
    FROM payload, jsonb_to_recordset(%(repeats)s::jsonb) AS r(incident bigint, prefix text, count bigint)
    LEFT JOIN LATERAL (
        SELECT e.id FROM incidents_timelineentry AS e
        WHERE e.incident_id = r.incident AND e.kind = %(kind)s AND e.occurred_at >= %(since)s
          AND starts_with(e.text, r.prefix)
        ORDER BY e.occurred_at DESC, e.id DESC
        LIMIT 1
    ) AS recent ON true
), bumped AS (
    UPDATE incidents_timelineentry AS e
    SET text = r.prefix || ' (×'
        || (coalesce(substring(e.text FROM '×([0-9]+)\)$')::bigint, 0) + r.count)::text || ')'
    FROM repeats AS r
    WHERE e.id = r.entry
), fresh AS (
    INSERT INTO incidents_timelineentry (incident_id, kind, occurred_at, recorded_at, text, is_automatic, is_key_event)
    SELECT r.incident, %(kind)s, %(now)s, %(now)s, r.prefix || ' (×' || r.count::text || ')', true, false
    FROM repeats AS r
    WHERE r.entry IS NULL
), counted AS (
    UPDATE incidents_incident AS i SET alert_count = i.alert_count + c.count
    FROM payload, jsonb_to_recordset(%(counts)s::jsonb) AS c(incident bigint, count bigint)
    WHERE i.id = c.incident
)""",
    # The same for the usual case, one alert name repeating on one incident, with plain parameters: a
    # JSON record set costs the server more than the rest of the part.
    "repeat": r"""recent AS (
    SELECT e.id FROM incidents_timelineentry AS e, payload
    WHERE e.incident_id = %(incident)s AND e.kind = %(kind)s AND e.occurred_at >= %(since)s
      AND starts_with(e.text, %(prefix)s)
    ORDER BY e.occurred_at DESC, e.id DESC
    LIMIT 1
), bumped AS (
    UPDATE incidents_timelineentry AS e
    SET text = %(prefix)s || ' (×'
        || (coalesce(substring(e.text FROM '×([0-9]+)\)$')::bigint, 0) + %(count)s)::text || ')'
    FROM recent
    WHERE e.id = recent.id
), fresh AS (
    INSERT INTO incidents_timelineentry (incident_id, kind, occurred_at, recorded_at, text, is_automatic, is_key_event)
    SELECT %(incident)s, %(kind)s, %(now)s, %(now)s, %(prefix)s || ' (×' || %(count)s::text || ')', true, false
    FROM payload
    WHERE NOT EXISTS (SELECT FROM recent)
), counted AS (
    UPDATE incidents_incident AS i SET alert_count = i.alert_count + %(count)s
    FROM payload
    WHERE i.id = %(incident)s
)""",
    "seen": """seen AS (
    UPDATE incidents_alertdedupkey AS k SET last_seen_at = %(now)s
    FROM payload
    WHERE k.key = ANY(%(seen)s::text[])
)""",
}


@functools.cache
def _record_sql(guarded: bool, parts: tuple[str, ...]) -> str:
    ctes = [RECORD_GUARD] if guarded else []
    ctes.append(RECORD_PAYLOAD.format(guarded="WHERE (SELECT holds FROM guard)" if guarded else ""))
    ctes += [RECORD_PARTS[part] for part in parts]
    return "WITH " + ",\n".join(ctes) + "\nSELECT id FROM payload"


def _json(value) -> str:
    return json.dumps(value, default=lambda v: v.isoformat(), ensure_ascii=False)


def _record_in_one_statement(payload: AlertPayload, routed: _Routed, assumed: dict | None, keys: set[str]) -> bool:
    now = payload.processed_at
    parts = tuple(
        part
        for part, needed in (
            ("alerts", routed.alerts),
            ("notes", routed.notes),
            ("repeat", len(routed.repeats) == 1),
            ("repeats", len(routed.repeats) > 1),
            ("seen", routed.seen_keys),
        )
        if needed
    )
    params = {
        "integration": payload.integration,
        "now": now,
        "content_type": payload.content_type,
        "body": payload.body,
        "token": payload.token_id,
        "status": payload.status,
        "result": _json(payload.result),
    }
    if assumed is not None:
        params["open_states"] = sorted(OPEN_STATES)
        params["assumed"] = _json(
            [
                {"key": key, "incident": assumed[key].pk, "open": assumed[key].state in OPEN_STATES}
                if key in assumed
                else {"key": key, "incident": None, "open": None}
                for key in sorted(keys)
            ]
        )
    if routed.alerts:
        params["alerts"] = _json([{"n": n, **row} for n, row in enumerate(routed.alerts)])
    if routed.notes or routed.repeats:
        params["kind"] = TimelineKind.ALERT.value
    if routed.notes:
        params["notes"] = _json([{"incident": i, "occurred_at": at, "text": text} for i, at, text in routed.notes])
    if routed.repeats:
        params["since"] = now - REPEAT_WINDOW
    if len(routed.repeats) == 1:
        [((incident_id, name), count)] = routed.repeats.items()
        params.update(incident=incident_id, prefix=_repeat_prefix(name), count=count)
    elif routed.repeats:
        params["repeats"] = _json(
            [
                {"incident": incident_id, "prefix": _repeat_prefix(name), "count": count}
                for (incident_id, name), count in routed.repeats.items()
            ]
        )
        params["counts"] = _json([{"incident": i, "count": count} for i, count in routed.counts().items()])
    if routed.seen_keys:
        params["seen"] = sorted(routed.seen_keys)
    rows = _run(_record_sql(assumed is not None, parts), params)
    if not rows:  # the guard refused: a key moved since this process last read it
        for key in keys:
            _remembered.pop(key, None)
        return False
    payload.pk = rows[0][0]
    payload.received_at = now
    payload._state.adding = False
    payload._state.db = connection.alias
    for key in routed.seen_keys:
        if key in _remembered:
            _remembered[key] = (_remembered[key][0], now)
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
        TimelineEntry.objects.create(
            incident=incident,
            kind=TimelineKind.ALERT,
            occurred_at=timezone.now(),
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
    TimelineEntry.objects.create(
        incident=incident,
        kind=TimelineKind.ALERT,
        actor=actor,
        occurred_at=timezone.now(),
        is_automatic=True,
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
