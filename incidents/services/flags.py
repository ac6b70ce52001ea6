"""Kill switches: flip them through services (logged, on the timeline, webhook told), read them fast.

Reads go through a process-local cache in front of the shared cache (Redis in production), and every
change deletes the cached copies once the transaction commits (the shared entry, then the local ones in
every web process through Redis pub/sub: see hotcache), so the next evaluation sees the new value at
once instead of after a TTL.
"""

from __future__ import annotations

import hashlib
import json
import time

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from incidents import containment_types
from incidents.constants import OPEN_STATES, Channel, TimelineKind
from incidents.models import (
    AIFeature,
    ContainmentAction,
    HoldKind,
    Incident,
    KillSwitch,
    KillSwitchHold,
)
from incidents.models.flags import validate_cohort_rules

from . import hotcache
from .notifications import notification_enqueue
from .workflow import actor_user, require_permission, timeline_add

CACHE_PREFIX = "fireline:ofrep:"
ALL_FLAGS_KEY = CACHE_PREFIX + "all"
# Changes delete the entry on commit. The TTL only bounds one race: a read that fetched the old row just
# before the commit and stores it just after the delete.
CACHE_SECONDS = 15


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


def stand_in_key(incident: Incident) -> str:
    """A drill incident's own flag key: the real key with the drill incident's number, never the real key."""
    suffix = f".drill-{incident.pk}"
    return incident.feature.kill_switch_key[: 100 - len(suffix)] + suffix  # a key OFREP accepts: 100 at most


def killswitch_stand_in(incident: Incident) -> KillSwitch:
    """The drill incident's stand-in switch, made on first use: what its containment acts on."""
    switch, created = KillSwitch.objects.get_or_create(
        drill_incident=incident,
        defaults={"stand_in_for_id": incident.feature_id, "stand_in_key": stand_in_key(incident)},
    )
    if created:
        key = switch.stand_in_key
        transaction.on_commit(lambda: _forget(key))
    return switch


def killswitch_for_incident(incident: Incident) -> KillSwitch:
    """The switch an incident's containment acts on: the feature's own, or a drill's stand-in."""
    return killswitch_stand_in(incident) if incident.is_drill else killswitch_for(incident.feature)


def _lock_switch(switch_id: int) -> KillSwitch:
    return (
        KillSwitch.objects.select_for_update(of=("self",))
        .select_related("feature", "stand_in_for", "drill_incident")
        .get(pk=switch_id)
    )


def active_holds(switch: KillSwitch) -> list[KillSwitchHold]:
    return list(
        switch.holds.filter(released_at__isnull=True).select_related("incident", "held_by").order_by("-held_at", "-id")
    )


def holders_text(holds: list[KillSwitchHold]) -> str:
    return ", ".join(dict.fromkeys(h.holder_label for h in holds))


def _state_from_holds(holds: list[KillSwitchHold]) -> tuple[bool, list[dict]]:
    """Off while any "off" hold stands; the newest cohort hold's rule first, each rule once."""
    is_on = not any(h.kind == HoldKind.OFF for h in holds)
    rules = []
    for hold in holds:
        if hold.kind == HoldKind.COHORT and hold.rule not in rules:
            rules.append(hold.rule)
    return is_on, rules


def _after_change(switch: KillSwitch, *, actor, before: dict, reason: str, incident: Incident | None) -> None:
    after = {"is_on": switch.is_on, "cohort_rules": switch.cohort_rules, "version": switch.version}
    audit.log_changed(
        actor=actor,
        target=switch,
        before={**before, "reason": None},
        after={**after, "reason": reason},
        incident=incident,
    )
    key = switch.flag_key
    transaction.on_commit(lambda: _forget(key))
    if switch.webhook_url:
        body = json.dumps(
            {
                "flag": key,
                "feature": switch.real_feature.key,
                "enabled": switch.is_on,
                "cohort_rules": switch.cohort_rules,
                "version": switch.version,
                "reason": reason,
                "is_drill": switch.is_stand_in,
            },
            sort_keys=True,
        )
        notification_enqueue(
            channel=Channel.FLAG,
            recipient=switch.webhook_url,
            subject=f"{key} v{switch.version}",
            body=body,
            dedup_key=f"switch:{switch.pk}:{switch.version}",  # per switch (a drill stand-in has no feature)
            incident=incident,
        )


