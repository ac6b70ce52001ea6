"""The roles as incidents/roles.py declares them: after the seed migrations, one place says what each role holds.

Later migrations that change a role list `roles_apply_operation()` again.
"""

from django.db import migrations

from incidents.roles import roles_apply_operation


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0031_contact_channels"),
        ("audit", "0005_action_log_keyed_hash"),
        ("drills", "0002_seed_scenarios_and_roles"),
        ("oncall", "0002_seed_schedule_manager"),
    ]
    operations = [roles_apply_operation()]
