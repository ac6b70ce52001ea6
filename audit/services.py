"""The action log: one small function per event type, all writing through `_append`.

Nothing is logged when nothing changed. Callers run inside their own transaction, so a failed
change leaves no log entry behind.

Entries are chained with an HMAC keyed outside the database (FIRELINE_AUDIT_LOG_KEY), so without the
key no entry can be altered, inserted or re-ordered unnoticed; a cut at the end of the chain (the tail
or everything deleted, the head rewound) shows only against a signed checkpoint kept outside the
database (audit/checkpoints.py). Someone holding the key and able to rewrite the checkpoints can
rewrite history: see audit/models.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from .actors import actor_user
from .models import HASH_VERSION_KEYED, HASH_VERSION_UNKEYED, ActionLogEntry, ActionLogHead
from .signals import action_logged

GENESIS_HASH = "0" * 64


def _plain(value: Any) -> Any:
    """What JSONField will give back when the entry is read again, so hashes stay stable."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _actor_label(actor) -> str:
    if actor is None:
        return "system"
    return actor.get_username() if hasattr(actor, "get_username") else str(actor)


def _head_for_update() -> ActionLogHead:
    head = ActionLogHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        ActionLogHead.objects.get_or_create(pk=1)
        head = ActionLogHead.objects.select_for_update().get(pk=1)
    return head


@transaction.atomic
def _append(
    *,
    actor,
    verb: str,
    target: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    incident=None,
) -> ActionLogEntry:
    head = _head_for_update()
    entry = ActionLogEntry(
        created_at=timezone.now(),
        actor=actor_user(actor),
        actor_label=_actor_label(actor),
        verb=verb,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=str(target)[:300],
        incident=incident,
        before=_plain(before or {}),
        after=_plain(after or {}),
        prev_hash=head.last_hash,
        hash_version=HASH_VERSION_KEYED,
    )
    entry.entry_hash = entry.compute_hash()
    entry.save()
    head.last_hash = entry.entry_hash
    head.last_entry_id = entry.pk
    head.entry_count += 1
    head.save(update_fields=["last_hash", "last_entry_id", "entry_count"])
    # Listeners (outbound lifecycle events) act in this same transaction: a rolled-back action sends nothing.
    action_logged.send(sender=ActionLogEntry, entry=entry)
    return entry


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """Field values as they read on screen: foreign keys by id, everything JSON-safe."""
    values = {}
    for name in fields:
        field = instance._meta.get_field(name)
        if field.many_to_many:
            values[name] = sorted(instance.__class__.objects.filter(pk=instance.pk).values_list(name, flat=True))
        elif field.is_relation:
            values[name] = getattr(instance, field.attname)
        else:
            values[name] = getattr(instance, name)
    return _plain(values)


def diff(before: dict, after: dict) -> tuple[dict, dict]:
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    return {k: before.get(k) for k in sorted(changed)}, {k: after.get(k) for k in sorted(changed)}


# --- one function per event type --------------------------------------------------------------


def log_created(*, actor, target: models.Model, values: dict, incident=None) -> ActionLogEntry:
    return _append(actor=actor, verb="created", target=target, after=values, incident=incident)


def log_changed(*, actor, target: models.Model, before: dict, after: dict, incident=None) -> ActionLogEntry | None:
    old, new = diff(_plain(before), _plain(after))
    if not old and not new:
        return None
    return _append(actor=actor, verb="changed", target=target, before=old, after=new, incident=incident)


def log_transition(
    *,
    actor,
    target: models.Model,
    source: str,
    target_state: str,
    name: str,
    incident=None,
    details: dict | None = None,
) -> ActionLogEntry:
    after = {"state": target_state, "transition": name, **(details or {})}
    return _append(
        actor=actor,
        verb=f"transition:{name}",
        target=target,
        before={"state": source},
        after=after,
        incident=incident,
    )


def log_containment_recorded(*, actor, action) -> ActionLogEntry:
    return _append(
        actor=actor,
        verb="containment_recorded",
        target=action,
        after={
            "action_type": action.action_type,
            "parameters": action.parameters,
            "approved_by": action.approved_by_id,
            "is_reversible": action.is_reversible,
            "performed_at": action.performed_at,
        },
        incident=action.incident,
    )


def log_containment_reverted(*, actor, action) -> ActionLogEntry:
    return _append(
        actor=actor,
        verb="containment_reverted",
        target=action,
        before={"reverted_at": None},
        after={"reverted_at": action.reverted_at, "reason": action.revert_reason},
        incident=action.incident,
    )


def log_timeline_note(*, actor, entry) -> ActionLogEntry:
    return _append(
        actor=actor,
        verb="timeline_note_added",
        target=entry,
        after={"occurred_at": entry.occurred_at, "text": entry.text},
        incident=entry.incident,
    )


def log_report_handled(*, actor, report, before_state: str, incident=None, reason: str = "") -> ActionLogEntry:
    """A user report left the inbox: attached to an incident or dismissed.

    The reporter's contact is personal data and stays out of this append-only log: it can be erased
    from the report, never from a hash chain.
    """
    after = {"state": report.state, "incident": report.incident_id}
    if reason:
        after["reason"] = reason
    return _append(
        actor=actor,
        verb=f"report_{report.state}",
        target=report,
        before={"state": before_state},
        after=after,
        incident=incident,
    )


