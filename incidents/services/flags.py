"""Kill switches: flip them through services (logged, on the timeline, webhook told), read them fast.

Reads go through a process-local cache in front of the shared cache (Redis in production), and every
change deletes the cached copies once the transaction commits (the shared entry, then the local ones in
every web process through Redis pub/sub: see hotcache), so the next evaluation sees the new value at
once instead of after a TTL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from incidents.constants import Channel, TimelineKind
from incidents.models import AIFeature, Incident, KillSwitch, TimelineEntry
from incidents.models.flags import validate_cohort_rules

from . import hotcache
from .notifications import notification_enqueue

CACHE_PREFIX = "fireline:ofrep:"
ALL_FLAGS_KEY = CACHE_PREFIX + "all"
# Changes delete the entry on commit. The TTL only bounds one race: a read that fetched the old row just
# before the commit and stores it just after the delete.
CACHE_SECONDS = 15


def feature_webhook_secret(feature_key: str) -> str:
    """Per-feature signing key derived from the install's webhook secret; nothing secret is stored."""
    return hmac.new(
        settings.FIRELINE_WEBHOOK_SECRET.encode(), f"flag:{feature_key}".encode(), hashlib.sha256
    ).hexdigest()


def flag_cache_key(flag_key: str) -> str:
    return CACHE_PREFIX + "flag:" + flag_key


def _forget(flag_key: str) -> None:
    keys = [flag_cache_key(flag_key), ALL_FLAGS_KEY]
    cache.delete_many(keys)
    hotcache.invalidate(keys)  # every web process drops its local copy now (see hotcache)


def killswitch_for(feature: AIFeature) -> KillSwitch:
    switch, created = KillSwitch.objects.get_or_create(feature=feature)
    if created:  # a key asked for before the feature existed is cached as "no such flag": drop that
        key = feature.kill_switch_key
        transaction.on_commit(lambda: _forget(key))
    return switch


def _after_change(switch: KillSwitch, *, actor, before: dict, reason: str, incident: Incident | None) -> None:
    after = {"is_on": switch.is_on, "cohort_rules": switch.cohort_rules, "version": switch.version}
    audit.log_changed(
        actor=actor,
        target=switch,
        before={**before, "reason": None},
        after={**after, "reason": reason},
        incident=incident,
    )
    key = switch.feature.kill_switch_key
    transaction.on_commit(lambda: _forget(key))
    if incident is not None:
        state = "ON" if switch.is_on else "OFF"
        TimelineEntry.objects.create(
            incident=incident,
            kind=TimelineKind.CONTAINMENT,
            actor=actor if getattr(actor, "pk", None) else None,
            occurred_at=timezone.now(),
            text=f"Kill switch {key} is now {state} (version {switch.version}): {reason}",
        )
    if switch.webhook_url:
        body = json.dumps(
            {
                "flag": key,
                "feature": switch.feature.key,
                "enabled": switch.is_on,
                "cohort_rules": switch.cohort_rules,
                "version": switch.version,
                "reason": reason,
            },
            sort_keys=True,
        )
        notification_enqueue(
            channel=Channel.FLAG,
            recipient=switch.webhook_url,
            subject=f"{key} v{switch.version}",
            body=body,
            dedup_key=f"flag:{switch.feature_id}:{switch.version}",
            incident=incident,
        )


@transaction.atomic
def killswitch_set(
    *, feature: AIFeature, is_on: bool, reason: str, actor, incident: Incident | None = None
) -> KillSwitch:
    """Turn a feature off (is_on=False) or back on. A reason is required either way."""
    if actor is not None and not actor.has_perm("incidents.change_killswitch"):
        raise PermissionDenied("You may not flip kill switches.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the feature is turned " + ("on." if is_on else "off.")})
    killswitch_for(feature)
    switch = KillSwitch.objects.select_for_update().select_related("feature").get(feature=feature)
    if switch.is_on == is_on:
        return switch  # nothing changed, nothing logged
    before = {"is_on": switch.is_on, "cohort_rules": switch.cohort_rules, "version": switch.version}
    switch.is_on = is_on
    switch.version += 1
    switch.save(update_fields=["is_on", "version", "updated_at"])
    _after_change(switch, actor=actor, before=before, reason=reason.strip(), incident=incident)
    return switch


