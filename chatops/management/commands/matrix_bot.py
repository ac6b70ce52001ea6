"""`python manage.py matrix_bot`: the Matrix bot, reading `!incident` commands and note reactions until stopped."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from chatops.backends.base import ChatRejected, ChatUnavailable, backend_get
from chatops.matrix_sync import run_forever, sync_once


class Command(BaseCommand):
    help = (
        "Run the Matrix bot (MATRIX_HOMESERVER_URL, MATRIX_BOT_TOKEN or MATRIX_BOT_USER/MATRIX_BOT_PASSWORD): "
        "it answers `!incident` commands and turns note reactions into timeline notes. Stops on SIGTERM/SIGINT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One /sync round, then exit (a check, or cron).")
        parser.add_argument(
            "--timeout", type=int, default=30, help="Seconds the homeserver may hold each /sync open (default 30)."
        )

    def handle(self, *args, once: bool, timeout: int, **options):
        if not 0 <= timeout <= 300:
            raise CommandError("--timeout: give seconds between 0 and 300.")
        backend = backend_get("matrix")
        if once:
            try:
                result = sync_once(backend=backend, timeout_ms=0)
            except (ChatUnavailable, ChatRejected) as exc:
                raise CommandError(f"Matrix: {exc}") from exc
            self.stdout.write(
                f"{backend.user_id}: {result.commands} command(s), {result.notes} note(s), {result.joined} room(s) "
                f"joined{' (first round: only the position was stored)' if result.first else ''}"
            )
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"Matrix bot for {backend.homeserver_url} running; SIGTERM or Ctrl-C stops it.")
        run_forever(stop=stop, timeout_ms=timeout * 1000, backend=backend)
        self.stdout.write("Matrix bot stopped.")
