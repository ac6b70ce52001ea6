from django.core.management.base import BaseCommand, CommandError

from incidents.roles import ROLES, RoleError, roles_apply


class Command(BaseCommand):
    help = (
        "Give every Fireline role (incidents/roles.py) exactly its declared permissions and print what changed. "
        "Safe to run again: a second run changes nothing. Groups that are not Fireline roles are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print what would change and change nothing; exit with status 1 if anything would.",
        )
        parser.add_argument(
            "--list", action="store_true", help="Print every role, what it is for and its permissions; change nothing."
        )

    def handle(self, *args, **options):
        dry_run = options["dry_run"]
        if options["list"]:
            for role in sorted(ROLES.values(), key=lambda r: r.name):
                self.stdout.write(f"{role.name}: {role.purpose}")
                for permission in sorted(role.permissions):
                    self.stdout.write(f"    {permission}")
            return
        try:
            changes = roles_apply(dry_run=dry_run)
        except RoleError as exc:
            raise CommandError(str(exc)) from exc
        for change in changes:
            if not change.changed:
                self.stdout.write(f"{change.role}: unchanged")
                continue
            if change.created:
                self.stdout.write(f"{change.role}: created")
            for permission in change.added:
                self.stdout.write(f"{change.role}: + {permission}")
            for permission in change.removed:
                self.stdout.write(f"{change.role}: - {permission}")
        changed = sum(1 for change in changes if change.changed)
        if dry_run:
            self.stdout.write(f"{changed} of {len(changes)} role(s) would change (dry run: nothing written).")
            if changed:
                raise CommandError("The roles differ from incidents/roles.py; run roles_apply without --dry-run.")
            return
        self.stdout.write(self.style.SUCCESS(f"{changed} of {len(changes)} role(s) changed."))
