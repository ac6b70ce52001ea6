"""How the alert intake reads and writes on PostgreSQL, where an alert storm is served.

A storm's payloads mostly repeat incidents already open. Each is written in one statement (one round
trip, one commit), prepared once per connection; the statement holds only the parts a payload needs.
A payload may be planned from the dedup keys this process last read, instead of reading them first:
the statement then checks, in its own snapshot, that every key still points where the plan assumed,
and writes nothing when one moved (the caller reads the keys and plans again).

SQLite, the embedded default, takes the ORM path in alerts.py: one writer at a time needs none of this.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from django.db import InterfaceError, OperationalError, connection
from django.db.backends.postgresql.base import ServerBindingCursor
from django.utils import timezone

from incidents.constants import OPEN_STATES, TimelineKind

if TYPE_CHECKING:
    from incidents.models import AlertPayload

    from .alerts import _Routed

# Repeated firings of one alert share a timeline entry for this long, so a storm reads as one line.
REPEAT_WINDOW = timedelta(minutes=10)
LAST_SEEN_GRANULARITY = timedelta(minutes=1)


class KnownIncident(NamedTuple):
    """The incident a dedup key points to, as far as routing needs to know it."""

    pk: int
    state: str


def repeat_prefix(name: str) -> str:
    return f"Alert '{name}' fired again"


# Only the incident's id and state are read: reading whole incidents costs more than the rest of a repeat.
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


def recall(keys: set[str]) -> tuple[dict[str, KnownIncident], set[str]] | None:
    """What this process last read of these keys, as read_keys answers; None when one was never read."""
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


def read_keys(keys: set[str]) -> tuple[dict[str, KnownIncident], set[str]]:
    """Read the keys and remember them all (those that exist and those that do not); answers as recall."""
    rows = _run(READ_KEYS_SQL, {"keys": sorted(keys)})
    if len(_remembered) > REMEMBERED_KEYS:
        _remembered.clear()
    _remembered.update(dict.fromkeys(keys, (None, None)))
    _remembered.update({key: (KnownIncident(incident_id, state), seen) for key, incident_id, state, seen in rows})
    return recall(keys)


# The whole of a payload in one statement, so an alert storm costs one round trip and one commit per
# request. Rows travel as JSON arrays. Each part is a CTE, and a payload's statement holds
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


def write_payload(payload: AlertPayload, routed: _Routed, assumed: dict | None, keys: set[str]) -> bool:
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
        params.update(incident=incident_id, prefix=repeat_prefix(name), count=count)
    elif routed.repeats:
        params["repeats"] = _json(
            [
                {"incident": incident_id, "prefix": repeat_prefix(name), "count": count}
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
