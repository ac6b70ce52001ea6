"""The regulatory regimes Fireline ships with, and who may decide, submit and waive.

The catalogue (each rule with its legal source) lives in `incidents.deadlines.SEED_REGIMES`, next to
the arithmetic that reads it; this migration loads it once. Legal edits the rows in the admin later.
"""

import datetime

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ["view_regime", "view_deadlinerule", "view_reportabilitydecision", "view_regulatoryobligation"]
ROLE_PERMISSIONS = {
    "Incident Commander": [*VIEW, "view_regulatoryreminder", "add_reportabilitydecision",
                           "submit_regulatoryobligation"],
    "Responder": VIEW,
    "Legal": [*VIEW, "view_regulatoryreminder", "add_regime", "change_regime", "add_deadlinerule",
              "change_deadlinerule", "add_reportabilitydecision", "confirm_reportabilitydecision",
              "submit_regulatoryobligation", "waive_regulatoryobligation"],
    "Communications": VIEW,
    "Drill Facilitator": VIEW,
    "Viewer": VIEW,
}


def seed(apps, schema_editor):
    from incidents.deadlines import SEED_REGIMES

    Regime = apps.get_model("incidents", "Regime")
    Rule = apps.get_model("incidents", "DeadlineRule")
    # The catalogue grows after this migration (report chains, 0029): take only what these tables
    # had then, and leave the rules that did not exist yet to the later migration.
    regime_fields = {f.name for f in Regime._meta.get_fields()}
    rule_fields = {f.name for f in Rule._meta.get_fields()}
    for spec in SEED_REGIMES:
        spec = {k: v for k, v in spec.items() if k in regime_fields or k == "rules"}
        rules = spec.pop("rules")
        regime, _ = Regime.objects.get_or_create(code=spec.pop("code"), defaults=spec)
        by_code = {}
        for order, rule_spec in enumerate(rules):
            if rule_spec.get("opens_on", "decision") != "decision":
                continue
            rule_spec = {k: v for k, v in rule_spec.items() if k in rule_fields or k in ("after", "code")}
            after = rule_spec.pop("after", None)
            due = rule_spec.pop("due_local_time", None)
            if due:
                rule_spec["due_local_time"] = datetime.time.fromisoformat(due)
            rule_spec.setdefault("reminder_percentages", [50, 80])
            rule_spec.setdefault("reminder_hours_before", [24])
            rule, _ = Rule.objects.get_or_create(
                regime=regime, code=rule_spec.pop("code"), defaults={**rule_spec, "order": order}
            )
            by_code[rule.code] = rule
            if after:
                rule.after = by_code[after]
                rule.save(update_fields=["after"])
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
    dependencies = [("incidents", "0011_regulatory_obligations")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
