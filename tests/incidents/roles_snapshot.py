"""Every group and its permissions ("app_label.codename"), as the JSON in roles_seeded.json.

roles_seeded.json is this script's output on a fresh SQLite database migrated before the roles moved to
incidents/roles.py (seven seed migrations granted them then). Run it against any database with
    python manage.py shell --no-imports -c "from tests.incidents.roles_snapshot import main; main()"
"""

import json

from django.contrib.auth.models import Group


def group_permissions() -> dict[str, list[str]]:
    return {
        group.name: sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all())
        for group in Group.objects.prefetch_related("permissions__content_type").order_by("name")
    }


def main() -> None:
    print(json.dumps(group_permissions(), indent=1, sort_keys=True))