def _apply_holds(switch: KillSwitch, *, actor, reason: str, incident: Incident | None) -> list[KillSwitchHold]:
    """Recompute the locked switch from its active holds; save, log and tell only when it changed."""
    holds = active_holds(switch)
    is_on, rules = _state_from_holds(holds)
    if (switch.is_on, switch.cohort_rules) != (is_on, rules):
        before = {"is_on": switch.is_on, "cohort_rules": switch.cohort_rules, "version": switch.version}
        switch.is_on = is_on
        switch.cohort_rules = rules
        switch.version += 1
        switch.save(update_fields=["is_on", "cohort_rules", "version", "updated_at"])
        _after_change(switch, actor=actor, before=before, reason=reason, incident=incident)
    return holds


def _rule_text(rule: dict) -> str:
    return f"{rule['attribute']}={','.join(map(str, rule['values']))}"


def _hold_text(switch: KillSwitch, hold: KillSwitchHold, others: list[KillSwitchHold], reason: str) -> str:
    key = switch.flag_key
    drill = " (the drill's stand-in, not production)" if switch.is_stand_in else ""
    if hold.kind == HoldKind.OFF:
        held_before = [h for h in others if h.kind == HoldKind.OFF]
        if held_before:
            held = holders_text(held_before)
            return f"Kill switch {key}{drill} was already OFF (held by {held}); held off here too: {reason}"
        return f"Kill switch {key}{drill} is now OFF (version {switch.version}): {reason}"
    held_before = [h for h in others if h.kind == HoldKind.COHORT and h.rule == hold.rule]
    gets = "on" if hold.rule["enabled"] and switch.is_on else "off"
    if held_before:
        return (
            f"Cohort {_rule_text(hold.rule)} on {key}{drill} was already restricted "
            f"(held by {holders_text(held_before)}); held here too: {reason}"
        )
    return (
        f"Cohort restricted: {_rule_text(hold.rule)} now gets the feature {gets} "
        f"({key}{drill}, version {switch.version}): {reason}"
    )


def _release_text(switch: KillSwitch, hold: KillSwitchHold, remaining: list[KillSwitchHold], reason: str) -> str:
    key = switch.flag_key
    if hold.kind == HoldKind.OFF:
        still = [h for h in remaining if h.kind == HoldKind.OFF]
        if still:
            return f"Kill switch {key}: this hold is lifted, but it stays OFF. Still off: held by {holders_text(still)}"
        return f"Kill switch {key} is ON again (version {switch.version}): {reason}"
    still = [h for h in remaining if h.kind == HoldKind.COHORT and h.rule == hold.rule]
    if still:
        return (
            f"Cohort {_rule_text(hold.rule)} on {key}: this hold is lifted, but the restriction stays. "
            f"Still restricted: held by {holders_text(still)}"
        )
    return (
        f"Cohort restriction lifted: {_rule_text(hold.rule)} gets the feature again "
        f"({key}, version {switch.version}): {reason}"
    )


@transaction.atomic
def killswitch_hold(
    *,
    switch_id: int,
    kind: str,
    reason: str,
    actor,
    incident: Incident | None = None,
    containment=None,
    rule: dict | None = None,
) -> KillSwitchHold:
    """Hold a switch off (or a cohort restricted) for one incident or, with no incident, by hand."""
    require_permission(actor, "incidents.change_killswitch", "You may not flip kill switches.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the feature is held off."})
    if kind == HoldKind.COHORT:
        validate_cohort_rules([rule])
    switch = _lock_switch(switch_id)
    if incident is not None and switch.is_stand_in != incident.is_drill:
        # the one rule that keeps drills away from production, checked where the hold is made
        raise ValidationError("A drill acts on its own stand-in switch, and a real incident on the real one.")
    others = active_holds(switch)
    hold = KillSwitchHold.objects.create(
        switch=switch,
        kind=kind,
        rule=rule if kind == HoldKind.COHORT else {},
        incident=incident,
        containment=containment,
        reason=reason,
        held_by=actor_user(actor),
        held_at=timezone.now(),
    )
    if incident is None:
        audit.log_created(actor=actor, target=hold, values={"switch": switch.flag_key, "kind": kind, "reason": reason})
    _apply_holds(switch, actor=actor, reason=reason, incident=incident)
    if incident is not None:
        timeline_add(
            incident, kind=TimelineKind.CONTAINMENT, actor=actor, text=_hold_text(switch, hold, others, reason)
        )
    return hold


