"""Signed checkpoints of the action log, kept outside the database.

The keyed chain (audit/models.py) shows any entry altered, inserted or re-ordered by someone without
FIRELINE_AUDIT_LOG_KEY. It cannot show a clean cut at its end: delete the last entries (or all of them)
and rewind ActionLogHead, and what is left is a valid, shorter chain. So every hour, once the chain
verifies, Fireline writes where it ended (entry count, last entry id, last hash, time), signed with a
key derived from FIRELINE_AUDIT_LOG_KEY:

- as one JSON line appended to `action-log-checkpoints.jsonl` in FIRELINE_AUDIT_CHECKPOINT_DIR, a
  directory the operator makes append-only (`chattr +a`, a WORM mount) and out of the database's reach;
- to the email addresses in FIRELINE_AUDIT_CHECKPOINT_EMAIL and the webhook in
  FIRELINE_AUDIT_CHECKPOINT_WEBHOOK_URL (Legal chooses them), through the notification outbox.

`manage.py audit_verify --checkpoint FILE` (and the hourly task, against the newest checkpoint in the
directory) then requires that the checkpointed entry still exists with its hash and that the log has not
shrunk. A cut or a rewrite since the last checkpoint is found; entries written after the last checkpoint
and removed before the next one are not (at most an hour's worth), and nothing here stands up to someone
who holds the key and can rewrite both the checkpoint file and the mailboxes.

A database restored from a backup older than the newest checkpoint is, truthfully, a log cut back: the
hourly check reports it and writes no checkpoint until an operator, once the loss is explained, points
FIRELINE_AUDIT_CHECKPOINT_DIR at a new directory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import ActionLogEntry, action_log_key, canonical_json
from .services import ChainBreak, ChainTip, action_log_record_outcome, action_log_walk
from .signals import action_log_notice

logger = logging.getLogger(__name__)

CHECKPOINT_FILE_NAME = "action-log-checkpoints.jsonl"
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class Checkpoint:
    entry_count: int
    last_entry_id: int | None
    last_hash: str
    created_at: str
    site: str
    signature: str
    v: int = CHECKPOINT_FORMAT

    def signed_fields(self) -> dict:
        fields = asdict(self)
        fields.pop("signature")
        return fields

    def to_line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def __str__(self) -> str:
        return f"the checkpoint of {self.created_at}"


def checkpoint_signature(fields: dict) -> str:
    mac = hmac.new(action_log_key("fireline action log checkpoint v1"), canonical_json(fields), hashlib.sha256)
    return "hmac-sha256:" + mac.hexdigest()


def checkpoint_path() -> Path:
    return Path(settings.FIRELINE_AUDIT_CHECKPOINT_DIR) / CHECKPOINT_FILE_NAME


def checkpoint_make(tip: ChainTip) -> Checkpoint:
    unsigned = Checkpoint(
        entry_count=tip.entry_count,
        last_entry_id=tip.last_entry_id,
        last_hash=tip.last_hash,
        created_at=timezone.now().isoformat(),
        site=settings.FIRELINE_BASE_URL,
        signature="",
    )
    return Checkpoint(**{**asdict(unsigned), "signature": checkpoint_signature(unsigned.signed_fields())})


def checkpoints_read(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints in a file whose signature holds, and a note for each line that was ignored.

    A line that is not a checkpoint or whose signature does not match was not written by Fireline with
    this key (or was cut short by a crash while it was written): it proves nothing and is left out.
    """
    valid, ignored = [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                checkpoint = Checkpoint(**json.loads(line))
            except (ValueError, TypeError) as exc:
                ignored.append(f"line {number}: not a checkpoint ({exc.__class__.__name__})")
                continue
            if not hmac.compare_digest(checkpoint.signature, checkpoint_signature(checkpoint.signed_fields())):
                ignored.append(f"line {number}: the signature does not match")
                continue
            valid.append(checkpoint)
    return valid, ignored


def checkpoint_newest(checkpoints: list[Checkpoint]) -> Checkpoint | None:
    return max(checkpoints, key=lambda c: (datetime.fromisoformat(c.created_at), c.entry_count), default=None)


def checkpoint_check(checkpoint: Checkpoint) -> ChainBreak | None:
    """Does the log still hold what the checkpoint saw? The entry with its hash, and no fewer entries."""
    if checkpoint.last_entry_id is not None:
        entry = ActionLogEntry.objects.filter(pk=checkpoint.last_entry_id).only("entry_hash").first()
        if entry is None:
            return ChainBreak(
                checkpoint.last_entry_id,
                f"missing, though {checkpoint} recorded it as entry {checkpoint.entry_count} of the log "
                "(the log was cut back or emptied)",
            )
        if entry.entry_hash != checkpoint.last_hash:
            return ChainBreak(
                checkpoint.last_entry_id, f"its hash is not the one {checkpoint} recorded (the entry was rewritten)"
            )
        up_to = ActionLogEntry.objects.filter(pk__lte=checkpoint.last_entry_id).count()
        if up_to != checkpoint.entry_count:
            return ChainBreak(
                checkpoint.last_entry_id,
                f"{up_to} entries up to it, where {checkpoint} recorded {checkpoint.entry_count}",
            )
    total = ActionLogEntry.objects.count()
    if total < checkpoint.entry_count:
        return ChainBreak(
            None, f"the log holds {total} entries, fewer than the {checkpoint.entry_count} {checkpoint} recorded"
        )
    return None


def checkpoint_append(checkpoint: Checkpoint, path: Path | None = None) -> Path:
    """Append one line and make sure it reached the disk (O_APPEND: works in an append-only directory)."""
    path = path or checkpoint_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(checkpoint.to_line() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return path


@transaction.atomic
def _send(*, subject: str, body: str, dedup_prefix: str) -> int:
    """Through the notification outbox (audit/notices.py listens to `action_log_notice`): how many were queued."""
    responses = action_log_notice.send(sender=ActionLogEntry, subject=subject, body=body, dedup_prefix=dedup_prefix)
    return sum(queued for _receiver, queued in responses)


def checkpoint_send(checkpoint: Checkpoint) -> int:
    body = (
        "Fireline's action log was verified intact and ended here. Keep this message: it is how a later "
        "check proves that no entry up to this point was removed or rewritten "
        "(python manage.py audit_verify --checkpoint FILE, with this line in FILE).\n\n"
        f"{checkpoint.to_line()}\n"
    )
    return _send(
        subject=f"Fireline action log checkpoint: {checkpoint.entry_count} entries",
        body=body,
        dedup_prefix=f"audit-checkpoint:{checkpoint.signature[-32:]}",
    )


def chain_break_send(broken: ChainBreak) -> int:
    now = timezone.now()
    return _send(
        subject="Fireline action log: the chain is broken",
        body=f"The hourly check of Fireline's action log failed at {now.isoformat()}:\n\n{broken}\n\n"
        "No checkpoint is written until this is explained. Run python manage.py audit_verify --checkpoint "
        "with the checkpoints you hold to see what changed.\n",
        dedup_prefix=f"audit-chain-broken:{now:%Y%m%d%H}",
    )


def action_log_check_and_checkpoint() -> tuple[ChainBreak | None, Checkpoint | None]:
    """The hourly check: verify the chain and compare it with the newest checkpoint; when both hold, write
    and send a new checkpoint. A broken chain is recorded and reported, and no checkpoint vouches for it.
    """
    broken, tip = action_log_walk()
    path = checkpoint_path()
    if broken is None and path.exists():
        checkpoints, ignored = checkpoints_read(path)
        for note in ignored:
            logger.warning("Ignored a line of %s: %s", path, note)
        newest = checkpoint_newest(checkpoints)
        if newest is None:
            broken = ChainBreak(None, f"{path} holds no checkpoint with a valid signature")
        else:
            broken = checkpoint_check(newest)
    action_log_record_outcome(broken)
    if broken is not None:
        chain_break_send(broken)
        return broken, None
    checkpoint = checkpoint_make(tip)
    try:
        checkpoint_append(checkpoint, path)
    except OSError:
        # Still mailed: a checkpoint Legal holds is worth having even when the directory is not writable.
        logger.critical("Could not append the action log checkpoint to %s", path, exc_info=True)
    checkpoint_send(checkpoint)
    return None, checkpoint
