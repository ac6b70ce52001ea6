"""A kill switch for every AI feature, verification policies per severity, and the roles' permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# The bound on the failure rate that counts as fixed: stricter for the severe.
POLICIES = {"SEV1": 0.01, "SEV2": 0.02, "SEV3": 0.05, "SEV4": 0.10}

ROLE_PERMISSIONS = {
    "Incident Commander": ["view_killswitch", "change_killswitch", "view_evalcase", "add_evalcase",
                           "change_evalcase", "view_evalrun", "view_verificationpolicy",
                           "change_verificationpolicy"],
    "Responder": ["view_killswitch", "change_killswitch", "view_evalcase", "add_evalcase", "change_evalcase",
                  "view_evalrun", "view_verificationpolicy"],
    "Legal": ["view_killswitch", "view_evalcase", "view_evalrun"],
    "Communications": ["view_killswitch"],
    "Drill Facilitator": ["view_killswitch", "view_evalcase"],
    "Viewer": ["view_killswitch", "view_evalcase", "view_evalrun"],
}


def seed(apps, schema_editor):
    AIFeature = apps.get_model("incidents", "AIFeature")
    KillSwitch = apps.get_model("incidents", "KillSwitch")
    for feature in AIFeature.objects.all():
        KillSwitch.objects.get_or_create(feature=feature)
    Policy = apps.get_model("incidents", "VerificationPolicy")
    for severity, rate in POLICIES.items():
        Policy.objects.get_or_create(severity=severity, defaults={"min_trials": 20, "max_failure_rate": rate})
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
    dependencies = [("incidents", "0009_kill_switches_and_evals")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
