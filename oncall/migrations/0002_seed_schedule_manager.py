"""Who edits on-call schedules: Incident Commanders and a new Schedule Manager role; everyone else reads them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDIT = [
    f"{verb}_{model}"
    for model in ("schedule", "layer", "layermember", "override", "policytier", "importedshift")
    for verb in ("view", "add", "change", "delete")
]
READ = ["view_schedule", "view_layer", "view_layermember", "view_override", "view_policytier", "view_importedshift"]
ROLE_PERMISSIONS = {
    "Schedule Manager": EDIT,
    "Incident Commander": EDIT,
    "Responder": READ,
    "Legal": READ,
    "Communications": READ,
    "Drill Facilitator": READ,
    "Viewer": READ,
}


def seed(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="oncall", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("oncall", "0001_initial"), ("incidents", "0002_seed_roles_and_triage_matrix")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
