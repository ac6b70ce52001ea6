"""Honest default communication templates per audience, and who may draft, approve and send them.

The defaults say plainly what happened, give the correct information where the AI got it wrong,
and say what was fixed; the placeholders in _italics_ are for the writer to replace before review.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

TEMPLATES = [
    {
        "audience": "internal",
        "subject": "[{{ severity|default:'untriaged' }}] {{ reference }} {{ title }} — {{ status }}",
        "body": "**{{ reference }}: {{ title }}**\n\n"
        "- Feature: {{ feature }}\n- Category: {{ category }}\n- Severity: {{ severity }}\n"
        "- Status: {{ status }} (detected {{ detected_at }})\n\n"
        "## What happened\n\n{{ what_happened|default:'_What we know so far._' }}\n\n"
        "## What we are doing\n\n{{ fix|default:'_Containment in place and next steps._' }}\n\n"
        "## What we need from you\n\n_Who should do what, and where to ask questions._",
    },
    {
        "audience": "affected_users",
        "subject": "About an error in {{ feature }} that affected you",
        "body": "We are writing because {{ feature }}, an AI feature you used, gave you information or "
        "behaved in a way it should not have.\n\n"
        "## What happened\n\n{{ what_happened|default:'_Plainly: what the feature did, when, and to whom._' }}\n\n"
        "## The correct information\n\n_State the correct information here, so nobody relies on what the "
        "feature said. If nothing needs correcting, say so._\n\n"
        "## What we fixed\n\n{{ fix|default:'_What we changed so it does not happen again._' }}\n\n"
        "## What you can do\n\n_Anything the reader should check or do, and how to reach us._\n\n"
        "We are sorry. Reference: {{ reference }}.",
    },
    {
        "audience": "public",
        "subject": "{{ feature }}: {{ status }}",
        "body": "We are aware of a problem with {{ feature }}. "
        "_In one or two sentences: what users may have seen, and since when._\n\n"
        "**Current status:** {{ status }}.\n\n"
        "_What we have done so far, and when we will post the next update._",
    },
    {
        "audience": "regulator",
        "subject": "Incident notification {{ reference }}: {{ category }} in {{ feature }}",
        "body": "## Reporting organisation\n\n_Name, contact point._\n\n"
        "## AI system\n\n{{ feature }}\n\n"
        "## Description of the incident\n\n{{ what_happened|default:'_Facts as known now._' }}\n\n"
        "Detected: {{ detected_at }}. Category: {{ category }}. Severity: {{ severity }}.\n\n"
        "## Affected persons and harm\n\n_Number and type of persons affected; the harm or risk._\n\n"
        "## Measures taken\n\n{{ fix|default:'_Containment and corrective measures._' }}\n\n"
        "## Contact point\n\n_Name, role, email, phone._",
    },
]

VIEW = ["view_communication", "view_communicationtemplate"]
DRAFT = ["add_communication", "change_communication", "send_communication"]
ROLE_PERMISSIONS = {
    "Incident Commander": [*VIEW, *DRAFT, "approve_internal_communication", "change_communicationtemplate"],
    "Communications": [*VIEW, *DRAFT, "approve_communication", "change_communicationtemplate"],
    "Legal": [*VIEW, "approve_communication"],
    "Responder": VIEW,
    "Drill Facilitator": VIEW,
    "Viewer": VIEW,
}


def seed(apps, schema_editor):
    Template = apps.get_model("incidents", "CommunicationTemplate")
    for spec in TEMPLATES:
        spec = dict(spec)
        Template.objects.get_or_create(audience=spec.pop("audience"), defaults=spec)
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
    dependencies = [("incidents", "0015_communications")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
