"""Seed one escalation policy per severity and give the roles their notification permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

POLICIES = {
    # SEV1 brings leadership, legal and PR in from the start.
    "SEV1": (["engineering_on_call", "leadership", "legal", "pr"], ["email", "chat", "webhook"], 5,
             ["contained", "fixed", "closed"]),
    "SEV2": (["engineering_on_call", "leadership"], ["email", "chat", "webhook"], 15, ["contained", "closed"]),
    "SEV3": (["engineering_on_call"], ["email", "chat"], 60, ["closed"]),
    "SEV4": (["engineering_on_call"], ["email"], 240, []),
}

ROLE_PERMISSIONS = {
    "Incident Commander": ["view_stakeholdercontact", "add_stakeholdercontact", "change_stakeholdercontact",
                           "retire_stakeholdercontact", "view_escalationpolicy", "change_escalationpolicy",
                           "view_page", "acknowledge_page", "view_notification", "change_notification"],
    "Responder": ["view_stakeholdercontact", "view_escalationpolicy", "view_page", "acknowledge_page",
                  "view_notification"],
    "Legal": ["view_stakeholdercontact", "view_escalationpolicy", "view_page", "acknowledge_page",
              "view_notification"],
    "Communications": ["view_stakeholdercontact", "view_page", "acknowledge_page", "view_notification"],
    "Drill Facilitator": ["view_stakeholdercontact", "view_page", "view_notification"],
    "Viewer": ["view_stakeholdercontact", "view_page"],
}


def seed(apps, schema_editor):
    EscalationPolicy = apps.get_model("incidents", "EscalationPolicy")
    for severity, (roles, channels, minutes, states) in POLICIES.items():
        EscalationPolicy.objects.update_or_create(severity=severity, defaults={
            "roles": roles, "channels": channels, "ack_timeout_minutes": minutes, "notify_states": states})

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
    dependencies = [("incidents", "0003_stakeholders_and_notifications")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
