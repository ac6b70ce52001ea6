"""A contact's addresses become rows (ContactChannel), one per channel and address, so a new channel is a
registered sender rather than a new column. Every non-empty email / chat webhook / JSON webhook column is
copied into a row; a contact verified before keeps that date on its rows. Going back copies the first
address of each of the three kinds into its column again; rows of other kinds have no column to go to."""

import django.db.models.deletion
from django.db import migrations, models

import incidents.channels
import incidents.models.triage

COLUMNS = [("email", "email"), ("chat_webhook_url", "chat"), ("webhook_url", "webhook")]
OLD_MAX_LENGTH = {"email": 254, "chat_webhook_url": 200, "webhook_url": 200}


def columns_to_rows(apps, schema_editor):
    Contact = apps.get_model("incidents", "StakeholderContact")
    ContactChannel = apps.get_model("incidents", "ContactChannel")
    batch = []
    for contact in Contact.objects.order_by("pk").iterator(chunk_size=500):
        for column, kind in COLUMNS:
            address = (getattr(contact, column) or "").strip()
            if address:
                batch.append(
                    ContactChannel(contact_id=contact.pk, kind=kind, address=address, verified_at=contact.verified_at)
                )
        if len(batch) >= 1000:
            ContactChannel.objects.bulk_create(batch)
            batch = []
    ContactChannel.objects.bulk_create(batch)


def rows_to_columns(apps, schema_editor):
    Contact = apps.get_model("incidents", "StakeholderContact")
    ContactChannel = apps.get_model("incidents", "ContactChannel")
    kinds = {kind: column for column, kind in COLUMNS}
    first: dict[int, dict[str, str]] = {}
    for row in ContactChannel.objects.filter(kind__in=kinds).order_by("pk").iterator(chunk_size=1000):
        column = kinds[row.kind]
        if len(row.address) > OLD_MAX_LENGTH[column]:
            raise RuntimeError(
                f"Contact {row.contact_id}: its {row.kind} address is {len(row.address)} characters, longer than "
                f"the {column} column ({OLD_MAX_LENGTH[column]}); shorten it before migrating back."
            )
        first.setdefault(row.contact_id, {}).setdefault(column, row.address)
    for contact_id, values in first.items():
        Contact.objects.filter(pk=contact_id).update(**values)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0030_event_channel"),
    ]

    operations = [
        migrations.CreateModel(
            name="ContactChannel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=incidents.channels.contact_channel_choices, max_length=16)),
                ("address", models.CharField(max_length=500)),
                ("verified_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "contact",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="channel_rows",
                        to="incidents.stakeholdercontact",
                    ),
                ),
            ],
            options={
                "ordering": ["pk"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("contact", "kind", "address"),
                        name="unique_contact_channel_address",
                        violation_error_message="This contact has this address on this channel already.",
                    )
                ],
            },
        ),
        migrations.RunPython(columns_to_rows, rows_to_columns),
        migrations.RemoveField(model_name="stakeholdercontact", name="chat_webhook_url"),
        migrations.RemoveField(model_name="stakeholdercontact", name="email"),
        migrations.RemoveField(model_name="stakeholdercontact", name="webhook_url"),
        # The channel lists come from the sender registry (incidents.channels); the stored values are
        # unchanged, so these two only change what Django validates against.
        migrations.AlterField(
            model_name="escalationpolicy",
            name="channels",
            field=models.JSONField(
                default=list,
                validators=[
                    incidents.models.triage.ChoiceListValidator("incidents.channels.CONTACT_KINDS", "Channels")
                ],
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="channel",
            field=models.CharField(choices=incidents.channels.channel_choices, max_length=16),
        ),
    ]
