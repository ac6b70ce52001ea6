import hashlib
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class AppendOnlyError(Exception):
    """The action log is append-only: entries are never changed or deleted through Fireline."""


class ActionLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("action log entries cannot be changed")

    def delete(self):
        raise AppendOnlyError("action log entries cannot be deleted")


class ActionLogEntry(models.Model):
    """Who did what, when, in Fireline: one row per event, chained by hash.

    Each entry's hash covers its own content and the previous entry's hash, so altering, removing
    or re-ordering any row breaks the chain from that row on (`manage.py audit_verify`).
    """

    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
        return hashlib.sha256(canonical.encode()).hexdigest()


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


from .trail import AuditRecord, DeletionOrder, Evidence, RedactionRule, Verdict  # noqa: E402

__all__ = [
    "ActionLogEntry",
    "ActionLogHead",
    "AppendOnlyError",
    "AuditRecord",
    "DeletionOrder",
    "Evidence",
    "RedactionRule",
    "Verdict",
]
