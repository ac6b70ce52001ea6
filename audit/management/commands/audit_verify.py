from django.core.management.base import BaseCommand

from audit.models import ActionLogEntry
from audit.services import action_log_verify


class Command(BaseCommand):
    help = "Check the action log's hash chain. Exit 0 when intact, 1 naming the first broken entry."

    def handle(self, *args, **options):
        broken = action_log_verify()
        if broken is not None:
            self.stderr.write(self.style.ERROR(f"Action log chain broken at {broken}"))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"Action log intact: {ActionLogEntry.objects.count()} entries verified."))
