"""The append-only action log and its hash chain."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from audit.models import ActionLogEntry, AppendOnlyError
from audit.services import action_log_verify
from audit.tasks import verify_action_log
from incidents import services


@pytest.fixture
def logged(open_incident, commander):
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.timeline_add_note(incident_id=incident.pk, text="Paged the on-call", actor=commander)
    return incident


def run_verify():
    with pytest.raises(SystemExit) as exc:
        call_command("audit_verify")
        raise SystemExit(0)
    return exc.value.code


def test_every_change_is_logged_with_actor_before_and_after(logged, commander):
    entries = list(ActionLogEntry.objects.filter(incident=logged).order_by("id"))
    assert [e.verb for e in entries] == ["created", "transition:triage", "timeline_note_added"]
    triage = entries[1]
    assert triage.actor == commander and triage.actor_label == "cmdr"
    assert triage.before == {"state": "detected"} and triage.after["state"] == "triaged"


def test_an_edit_logs_exactly_the_changed_fields(logged, commander):
    services.incident_update(incident_id=logged.pk, actor=commander, changes={"title": "Renamed"})
    entry = ActionLogEntry.objects.filter(incident=logged, verb="changed").get()
    assert entry.before == {"title": "Bot said something harmful"} and entry.after == {"title": "Renamed"}


def test_nothing_is_logged_when_nothing_changed(logged, commander):
    count = ActionLogEntry.objects.count()
    services.incident_update(incident_id=logged.pk, actor=commander, changes={"title": logged.title})
    assert ActionLogEntry.objects.count() == count


def test_chain_links_each_entry_to_the_previous(logged):
    entries = list(ActionLogEntry.objects.order_by("id"))
    assert entries[0].prev_hash == "0" * 64
    for prev, entry in zip(entries, entries[1:], strict=False):
        assert entry.prev_hash == prev.entry_hash
    assert action_log_verify() is None
    assert run_verify() == 0


def test_altering_a_row_in_the_database_is_detected(logged, capsys):
    victim = ActionLogEntry.objects.order_by("id")[1]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_actionlogentry SET actor_label = %s WHERE id = %s", ["mallory", victim.pk])
    broken = action_log_verify()
    assert broken is not None and broken.entry_id == victim.pk
    assert run_verify() == 1
    assert f"entry #{victim.pk}" in capsys.readouterr().err


def test_deleting_a_row_is_detected(logged):
    entries = list(ActionLogEntry.objects.order_by("id"))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_actionlogentry WHERE id = %s", [entries[1].pk])
    broken = action_log_verify()
    assert broken is not None and broken.entry_id == entries[2].pk


def test_deleting_the_last_row_is_detected(logged):
    last = ActionLogEntry.objects.order_by("-id").first()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_actionlogentry WHERE id = %s", [last.pk])
    assert action_log_verify() is not None
    assert verify_action_log.delay().get().startswith("broken")


def test_the_orm_refuses_to_change_or_delete_entries(logged):
    entry = ActionLogEntry.objects.first()
    entry.verb = "nothing happened"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        ActionLogEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        ActionLogEntry.objects.update(verb="x")


def test_admin_shows_the_log_read_only_even_to_superusers(logged, client, superuser):
    client.force_login(superuser)
    entry = ActionLogEntry.objects.first()
    assert client.get(reverse("admin:audit_actionlogentry_changelist")).status_code == 200
    assert client.get(reverse("admin:audit_actionlogentry_add")).status_code == 403
    assert client.get(reverse("admin:audit_actionlogentry_delete", args=[entry.pk])).status_code == 403
    page = client.get(reverse("admin:audit_actionlogentry_change", args=[entry.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    client.post(reverse("admin:audit_actionlogentry_change", args=[entry.pk]), {"verb": "forged"})
    assert ActionLogEntry.objects.get(pk=entry.pk).verb == entry.verb


def test_new_entries_are_keyed_with_the_key_from_outside_the_database(logged, settings, capsys):
    assert set(ActionLogEntry.objects.values_list("hash_version", flat=True)) == {2}
    assert run_verify() == 0
    settings.FIRELINE_AUDIT_LOG_KEY = "not the key the entries were written with"
    assert run_verify() == 1
    first = ActionLogEntry.objects.order_by("id").first()
    assert f"entry #{first.pk}: its content does not match its hash" in capsys.readouterr().err


def test_an_entry_appended_while_the_check_reads_the_chain_is_not_a_break(logged):
    """The check reads the head first: a head one entry behind the chain is what a concurrent append
    looks like, and the entry beyond it is verified like the others."""
    entries = list(ActionLogEntry.objects.order_by("id"))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_actionloghead SET last_hash = %s, last_entry_id = %s, entry_count = %s WHERE id = 1",
            [entries[-2].entry_hash, entries[-2].pk, len(entries) - 1],
        )
    assert action_log_verify() is None
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_actionlogentry SET verb = 'forged' WHERE id = %s", [entries[-1].pk])
    assert action_log_verify().entry_id == entries[-1].pk
