"""Someone with write access to the database, but not FIRELINE_AUDIT_LOG_KEY, rewrites the action log.

Each scenario tampers through raw SQL (the model refuses changes). Done to the log as Fireline wrote it
before keying, the check audit_verify ran then (`unkeyed_verify`, kept here as it was) calls the result
intact; done to the keyed log, audit_verify now finds it — with `--checkpoint` where only a checkpoint
kept outside the database can tell (a cut at the end of the chain).
"""

import hashlib
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from audit.models import ActionLogEntry, ActionLogHead
from incidents import services
from tests.incidents.factories import UserFactory

GENESIS = "0" * 64


# --- what an attacker without the key can compute, and what audit_verify checked before keying -------


def unkeyed_hash(entry: ActionLogEntry, prev_hash: str) -> str:
    """The action log's hash before keying: SHA-256 over the content, no key, no actor id."""
    payload = {
        "prev": prev_hash,
        "at": entry.created_at.isoformat(),
        "actor": entry.actor_label,
        "verb": entry.verb,
        "target": [entry.target_type, entry.target_id, entry.target_label],
        "incident": entry.incident_id,
        "before": entry.before,
        "after": entry.after,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def unkeyed_verify() -> str | None:
    """audit_verify as it was before keying: the unkeyed walk, then the head's last hash and count."""
    prev, count = GENESIS, 0
    for entry in ActionLogEntry.objects.order_by("id"):
        if entry.prev_hash != prev:
            return f"entry #{entry.pk} does not follow"
        if unkeyed_hash(entry, entry.prev_hash) != entry.entry_hash:
            return f"entry #{entry.pk} altered"
        prev, count = entry.entry_hash, count + 1
    head = ActionLogHead.objects.filter(pk=1).first()
    if head is not None and (head.last_hash != prev or head.entry_count != count):
        return "the chain ends early"
    return None


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def rechain_unkeyed(*, start_id: int, hash_version: int | None = None) -> None:
    """Recompute, with the unkeyed algorithm, the hash of every entry from start_id on, then the head."""
    prev = None
    for entry in ActionLogEntry.objects.order_by("id"):
        if entry.pk < start_id:
            prev = entry.entry_hash
            continue
        prev_hash = prev if prev is not None else GENESIS
        new_hash = unkeyed_hash(entry, prev_hash)
        sql(
            "UPDATE audit_actionlogentry SET prev_hash = %s, entry_hash = %s WHERE id = %s",
            [prev_hash, new_hash, entry.pk],
        )
        if hash_version is not None:
            sql("UPDATE audit_actionlogentry SET hash_version = %s WHERE id = %s", [hash_version, entry.pk])
        prev = new_hash
    rewind_head()


def rewind_head() -> None:
    """Make the head agree with whatever entries are left, as an attacker covering their tracks would."""
    last = ActionLogEntry.objects.order_by("-id").first()
    sql(
        "UPDATE audit_actionloghead SET last_hash = %s, last_entry_id = %s, entry_count = %s WHERE id = 1",
        [last.entry_hash if last else GENESIS, last.pk if last else None, ActionLogEntry.objects.count()],
    )


def audit_verify(*args) -> tuple[int, str]:
    """Run the command as an operator would: (exit code, what it printed)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue() + err.getvalue()


@pytest.fixture
def checkpoint_dir(settings, tmp_path):
    settings.FIRELINE_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    return settings.FIRELINE_AUDIT_CHECKPOINT_DIR


@pytest.fixture
def log(open_incident, commander, checkpoint_dir):
    """Six entries about one incident, then an hourly checkpoint of them (the file Legal keeps)."""
    incident = open_incident()
    services.incident_triage(incident_id=incident.pk, actor=commander)
    for n in range(4):
        services.timeline_add_note(incident_id=incident.pk, text=f"Note {n}", actor=commander)
    assert ActionLogEntry.objects.count() == 6
    call_command("audit_checkpoint", stdout=StringIO(), stderr=StringIO())
    return checkpoint_dir / "action-log-checkpoints.jsonl"


def entries() -> list[ActionLogEntry]:
    return list(ActionLogEntry.objects.order_by("id"))


def test_an_untouched_log_verifies_with_and_without_its_checkpoint(log, commander):
    services.timeline_add_note(incident_id=ActionLogEntry.objects.first().incident_id, text="Later", actor=commander)
    assert audit_verify() == (0, "Action log intact: 7 entries verified.\n")
    code, output = audit_verify("--checkpoint", str(log))
    assert code == 0, output
    assert "7 entries verified" in output and "(6 entries)" in output


# --- the tampering, one function per scenario ------------------------------------------------------


def delete_the_tail_and_rewind_the_head() -> int:
    tail = entries()[-2:]
    sql("DELETE FROM audit_actionlogentry WHERE id IN (%s, %s)", [tail[0].pk, tail[1].pk])
    rewind_head()
    return tail[1].pk


def delete_everything_and_reset_the_head() -> int:
    last = entries()[-1]
    sql("DELETE FROM audit_actionlogentry")
    rewind_head()
    return last.pk


def change_an_actor_id() -> int:
    victim = entries()[2]
    other = UserFactory(username="someone-else")
    sql("UPDATE audit_actionlogentry SET actor_id = %s WHERE id = %s", [other.pk, victim.pk])
    assert ActionLogEntry.objects.get(pk=victim.pk).actor == other
    return victim.pk


def rewrite_an_entry_and_rechain_unkeyed(claimed_version: int | None = None) -> int:
    victim = entries()[3]
    sql("UPDATE audit_actionlogentry SET actor_label = %s WHERE id = %s", ["mallory", victim.pk])
    rechain_unkeyed(start_id=victim.pk, hash_version=claimed_version)
    return victim.pk


SCENARIOS = {
    "tail-deleted-head-rewound": delete_the_tail_and_rewind_the_head,
    "everything-deleted-head-reset": delete_everything_and_reset_the_head,
    "actor-id-changed": change_an_actor_id,
    "entry-rewritten-and-rechained": rewrite_an_entry_and_rechain_unkeyed,
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_before_keying_audit_verify_called_each_tampering_intact(log, scenario):
    """The same tampering on the log as Fireline wrote it before keying, checked as audit_verify did then."""
    rechain_unkeyed(start_id=entries()[0].pk)  # unkeyed hashes: what every entry carried before keying
    assert unkeyed_verify() is None
    SCENARIOS[scenario]()
    assert unkeyed_verify() is None, "the unkeyed chain and its head could not tell"


def test_deleting_the_tail_and_rewinding_the_head_is_found_against_the_checkpoint(log):
    missing = delete_the_tail_and_rewind_the_head()
    assert audit_verify()[0] == 0, "what is left is a valid chain: only the checkpoint can tell"
    code, output = audit_verify("--checkpoint", str(log))
    assert code == 1
    assert f"entry #{missing}: missing" in output and "cut back" in output


def test_deleting_everything_and_resetting_the_head_is_found_against_the_checkpoint(log):
    missing = delete_everything_and_reset_the_head()
    assert ActionLogHead.objects.get(pk=1).entry_count == 0
    code, output = audit_verify("--checkpoint", str(log))
    assert code == 1
    assert f"entry #{missing}: missing" in output


def test_changing_the_actor_id_is_found_without_a_checkpoint(log):
    victim = change_an_actor_id()
    code, output = audit_verify()
    assert code == 1
    assert f"entry #{victim}: its content does not match its hash" in output


@pytest.mark.parametrize("claimed_version", [None, 1], ids=["keeps-version-2", "claims-unkeyed-version-1"])
def test_rewriting_an_entry_and_rechaining_with_the_unkeyed_hash_is_found(log, claimed_version):
    victim = rewrite_an_entry_and_rechain_unkeyed(claimed_version)
    code, output = audit_verify()
    assert code == 1
    assert f"entry #{victim}:" in output
    if claimed_version == 1:
        assert "an unkeyed entry after keyed ones" in output
    assert audit_verify("--checkpoint", str(log))[0] == 1


def test_rewriting_the_whole_log_as_unkeyed_is_found_against_the_checkpoint(log):
    """Every entry downgraded to the unkeyed version looks like a log from before keying: only the
    checkpoint, which holds the keyed hash of the last entry, tells them apart."""
    first = entries()[0]
    sql("UPDATE audit_actionlogentry SET actor_label = %s WHERE id = %s", ["mallory", first.pk])
    rechain_unkeyed(start_id=first.pk, hash_version=1)

    assert audit_verify()[0] == 0, "without the key or a checkpoint, an all-unkeyed log cannot be told apart"
    code, output = audit_verify("--checkpoint", str(log))
    assert code == 1
    assert f"entry #{entries()[-1].pk}: its hash is not the one the checkpoint of" in output


def test_rechaining_with_a_guessed_key_is_found(log, settings):
    victim = entries()[1]
    sql("UPDATE audit_actionlogentry SET target_label = %s WHERE id = %s", ["nothing to see", victim.pk])
    real_key = settings.FIRELINE_AUDIT_LOG_KEY
    settings.FIRELINE_AUDIT_LOG_KEY = "a key the attacker guessed"
    prev = entries()[0].entry_hash
    for entry in entries()[1:]:
        entry.prev_hash = prev
        forged = entry.compute_hash()
        sql("UPDATE audit_actionlogentry SET prev_hash = %s, entry_hash = %s WHERE id = %s", [prev, forged, entry.pk])
        prev = forged
    rewind_head()
    settings.FIRELINE_AUDIT_LOG_KEY = real_key
    code, output = audit_verify()
    assert code == 1 and f"entry #{victim.pk}:" in output


def test_entries_from_before_keying_still_verify_and_are_sealed_by_the_first_keyed_entry(log, commander):
    """An install upgraded from the unkeyed log: its old entries keep their unkeyed hashes (version 1)."""
    old = entries()
    rechain_unkeyed(start_id=old[0].pk, hash_version=1)  # as the migration leaves a pre-keying log
    assert audit_verify()[0] == 0, "an unkeyed log from before keying verifies"
    services.timeline_add_note(incident_id=old[0].incident_id, text="After the upgrade", actor=commander)
    newest = entries()[-1]
    assert newest.hash_version == 2 and newest.prev_hash == ActionLogEntry.objects.get(pk=old[-1].pk).entry_hash
    assert audit_verify()[0] == 0

    # Rewriting an unkeyed entry and re-chaining the unkeyed part breaks the link to the first keyed entry.
    sql("UPDATE audit_actionlogentry SET actor_label = %s WHERE id = %s", ["mallory", old[2].pk])
    prev = entries()[1].entry_hash
    for entry in entries()[2:-1]:
        new_hash = unkeyed_hash(entry, prev)
        sql("UPDATE audit_actionlogentry SET prev_hash = %s, entry_hash = %s WHERE id = %s", [prev, new_hash, entry.pk])
        prev = new_hash
    code, output = audit_verify()
    assert code == 1 and f"entry #{newest.pk}: does not follow the entry before it" in output


def test_deleting_a_user_who_acted_is_refused_so_the_log_keeps_their_id(log):
    from django.db.models import ProtectedError

    actor = UserFactory(username="leaver", role="Incident Commander")
    services.timeline_add_note(incident_id=entries()[0].incident_id, text="Handing over", actor=actor)
    with pytest.raises(ProtectedError):
        actor.delete()
    assert entries()[-1].actor_id == actor.pk
    assert audit_verify()[0] == 0