def log_api_token_created(*, actor, token) -> ActionLogEntry:
    return _append(
        actor=actor,
        verb="api_token_created",
        target=token,
        after={"name": token.name, "scopes": token.scopes, "prefix": token.prefix, "user": token.user_id},
    )


def log_api_token_revoked(*, actor, token) -> ActionLogEntry:
    return _append(
        actor=actor,
        verb="api_token_revoked",
        target=token,
        before={"revoked_at": None},
        after={"revoked_at": token.revoked_at, "name": token.name, "prefix": token.prefix},
    )


def log_deletion_ordered(*, actor, order, record_ids: list[int]) -> ActionLogEntry:
    """A responder ordered the content of audit records removed. Ids and the reason only, never content."""
    return _append(
        actor=actor,
        verb="deletion_ordered",
        target=order,
        after={"records": record_ids, "reason": order.reason, "incident": order.incident_id},
        incident=order.incident,
    )


def log_deletion_carried_out(
    *, order, emptied_ids: list[int], already_empty_ids: list[int], evidence_ids: list[int]
) -> ActionLogEntry:
    """The content of an order's records is gone. Which records, and why; never what they said.

    Records that are evidence keep their Evidence row, whose frozen hash no longer matches: the incident
    shows that, and this entry is the explanation.
    """
    after = {
        "emptied": emptied_ids,
        "reason": order.reason,
        "ordered_by": order.ordered_by_id,
        "fields": [
            "input",
            "model_output",
            "user_output",
            "retrieved_context text",
            "moderation",
            "tool_calls",
            "parameters",
        ],
    }
    if already_empty_ids:
        after["already_empty"] = already_empty_ids
    if evidence_ids:
        after["evidence"] = evidence_ids
        after["note"] = (
            "These records are evidence on an incident: their content no longer matches the hash frozen when "
            "they were attached. That mismatch is this deletion, not tampering."
        )
    return _append(
        actor=None,
        verb="deletion_carried_out",
        target=order,
        before={"state": "pending"},
        after=after,
        incident=order.incident,
    )


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"entry #{self.entry_id}" if self.entry_id is not None else "end of chain"
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class ChainTip:
    """Where a walk of the chain ended: what a checkpoint records."""

    entry_count: int
    last_entry_id: int | None
    last_hash: str


def action_log_walk() -> tuple[ChainBreak | None, ChainTip]:
    """Walk the chain from the first entry: (the first break or None, the last entry verified).

    Unkeyed (version 1) entries are accepted only before the first keyed one: the first keyed entry
    chains onto the last unkeyed hash and so seals everything before it. An unkeyed entry after a keyed
    one can only have been written by someone without the key.

    The head is read before the walk and compared with the chain at the head's own entry, so an entry
    appended while the walk runs is not mistaken for a cut (it is verified like the others).
    """
    head = ActionLogHead.objects.filter(pk=1).first()
    head_position = (head.last_entry_id, head.last_hash, head.entry_count) if head is not None else None
    seen_head = head_position is None or head_position[0] is None
    prev = GENESIS_HASH
    last_id = None
    count = 0
    keyed_seen = False

    def tip() -> ChainTip:
        return ChainTip(entry_count=count, last_entry_id=last_id, last_hash=prev)

    if head_position is not None and head_position[0] is None and head_position[1:] != (GENESIS_HASH, 0):
        return ChainBreak(None, "the head is inconsistent with an empty chain"), tip()
    for entry in ActionLogEntry.objects.order_by("id").iterator(chunk_size=2000):
        if entry.prev_hash != prev:
            return ChainBreak(
                entry.pk, "does not follow the entry before it (an entry was removed or reordered)"
            ), tip()
        if entry.hash_version == HASH_VERSION_UNKEYED and keyed_seen:
            return ChainBreak(
                entry.pk, "an unkeyed entry after keyed ones (rewritten by someone without the key)"
            ), tip()
        if entry.hash_version not in (HASH_VERSION_UNKEYED, HASH_VERSION_KEYED):
            return ChainBreak(entry.pk, f"unknown hash version {entry.hash_version} (the row was altered)"), tip()
        if entry.compute_hash() != entry.entry_hash:
            return ChainBreak(
                entry.pk,
                "its content does not match its hash (the row was altered, "
                "or FIRELINE_AUDIT_LOG_KEY is not the key it was written with)",
            ), tip()
        keyed_seen = keyed_seen or entry.hash_version == HASH_VERSION_KEYED
        prev = entry.entry_hash
        last_id = entry.pk
        count += 1
        if head_position is not None and entry.pk == head_position[0]:
            seen_head = True
            if (prev, count) != head_position[1:]:
                return ChainBreak(entry.pk, "the head does not match the chain at this entry"), tip()
    if not seen_head:
        missing = head_position[2] - count
        if missing > 0:
            return ChainBreak(last_id, f"the chain ends early: {missing} entries after it are missing"), tip()
        return ChainBreak(None, f"the head names entry #{head_position[0]}, which is not in the chain"), tip()
    return None, tip()


def action_log_verify() -> ChainBreak | None:
    """Walk the chain from the first entry; return the first break, or None when intact."""
    return action_log_walk()[0]


def action_log_record_outcome(broken: ChainBreak | None) -> None:
    """Remember what a check found, so the admin can show when the chain was last checked and how it was."""
    ActionLogHead.objects.get_or_create(pk=1)
    ActionLogHead.objects.filter(pk=1).update(
        verified_at=timezone.now(), is_intact=broken is None, first_break=str(broken)[:300] if broken else ""
    )
