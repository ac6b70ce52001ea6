"""Seed routing rules for the playbook's monitoring signals and the detection permissions of each role."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

RULES = [
    # name, matchers, category, impact
    ("Quality metric drop", {"signal": "quality_drop"}, "scale_degradation", "widespread"),
    ("Refusal-rate spike", {"signal": "refusal_rate"}, "capability_loss", "widespread"),
    ("Cost spike", {"signal": "cost_spike"}, "scale_degradation", "limited"),
    ("Latency spike", {"signal": "latency_spike"}, "capability_loss", "limited"),
]

ROLE_PERMISSIONS = {
    "Incident Commander": ["view_alert", "change_alert", "view_alertpayload", "view_alertroutingrule",
                           "add_alertroutingrule", "change_alertroutingrule", "view_userreport",
                           "change_userreport"],
    "Responder": ["view_alert", "change_alert", "view_alertpayload", "view_alertroutingrule", "view_userreport",
                  "change_userreport"],
    "Legal": ["view_userreport", "view_alert"],
    "Communications": ["view_userreport"],
}


def seed(apps, schema_editor):
    Rule = apps.get_model("incidents", "AlertRoutingRule")
    for position, (name, matchers, category, impact) in enumerate(RULES, start=1):
        Rule.objects.get_or_create(name=name, defaults={"matchers": matchers, "category": category,
                                                        "impact": impact, "position": position * 10})
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
    dependencies = [("incidents", "0005_detection")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
