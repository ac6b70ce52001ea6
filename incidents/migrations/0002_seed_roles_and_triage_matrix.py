"""Seed the six roles and the triage matrix (6 categories x 4 impact levels)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SEVERITY = {
    # category:               limited  widespread public  regulatory
    "harmful_output":         ("SEV3", "SEV2", "SEV1", "SEV1"),
    "data_leak":              ("SEV2", "SEV1", "SEV1", "SEV1"),
    "factual_misinformation": ("SEV4", "SEV3", "SEV2", "SEV2"),
    "unauthorized_action":    ("SEV2", "SEV1", "SEV1", "SEV1"),
    "scale_degradation":      ("SEV4", "SEV3", "SEV2", "SEV2"),
    "capability_loss":        ("SEV4", "SEV2", "SEV2", "SEV2"),
}
IMPACTS = ("limited", "widespread", "public", "regulatory")

# "Feature flag off + fallback" is the default for most categories; degradation is usually a
# change to roll back, and a dead feature needs its fallback, not a kill switch.
CONTAINMENT = {
    "harmful_output": ["feature_flag_off", "fallback"],
    "data_leak": ["feature_flag_off", "fallback"],
    "factual_misinformation": ["feature_flag_off", "fallback"],
    "unauthorized_action": ["feature_flag_off", "fallback"],
    "scale_degradation": ["rollback", "fallback"],
    "capability_loss": ["fallback", "rollback"],
}
PAGE_WITHIN = {"SEV1": 5, "SEV2": 15, "SEV3": 60, "SEV4": 240}


def response_for(category, impact, severity):
    stakeholders = ["engineering_on_call"]
    if severity == "SEV1":
        stakeholders += ["leadership", "legal", "pr"]
    elif severity == "SEV2":
        stakeholders += ["leadership"]
    if impact == "public" and "pr" not in stakeholders:
        stakeholders.append("pr")
    if impact == "regulatory" or category == "data_leak":
        stakeholders += [r for r in ("legal", "privacy_officer") if r not in stakeholders]
    communications = ["internal"]
    if impact in ("widespread", "public", "regulatory") or severity in ("SEV1", "SEV2"):
        communications.append("affected_users")
    if impact == "public" or severity == "SEV1":
        communications.append("public")
    if impact == "regulatory":
        communications.append("regulator")
    return {
        "severity": severity,
        "default_containment": CONTAINMENT[category],
        "required_stakeholders": stakeholders,
        # Anything user-impacting gets a post-mortem; a minor, contained blip does not have to.
        "requires_postmortem": severity != "SEV4",
        "required_communications": communications,
        "page_within_minutes": PAGE_WITHIN[severity],
    }


# The roles as this migration first created them; incidents/roles.py declares what they hold today.
VIEW_REFERENCE = ["incidents.view_aifeature", "incidents.view_triagerule"]
VIEW_CASE = ["incidents.view_incident", "incidents.view_containmentaction", "incidents.view_timelineentry"]

ROLE_PERMISSIONS = {
    "Incident Commander": [
        *VIEW_REFERENCE,
        *VIEW_CASE,
        "incidents.add_incident",
        "incidents.change_incident",
        "incidents.triage_incident",
        "incidents.contain_incident",
        "incidents.investigate_incident",
        "incidents.fix_incident",
        "incidents.verify_incident",
        "incidents.start_postmortem_incident",
        "incidents.close_incident",
        "incidents.dismiss_incident",
        "incidents.reopen_incident",
        "incidents.add_aifeature",
        "incidents.change_aifeature",
        "incidents.change_triagerule",
        "incidents.add_containmentaction",
        "incidents.change_containmentaction",
        "incidents.add_timelineentry",
        "audit.view_actionlogentry",
    ],
    "Responder": [
        *VIEW_REFERENCE,
        *VIEW_CASE,
        "incidents.add_incident",
        "incidents.change_incident",
        "incidents.contain_incident",
        "incidents.investigate_incident",
        "incidents.fix_incident",
        "incidents.verify_incident",
        "incidents.add_containmentaction",
        "incidents.change_containmentaction",
        "incidents.add_timelineentry",
    ],
    "Legal": [
        *VIEW_REFERENCE,
        *VIEW_CASE,
        "incidents.view_restricted_incident",
        "incidents.add_timelineentry",
        "audit.view_actionlogentry",
    ],
    "Communications": [*VIEW_REFERENCE, *VIEW_CASE, "incidents.add_timelineentry"],
    "Drill Facilitator": [*VIEW_REFERENCE, *VIEW_CASE],
    "Viewer": [*VIEW_REFERENCE, *VIEW_CASE],
}


def seed(apps, schema_editor):
    TriageRule = apps.get_model("incidents", "TriageRule")
    for category, severities in SEVERITY.items():
        for impact, severity in zip(IMPACTS, severities, strict=True):
            TriageRule.objects.update_or_create(
                category=category, impact=impact, defaults=response_for(category, impact, severity)
            )

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
    dependencies = [
        ("incidents", "0001_initial"),
        ("audit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