@transaction.atomic
def killswitch_release(*, hold_id: int, reason: str, actor) -> KillSwitchHold:
    """Lift one hold. The switch turns back on only when no other hold keeps it off; `still_held_by` says who does."""
    require_permission(actor, "incidents.change_killswitch", "You may not flip kill switches.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the hold is lifted."})
    switch_id = KillSwitchHold.objects.values_list("switch_id", flat=True).get(pk=hold_id)
    switch = _lock_switch(switch_id)  # the switch first, always: every hold change queues on it
    hold = KillSwitchHold.objects.select_related("incident").get(pk=hold_id)
    if hold.released_at is not None:
        hold.still_held_by = holders_text(active_holds(switch))
        return hold
    hold.released_at = timezone.now()
    hold.released_by = actor_user(actor)
    hold.release_reason = reason
    hold.save(update_fields=["released_at", "released_by", "release_reason"])
    if hold.incident_id is None:
        audit.log_changed(
            actor=actor,
            target=hold,
            before={"released_at": None},
            after={"released_at": hold.released_at, "reason": reason},
        )
    remaining = _apply_holds(switch, actor=actor, reason=reason, incident=hold.incident)
    if hold.incident is not None:
        timeline_add(
            hold.incident,
            kind=TimelineKind.CONTAINMENT,
            actor=actor,
            text=_release_text(switch, hold, remaining, reason),
        )
    same = [h for h in remaining if h.kind == hold.kind and (h.kind == HoldKind.OFF or h.rule == hold.rule)]
    hold.still_held_by = holders_text(same)
    return hold


@transaction.atomic
def killswitch_flip(*, switch_id: int, is_on: bool, reason: str, actor) -> KillSwitch:
    """A commander's manual flip outside any incident, itself a logged hold.

    Off: a manual hold (one is enough). On: every manual hold is lifted; holds of open incidents stay,
    so the switch may stay off (the returned switch and `still_held_by` say so).
    """
    require_permission(actor, "incidents.change_killswitch", "You may not flip kill switches.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the feature is turned " + ("on." if is_on else "off.")})
    switch = _lock_switch(switch_id)
    manual = [h for h in active_holds(switch) if h.incident_id is None and h.kind == HoldKind.OFF]
    if not is_on and not manual:
        killswitch_hold(switch_id=switch.pk, kind=HoldKind.OFF, reason=reason, actor=actor)
    for hold in manual if is_on else []:
        killswitch_release(hold_id=hold.pk, reason=reason, actor=actor)
    switch = _lock_switch(switch_id)
    switch.still_held_by = holders_text([h for h in active_holds(switch) if h.kind == HoldKind.OFF])
    return switch


def killswitch_set(
    *, feature: AIFeature, is_on: bool, reason: str, actor, incident: Incident | None = None
) -> KillSwitch:
    """Turn a feature off (is_on=False) or back on by hand. A reason is required either way."""
    require_permission(actor, "incidents.change_killswitch", "You may not flip kill switches.")
    return killswitch_flip(switch_id=killswitch_for(feature).pk, is_on=is_on, reason=reason, actor=actor)


