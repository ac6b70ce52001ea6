"""Who may add and close action items, who reviews public post-mortems, and the default distribution lists."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ITEMS_WRITE = ["view_actionitem", "add_actionitem", "change_actionitem"]
LISTS_VIEW = ["view_distributionlist", "view_postmortemapproval"]
ROLE_PERMISSIONS = {
    "Incident Commander": [*ITEMS_WRITE, *LISTS_VIEW, "change_distributionlist"],
    "Responder": [*ITEMS_WRITE, *LISTS_VIEW],
    "Legal": [*ITEMS_WRITE, *LISTS_VIEW],
    "Drill Facilitator": [*ITEMS_WRITE, *LISTS_VIEW],
    # Communications approves post-mortems that go public, and keeps the distribution lists.
    "Communications": ["view_actionitem", *LISTS_VIEW, "approve_postmortem", "change_distributionlist"],
    "Viewer": ["view_actionitem", *LISTS_VIEW],
}

# Stakeholder roles told when a post-mortem is published: the severe reach leadership, Legal and PR.
DISTRIBUTION = {
    "SEV1": ["leadership", "legal", "pr", "engineering_on_call", "customer_support"],
    "SEV2": ["leadership", "legal", "engineering_on_call", "customer_support"],
    "SEV3": ["engineering_on_call", "customer_support"],
    "SEV4": ["engineering_on_call"],
}


def seed(apps, schema_editor):
    DistributionList = apps.get_model("incidents", "DistributionList")
    for severity, roles in DISTRIBUTION.items():
        DistributionList.objects.get_or_create(severity=severity, defaults={"roles": roles})
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="incidents", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("incidents", "0019_postmortem_followups")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
