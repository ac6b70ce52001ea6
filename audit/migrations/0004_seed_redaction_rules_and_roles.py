"""Seed the personal-data redaction rules and the audit-trail permissions of each role."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

RULES = [
    # Card numbers before phone numbers, so a card is not half-eaten as a phone number.
    ("Card number", r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)", "[card]"),
    ("Email address", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", "[email]"),
    ("Phone number", r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)[\s.-]?|\d{2,5}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?!\w)",
     "[phone]"),
]

ROLE_PERMISSIONS = {
    "Incident Commander": ["audit.view_auditrecord", "audit.view_evidence", "audit.add_evidence",
                           "audit.view_redactionrule", "audit.add_redactionrule", "audit.change_redactionrule",
                           "audit.order_deletion", "audit.view_deletionorder", "audit.add_deletionorder",
                           "incidents.view_finding", "incidents.add_finding", "incidents.change_finding"],
    "Responder": ["audit.view_auditrecord", "audit.view_evidence", "audit.add_evidence", "audit.view_redactionrule",
                  "audit.order_deletion", "audit.view_deletionorder", "audit.add_deletionorder",
                  "incidents.view_finding", "incidents.add_finding", "incidents.change_finding"],
    "Legal": ["audit.view_auditrecord", "audit.view_evidence", "audit.view_deletionorder", "incidents.view_finding"],
    "Viewer": ["incidents.view_finding"],
    "Communications": ["incidents.view_finding"],
    "Drill Facilitator": ["incidents.view_finding"],
}


def seed(apps, schema_editor):
    Rule = apps.get_model("audit", "RedactionRule")
    for position, (name, pattern, replacement) in enumerate(RULES, start=1):
        Rule.objects.get_or_create(name=name, defaults={"pattern": pattern, "replacement": replacement,
                                                        "position": position * 10})
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for dotted in perms:
            app_label, codename = dotted.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_audit_trail"), ("incidents", "0008_finding")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
