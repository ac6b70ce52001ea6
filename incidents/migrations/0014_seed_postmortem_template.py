"""The default post-mortem template (the five sections' guidance) and who may write, review and publish."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

DEFAULT_TEMPLATE = {
    "name": "Standard post-mortem",
    "is_default": True,
    "classification_marking": "Confidential — prepared at the direction of counsel",
    "what_happened": "_In a few sentences: what users saw, from detection to verified fix. The incident's "
    "timeline is appended below._",
    "impact": "_Users affected (how many, which cohort), what they saw, what they did about it "
    "(complaints, workarounds, churn)._",
    "root_cause": "_The cause and its layer (prompt, model, retrieval, tooling, data, moderation), with the "
    "evidence from the findings._",
    "why_not_caught": "_The gaps: which eval did not cover it, which monitor did not fire, which review "
    "step let it through._",
    "what_is_changing": "_The action items: owner, due date, type (prevent, detect, mitigate, process)._",
}

VIEW = ["view_postmortem", "view_postmortemtemplate", "view_learning"]
WRITE = ["add_postmortem", "change_postmortem", "add_learning", "change_learning", "delete_learning"]
ROLE_PERMISSIONS = {
    "Incident Commander": [*VIEW, *WRITE, "approve_postmortem", "publish_postmortem", "change_postmortemtemplate"],
    "Responder": [*VIEW, *WRITE],
    "Legal": [*VIEW, "approve_postmortem", "publish_postmortem"],
    "Communications": VIEW,
    "Drill Facilitator": VIEW,
    "Viewer": VIEW,
}


def seed(apps, schema_editor):
    Template = apps.get_model("incidents", "PostMortemTemplate")
    spec = dict(DEFAULT_TEMPLATE)
    Template.objects.get_or_create(name=spec.pop("name"), defaults=spec)
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
    dependencies = [("incidents", "0013_postmortems")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