@transaction.atomic
def killswitch_set_cohort_rules(
    *, feature: AIFeature | None = None, rules: list, reason: str, actor, switch_id: int | None = None
) -> KillSwitch:
    """The admin's cohort rules edit: rules no incident holds become (or stop being) manual holds."""
    require_permission(actor, "incidents.change_killswitch", "You may not flip kill switches.")
    validate_cohort_rules(rules)
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the cohort rules change."})
    switch = _lock_switch(switch_id if switch_id is not None else killswitch_for(feature).pk)
    holds = [h for h in active_holds(switch) if h.kind == HoldKind.COHORT]
    held_by_incidents = [h for h in holds if h.incident_id is not None]
    kept = [h for h in held_by_incidents if h.rule not in rules]
    if kept:
        raise ValidationError(
            {
                "cohort_rules": "; ".join(
                    f"{_rule_text(h.rule)} is held by {h.holder_label}: lift it on that incident" for h in kept
                )
            }
        )
    for hold in holds:
        if hold.incident_id is None and hold.rule not in rules:
            killswitch_release(hold_id=hold.pk, reason=reason, actor=actor)
    held = [h.rule for h in holds]
    for rule in reversed(rules):  # oldest first, so the first rule written is the newest hold and wins
        if rule not in held:
            killswitch_hold(switch_id=switch.pk, kind=HoldKind.COHORT, rule=rule, reason=reason, actor=actor)
    switch.refresh_from_db()
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


_STAND_IN_FIELDS = ("stand_in_key", "is_on", "cohort_rules", "version", "stand_in_for__key")


def _stand_in_state(row: dict) -> dict:
    return {
        "on": row["is_on"],
        "rules": row["cohort_rules"] or [],
        "version": row["version"],
        "feature": row["stand_in_for__key"],
        "drill": True,
    }


def _flag_state(flag_key: str, cached=None) -> dict | None:
    if cached is None:
        cached = hotcache.get(flag_cache_key(flag_key))
    if cached is not None:
        return cached or None  # {} caches "no such flag"
    row = AIFeature.objects.filter(kill_switch_key=flag_key).values(*_STATE_FIELDS).first()
    if row:
        state = _state(row)
    else:  # not a real feature's key: perhaps a drill's stand-in
        stand_in = KillSwitch.objects.filter(stand_in_key=flag_key).values(*_STAND_IN_FIELDS).first()
        state = _stand_in_state(stand_in) if stand_in else {}
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
                    **({"drill": True} if state.get("drill") else {}),
                },
            }
    return {
        "key": flag_key,
        "value": state["on"],
        "reason": "STATIC" if state["on"] else "DISABLED",
        "variant": "on" if state["on"] else "off",
        "metadata": {
            "feature": state["feature"],
            "version": state["version"],
            **({"drill": True} if state.get("drill") else {}),
        },
    }


def flag_evaluate(*, flag_key: str, context: dict, cached=None) -> dict | None:
    state = _flag_state(flag_key, cached)
    return None if state is None else _evaluate(flag_key, state, context)


def flags_evaluate_all(*, context: dict) -> tuple[list[dict], str]:
    """Every kill switch evaluated for the context, and an ETag over flags, versions and context."""
    states = hotcache.get(ALL_FLAGS_KEY)
    if states is None:
        states = {row["kill_switch_key"]: _state(row) for row in AIFeature.objects.values(*_STATE_FIELDS)}
        running_drills = KillSwitch.objects.filter(drill_incident__state__in=OPEN_STATES).values(*_STAND_IN_FIELDS)
        states.update({row["stand_in_key"]: _stand_in_state(row) for row in running_drills})
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
        KillSwitch.objects.filter(Q(feature__kill_switch_key__in=due) | Q(stand_in_key__in=due)).update(
            last_read_at=timezone.now()
        )


# --- the truth on the page: what the ledger says against what the switch does ---------------------


def _ledger_warnings(switch: KillSwitch, actions: list, holds: list[KillSwitchHold]) -> list[str]:
    key = switch.flag_key
    warnings = []
    kinds = {action.action_type: containment_types.get(action.action_type) for action in actions}
    if switch.is_on and any(kind and kind.turns_feature_off for kind in kinds.values()):
        warnings.append(
            f"The ledger says the feature is off, but the switch {key} is ON: users get the AI feature. "
            "Record the kill switch again or lift the ledger entry."
        )
    for action in actions:
        kind = kinds[action.action_type]
        if kind is None or kind.holds_switch != containment_types.HOLD_COHORT:
            continue
        try:
            rule = cohort_rule_from_text(action.parameters.get(kind.cohort_parameter, ""))
        except ValidationError:
            continue
        if rule not in switch.cohort_rules:
            warnings.append(
                f"The ledger says the cohort {_rule_text(rule)} is restricted, but the switch {key} has no such rule."
            )
    held = [h.held_at for h in holds]
    if held and (switch.last_read_at is None or switch.last_read_at < min(held)):
        since = min(held).strftime("%Y-%m-%d %H:%M UTC")
        last = switch.last_read_at.strftime("%Y-%m-%d %H:%M UTC") if switch.last_read_at else "never"
        warnings.append(
            f"Held since {since}, but the product has not read {key} since (last read: {last}). "
            "It may not be wired to this flag: check that users really lost the feature."
        )
    return warnings


