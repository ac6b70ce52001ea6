from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.checkpoints import checkpoint_check, checkpoint_newest, checkpoints_read
from audit.models import ActionLogEntry
from audit.services import action_log_verify


class Command(BaseCommand):
    help = (
        "Check the action log's keyed hash chain, and with --checkpoint that it still holds what the newest "
        "signed checkpoint in FILE recorded. Exit 0 when intact, 1 naming what broke."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint",
            metavar="FILE",
            type=Path,
            help="a file of checkpoint lines (FIRELINE_AUDIT_CHECKPOINT_DIR/action-log-checkpoints.jsonl, or "
            "lines copied from the checkpoint emails); catches a log cut back, emptied or rewritten",
        )

    def fail(self, message: str):
        self.stderr.write(self.style.ERROR(message))
        raise SystemExit(1)

    def handle(self, *args, **options):
        newest = None
        if options["checkpoint"] is not None:
            path = options["checkpoint"]
            try:
                checkpoints, ignored = checkpoints_read(path)
            except OSError as exc:
                raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
            for note in ignored:
                self.stderr.write(self.style.WARNING(f"Ignored {path} {note}"))
            newest = checkpoint_newest(checkpoints)
            if newest is None:
                self.fail(f"No checkpoint with a valid signature in {path}: nothing to check the log against.")
        broken = action_log_verify()
        if broken is not None:
            self.fail(f"Action log chain broken at {broken}")
        if newest is not None:
            broken = checkpoint_check(newest)
            if broken is not None:
                self.fail(f"Action log does not match {newest}: {broken}")
        message = f"Action log intact: {ActionLogEntry.objects.count()} entries verified"
        if newest is not None:
            where = f"entry #{newest.last_entry_id}" if newest.last_entry_id is not None else "the empty log"
            message += f"; it still holds {where} as {newest} recorded ({newest.entry_count} entries)"
        self.stdout.write(self.style.SUCCESS(message + "."))
