"""Hourly signed checkpoints of the action log, written outside the database and sent to Legal."""

import json
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection

from audit.checkpoints import checkpoints_read
from audit.models import ActionLogEntry, ActionLogHead
from audit.tasks import verify_action_log
from incidents import services
from incidents.models import Notification


@pytest.fixture
def checkpoint_file(settings, tmp_path):
    settings.FIRELINE_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.FIRELINE_AUDIT_CHECKPOINT_EMAIL = ["legal-archive@example.com", "dpo@example.com"]
    return tmp_path / "checkpoints" / "action-log-checkpoints.jsonl"


@pytest.fixture
def logged(open_incident, commander):
    incident = open_incident()
    services.timeline_add_note(incident_id=incident.pk, text="Paged the on-call", actor=commander)
    return incident


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def audit_verify(*args) -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def test_the_hourly_check_appends_a_signed_checkpoint_and_mails_it_to_legal(
    logged, checkpoint_file, commander, django_capture_on_commit_callbacks
):
    last = ActionLogEntry.objects.order_by("-id").first()
    with django_capture_on_commit_callbacks(execute=True):
        assert verify_action_log.delay().get() == "intact: checkpoint at 2 entries"
    [checkpoint] = lines(checkpoint_file)
    assert checkpoint["entry_count"] == 2
    assert checkpoint["last_entry_id"] == last.pk and checkpoint["last_hash"] == last.entry_hash
    assert checkpoint["signature"].startswith("hmac-sha256:") and checkpoint["created_at"]
    assert sorted(m.to[0] for m in mail.outbox) == ["dpo@example.com", "legal-archive@example.com"]
    assert json.dumps(checkpoint, sort_keys=True, separators=(",", ":")) in mail.outbox[0].body
    head = ActionLogHead.objects.get(pk=1)
    assert head.is_intact is True and head.verified_at is not None

    # the next hour appends; nothing already written is touched
    services.timeline_add_note(incident_id=logged.pk, text="Contained", actor=commander)
    assert verify_action_log.delay().get() == "intact: checkpoint at 3 entries"
    assert [c["entry_count"] for c in lines(checkpoint_file)] == [2, 3]


def test_the_hourly_check_finds_a_cut_against_its_last_checkpoint_and_writes_no_new_one(
    logged, checkpoint_file, django_capture_on_commit_callbacks
):
    verify_action_log.delay().get()
    mail.outbox.clear()
    last = ActionLogEntry.objects.order_by("-id").first()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_actionlogentry WHERE id = %s", [last.pk])
        cursor.execute(
            "UPDATE audit_actionloghead SET last_hash = %s, entry_count = 1, last_entry_id = %s WHERE id = 1",
            [last.prev_hash, ActionLogEntry.objects.get().pk],
        )
    with django_capture_on_commit_callbacks(execute=True):
        outcome = verify_action_log.delay().get()
    assert outcome.startswith(f"broken: entry #{last.pk}: missing")
    assert len(lines(checkpoint_file)) == 1, "no checkpoint vouches for a broken log"
    head = ActionLogHead.objects.get(pk=1)
    assert head.is_intact is False and f"entry #{last.pk}" in head.first_break
    assert {m.subject for m in mail.outbox} == {"Fireline action log: the chain is broken"}
    assert f"entry #{last.pk}" in mail.outbox[0].body


def test_checkpoints_can_go_to_a_webhook_through_the_outbox(logged, checkpoint_file, settings):
    settings.FIRELINE_AUDIT_CHECKPOINT_EMAIL = []
    settings.FIRELINE_AUDIT_CHECKPOINT_WEBHOOK_URL = "https://archive.example.com/fireline"
    verify_action_log.delay().get()
    notification = Notification.objects.get(recipient="https://archive.example.com/fireline")
    assert notification.channel == "webhook" and lines(checkpoint_file)[0]["signature"] in notification.body


def test_a_checkpoint_line_edited_by_hand_is_ignored(logged, checkpoint_file, tmp_path):
    call_command("audit_checkpoint", stdout=StringIO(), stderr=StringIO())
    genuine = lines(checkpoint_file)[0]
    forged_file = tmp_path / "forged.jsonl"
    forged_file.write_text(json.dumps({**genuine, "entry_count": 1}) + "\n")

    assert checkpoints_read(forged_file) == ([], ["line 1: the signature does not match"])
    code, output = audit_verify("--checkpoint", str(forged_file))
    assert code == 1 and "No checkpoint with a valid signature" in output

    # a forged line beside genuine ones is reported and left out; the genuine one is used
    forged_file.write_text(checkpoint_file.read_text() + json.dumps({**genuine, "last_entry_id": 999}) + "\nnot json\n")
    code, output = audit_verify("--checkpoint", str(forged_file))
    assert code == 0, output
    assert "line 2: the signature does not match" in output and "line 3: not a checkpoint" in output


def test_the_newest_valid_checkpoint_is_the_one_checked(logged, checkpoint_file, commander):
    call_command("audit_checkpoint", stdout=StringIO(), stderr=StringIO())
    services.timeline_add_note(incident_id=logged.pk, text="Third", actor=commander)
    call_command("audit_checkpoint", stdout=StringIO(), stderr=StringIO())
    third = ActionLogEntry.objects.order_by("-id").first()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_actionlogentry WHERE id = %s", [third.pk])
        cursor.execute("UPDATE audit_actionloghead SET last_hash = %s, entry_count = 2 WHERE id = 1", [third.prev_hash])
        cursor.execute("UPDATE audit_actionloghead SET last_entry_id = (SELECT MAX(id) FROM audit_actionlogentry)")
    assert audit_verify()[0] == 0
    code, output = audit_verify("--checkpoint", str(checkpoint_file))
    assert code == 1 and f"entry #{third.pk}: missing" in output


def test_a_checkpoint_of_an_empty_log_still_catches_nothing_but_a_shrink(db, checkpoint_file, open_incident):
    call_command("audit_checkpoint", stdout=StringIO(), stderr=StringIO())
    assert lines(checkpoint_file)[0]["entry_count"] == 0 and lines(checkpoint_file)[0]["last_entry_id"] is None
    open_incident()
    assert audit_verify("--checkpoint", str(checkpoint_file))[0] == 0


def test_a_missing_checkpoint_file_is_an_error_not_a_pass(db, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Cannot read"):
        call_command("audit_verify", "--checkpoint", str(tmp_path / "nowhere.jsonl"))


def test_the_checkpoint_command_prints_the_line_it_appended(logged, checkpoint_file):
    out = StringIO()
    call_command("audit_checkpoint", stdout=out, stderr=StringIO())
    assert json.loads(out.getvalue()) == lines(checkpoint_file)[-1]


def test_a_checkpoint_directory_that_cannot_be_written_still_mails_the_checkpoint(
    logged, checkpoint_file, settings, tmp_path, caplog, django_capture_on_commit_callbacks
):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    settings.FIRELINE_AUDIT_CHECKPOINT_DIR = blocked
    with django_capture_on_commit_callbacks(execute=True):
        assert verify_action_log.delay().get() == "intact: checkpoint at 2 entries"
    assert "Could not append the action log checkpoint" in caplog.text
    assert len(mail.outbox) == 2 and '"entry_count":2' in mail.outbox[0].body