@transaction.atomic
def killswitch_set_cohort_rules(
    *, feature: AIFeature, rules: list, reason: str, actor, incident: Incident | None = None
) -> KillSwitch:
    if actor is not None and not actor.has_perm("incidents.change_killswitch"):
        raise PermissionDenied("You may not change kill switches.")
    validate_cohort_rules(rules)
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the cohort rules change."})
    killswitch_for(feature)
    switch = KillSwitch.objects.select_for_update().select_related("feature").get(feature=feature)
    if switch.cohort_rules == rules:
        return switch
    before = {"is_on": switch.is_on, "cohort_rules": switch.cohort_rules, "version": switch.version}
    switch.cohort_rules = rules
    switch.version += 1
    switch.save(update_fields=["cohort_rules", "version", "updated_at"])
    _after_change(switch, actor=actor, before=before, reason=reason.strip(), incident=incident)
    return switch


def cohort_rule_from_text(text: str, *, enabled: bool = False) -> dict:
    """'plan=free' or 'plan=free,trial' -> a rule that switches that cohort off."""
    attribute, sep, values = (text or "").partition("=")
    values = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not attribute.strip() or not values:
        raise ValidationError({"cohort": "Write the cohort as attribute=value, e.g. plan=free (or plan=free,trial)."})
    return {"attribute": attribute.strip(), "values": values, "enabled": enabled}


# --- evaluation (the read path) ---------------------------------------------------------------

_STATE_FIELDS = ("key", "kill_switch_key", "kill_switch__is_on", "kill_switch__cohort_rules", "kill_switch__version")


def _state(row: dict) -> dict:
    """A feature whose switch was never touched is on, at version 0."""
    is_on = row["kill_switch__is_on"]
    return {
        "on": True if is_on is None else is_on,
        "rules": row["kill_switch__cohort_rules"] or [],
        "version": row["kill_switch__version"] or 0,
        "feature": row["key"],
    }


def _flag_state(flag_key: str, cached=None) -> dict | None:
    if cached is None:
        cached = hotcache.get(flag_cache_key(flag_key))
    if cached is not None:
        return cached or None  # {} caches "no such flag"
    row = AIFeature.objects.filter(kill_switch_key=flag_key).values(*_STATE_FIELDS).first()
    state = _state(row) if row else {}
    cache.set(flag_cache_key(flag_key), state, CACHE_SECONDS)
    return state or None


def _evaluate(flag_key: str, state: dict, context: dict) -> dict:
    for rule in state["rules"]:
        value = context.get(rule["attribute"])
        if value is not None and value in rule["values"]:
            # a cohort rule narrows a switched-on feature; a switched-off feature stays off for everyone
            enabled = rule["enabled"] and state["on"]
            return {
                "key": flag_key,
                "value": enabled,
                "reason": "TARGETING_MATCH",
                "variant": "on" if enabled else "off",
                "metadata": {
                    "feature": state["feature"],
                    "version": state["version"],
                    "cohort": f"{rule['attribute']} in {','.join(map(str, rule['values']))}",
                },
            }
    return {
        "key": flag_key,
        "value": state["on"],
        "reason": "STATIC" if state["on"] else "DISABLED",
        "variant": "on" if state["on"] else "off",
        "metadata": {"feature": state["feature"], "version": state["version"]},
    }


def flag_evaluate(*, flag_key: str, context: dict, cached=None) -> dict | None:
    state = _flag_state(flag_key, cached)
    return None if state is None else _evaluate(flag_key, state, context)


def flags_evaluate_all(*, context: dict) -> tuple[list[dict], str]:
    """Every kill switch evaluated for the context, and an ETag over flags, versions and context."""
    states = hotcache.get(ALL_FLAGS_KEY)
    if states is None:
        states = {row["kill_switch_key"]: _state(row) for row in AIFeature.objects.values(*_STATE_FIELDS)}
        cache.set(ALL_FLAGS_KEY, states, CACHE_SECONDS)
    flags = [_evaluate(key, state, context) for key, state in sorted(states.items())]
    digest = hashlib.sha256(json.dumps([flags, context], sort_keys=True, default=str).encode()).hexdigest()[:32]
    return flags, f'"{digest}"'


_last_marked: dict[str, float] = {}


def killswitch_mark_read(flag_keys: list[str]) -> None:
    """Remember that the product reads its switches (readiness), at most once a minute per switch.

    The per-process clock keeps this off the hot path; the shared cache keeps processes from all writing.
    """
    now = time.monotonic()
    due = [key for key in flag_keys if now - _last_marked.get(key, -1e9) > 60]
    for key in due:
        _last_marked[key] = now
    due = [key for key in due if cache.add(CACHE_PREFIX + "read:" + key, 1, 60)]
    if due:
        KillSwitch.objects.filter(feature__kill_switch_key__in=due).update(last_read_at=timezone.now())
