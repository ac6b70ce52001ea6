"""The migration that turns a contact's address columns into rows, forwards and back."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("incidents", "0030_event_channel")]
AFTER = [("incidents", "0031_contact_channels")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_address_column_becomes_a_row_and_comes_back():
    old = migrate(BEFORE)
    try:
        Contact = old.get_model("incidents", "StakeholderContact")
        verified_at = timezone.now()
        both = Contact.objects.create(
            name="Both",
            role="legal",
            email="both@example.com",
            chat_webhook_url="https://chat.example.com/b",
            state="verified",
            verified_at=verified_at,
        )
        hook = Contact.objects.create(name="Hook", role="pr", webhook_url="https://hooks.example.com/h")
        nothing = Contact.objects.create(name="Nothing", role="pr")

        new = migrate(AFTER)
        Row = new.get_model("incidents", "ContactChannel")
        rows = {(r.contact_id, r.kind, r.address, r.verified_at) for r in Row.objects.all()}
        assert rows == {
            (both.pk, "email", "both@example.com", verified_at),
            (both.pk, "chat", "https://chat.example.com/b", verified_at),
            (hook.pk, "webhook", "https://hooks.example.com/h", None),
        }
        Row.objects.create(contact_id=nothing.pk, kind="email", address="added@example.com")
        Row.objects.create(contact_id=both.pk, kind="email", address="second@example.com")

        back = migrate(BEFORE)
        Contact = back.get_model("incidents", "StakeholderContact")
        columns = {c.name: (c.email, c.chat_webhook_url, c.webhook_url) for c in Contact.objects.all()}
        assert columns == {
            "Both": ("both@example.com", "https://chat.example.com/b", ""),  # the first email of two
            "Hook": ("", "", "https://hooks.example.com/h"),
            "Nothing": ("added@example.com", "", ""),
        }
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
