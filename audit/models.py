"""The action log (who did what, when, in Fireline) and the AI audit trail.

The action log is a hash chain. Entries written since hash version 2 carry an HMAC-SHA256 keyed with
FIRELINE_AUDIT_LOG_KEY, a key kept outside the database, over every field of the entry (actor id and
label, verb, target, incident, before/after, time) and the previous entry's hash. Someone with write
access to the database but not the key cannot alter, insert or re-order an entry and recompute the
chain: the MACs would not match. What the chain alone cannot show is a clean cut at its end (delete the
tail, or everything, and rewind ActionLogHead): that is what the signed checkpoints written outside the
database every hour are for (audit/checkpoints.py, `audit_verify --checkpoint FILE`).

It cannot protect against someone who holds the key: they can rewrite the chain and, with write access
to the checkpoint file and the mailbox the checkpoints go to, the checkpoints too. Keep the key out of
the database host's backups and the checkpoints somewhere that host cannot rewrite.

Entries written before keying (hash version 1) keep their plain SHA-256; they are accepted only before
the first keyed entry, which seals them by chaining onto the last one.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class AppendOnlyError(Exception):
    """The action log is append-only: entries are never changed or deleted through Fireline."""


HASH_VERSION_UNKEYED = 1  # SHA-256 over the entry's content, as written before keying
HASH_VERSION_KEYED = 2  # HMAC-SHA256 with a key derived from FIRELINE_AUDIT_LOG_KEY, every field


def action_log_key(purpose: str) -> bytes:
    """A key for one purpose (entries, checkpoints), derived from FIRELINE_AUDIT_LOG_KEY.

    Read at call time, so a key set in the environment of a worker or a command is the one used.
    """
    return hmac.new(settings.FIRELINE_AUDIT_LOG_KEY.encode(), purpose.encode(), hashlib.sha256).digest()


def canonical_json(payload) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder).encode()


class ActionLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("action log entries cannot be changed")

    def delete(self):
        raise AppendOnlyError("action log entries cannot be deleted")


class ActionLogEntry(models.Model):
    """Who did what, when, in Fireline: one row per event, chained by hash.

    Each entry's hash covers its own content and the previous entry's hash, so altering, removing
    or re-ordering any row breaks the chain from that row on (`manage.py audit_verify`). See the
    module docstring for what the key and the checkpoints add, and what they cannot do.
    """

    created_at = models.DateTimeField(db_index=True)
    # PROTECT, not SET_NULL: the actor's id is part of the keyed hash, so deleting a user must not rewrite
    # the entries they wrote. Deactivate people instead; the label keeps their name as it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="Who acted, as named at the time.")
    verb = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=300)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.PROTECT, related_name="action_log"
    )
    before = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)
    hash_version = models.PositiveSmallIntegerField(
        editable=False, help_text="1: unkeyed SHA-256 (entries written before keying); 2: keyed HMAC-SHA256."
    )

    objects = ActionLogQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = "action log entry"
        verbose_name_plural = "action log"
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.verb} {self.target_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("action log entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("action log entries cannot be deleted")

    def compute_hash(self) -> str:
        """The hash this entry should carry under its hash_version ("" for a version Fireline never wrote)."""
        if self.hash_version == HASH_VERSION_KEYED:
            return self._keyed_hash()
        if self.hash_version == HASH_VERSION_UNKEYED:
            return self._unkeyed_hash()
        return ""

    def _keyed_hash(self) -> str:
        payload = {
            "v": HASH_VERSION_KEYED,
            "prev": self.prev_hash,
            "at": self.created_at.isoformat(),
            "actor_id": self.actor_id,
            "actor": self.actor_label,
            "verb": self.verb,
            "target": [self.target_type, self.target_id, self.target_label],
            "incident": self.incident_id,
            "before": self.before,
            "after": self.after,
        }
        return hmac.new(
            action_log_key("fireline action log entry v2"), canonical_json(payload), hashlib.sha256
        ).hexdigest()

    def _unkeyed_hash(self) -> str:
        # Version 1, kept only to verify entries written before keying. Never used to write.
        payload = {
            "prev": self.prev_hash,
            "at": self.created_at.isoformat(),
            "actor": self.actor_label,
            "verb": self.verb,
            "target": [self.target_type, self.target_id, self.target_label],
            "incident": self.incident_id,
            "before": self.before,
            "after": self.after,
        }
        return hashlib.sha256(canonical_json(payload)).hexdigest()


class ActionLogHead(models.Model):
    """The single row that serialises writers of the chain and remembers its last hash.

    Locking this row (select_for_update) keeps two transactions from both chaining onto the same
    previous entry; remembering the last hash catches a deleted tail.
    """

    last_hash = models.CharField(max_length=64, default="0" * 64)
    last_entry_id = models.BigIntegerField(null=True, blank=True)
    entry_count = models.BigIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True, help_text="When the chain was last checked.")
    is_intact = models.BooleanField(null=True, help_text="What the last check found.")
    first_break = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = "action log head"

    def __str__(self) -> str:
        return f"action log head after {self.entry_count} entries"


from .trail.models import AuditRecord, DeletionOrder, Evidence, RedactionRule, Verdict  # noqa: E402

__all__ = [
    "HASH_VERSION_KEYED",
    "HASH_VERSION_UNKEYED",
    "ActionLogEntry",
    "ActionLogHead",
    "AppendOnlyError",
    "AuditRecord",
    "DeletionOrder",
    "Evidence",
    "RedactionRule",
    "Verdict",
]