def switch_truth(incident: Incident) -> KillSwitch:
    """The switch this incident acts on, with its active holds and what disagrees with the ledger.

    A read, never a write: a feature whose switch was never touched is on, at version 0.
    """
    if incident.is_drill:
        switch = KillSwitch.objects.filter(drill_incident=incident).first() or KillSwitch(
            drill_incident=incident, stand_in_key=stand_in_key(incident), is_on=True, version=0
        )
    else:
        switch = KillSwitch.objects.filter(feature_id=incident.feature_id).select_related("feature").first()
        switch = switch or KillSwitch(feature=incident.feature, is_on=True, version=0)
    switch.active_holds = active_holds(switch) if switch.pk else []
    actions = list(
        incident.containment_actions.filter(
            reverted_at__isnull=True, action_type__in=containment_types.switch_holding_values()
        )
    )
    mine = [h for h in switch.active_holds if h.incident_id == incident.pk]
    switch.warnings = _ledger_warnings(switch, actions, mine) if incident.is_open or mine else []
    return switch


def switch_disagreements(incidents) -> list[tuple[Incident, str]]:
    """Every disagreement between ledger and switch among these incidents, in two queries however many.

    The command centre's red list: an incident whose ledger says "off" while its switch is on, or whose
    switch the product has not read since the incident began holding it.
    """
    actions = list(
        ContainmentAction.objects.filter(
            incident__in=incidents, reverted_at__isnull=True, action_type__in=containment_types.switch_holding_values()
        )
        .select_related("incident__feature__kill_switch__feature", "incident__drill_switch")
        .order_by("incident_id", "pk")
    )
    holds = {}
    for hold in KillSwitchHold.objects.filter(incident__in=incidents, released_at__isnull=True):
        holds.setdefault(hold.incident_id, []).append(hold)
    by_incident = {}
    for action in actions:
        by_incident.setdefault(action.incident_id, []).append(action)
    found = []
    for incident_actions in by_incident.values():
        incident = incident_actions[0].incident
        if incident.is_drill:
            switch = getattr(incident, "drill_switch", None)
        else:
            switch = getattr(incident.feature, "kill_switch", None)
        if switch is None:  # never touched: on, at version 0, and never read
            switch = KillSwitch(feature=incident.feature, is_on=True, version=0)
        mine = holds.get(incident.pk, [])
        found += [(incident, text) for text in _ledger_warnings(switch, incident_actions, mine)]
    return found


def switch_export_text(incident: Incident, *, name_holders: bool = True) -> str:
    """The switch's real state when a document is printed, in one sentence (PDFs state it, not the ledger)."""
    switch = switch_truth(incident)
    key = switch.flag_key
    state = "ON (users get the AI feature)" if switch.is_on else "OFF (users do not get the AI feature)"
    text = f"{key} is {state}"
    if switch.cohort_rules:
        text += "; cohort rules: " + ", ".join(
            f"{_rule_text(r)} → {'on' if r['enabled'] else 'off'}" for r in switch.cohort_rules
        )
    if switch.active_holds:
        if name_holders:
            text += f"; held by {holders_text(switch.active_holds)}"
        else:
            count = len({h.incident_id or f"manual-{h.pk}" for h in switch.active_holds})
            text += f"; held by {count} containment decision{'s' if count != 1 else ''}"
    if switch.is_stand_in:
        text += " (a drill's stand-in switch, not production)"
    return text + "."
