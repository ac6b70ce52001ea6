from django.core.management.base import BaseCommand

from audit.checkpoints import action_log_check_and_checkpoint, checkpoint_path


class Command(BaseCommand):
    help = (
        "Do now what the hourly task does: verify the action log (and against the newest checkpoint), then "
        "append a signed checkpoint to FIRELINE_AUDIT_CHECKPOINT_DIR and send it. Prints the checkpoint line."
    )

    def handle(self, *args, **options):
        broken, checkpoint = action_log_check_and_checkpoint()
        if broken is not None:
            self.stderr.write(self.style.ERROR(f"Action log chain broken at {broken}; no checkpoint written."))
            raise SystemExit(1)
        self.stderr.write(f"Checkpoint appended to {checkpoint_path()}:")
        self.stdout.write(checkpoint.to_line())
