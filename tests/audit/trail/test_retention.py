"""Retention with legal hold, deletion orders, and the admin for redaction rules and deletion orders."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audit.models import ActionLogEntry, AuditRecord, DeletionOrder, Evidence, RedactionRule
from audit.services import action_log_verify
from audit.tasks import carry_out_deletion_orders, expire_audit_records
from audit.trail import retention
from audit.trail.ingest import audit_records_ingest, record_content_hash
from audit.trail.retention import audit_records_expire, deletion_order_carry_out, deletion_order_create
from incidents.constants import IncidentState
from incidents.models import Incident, TimelineEntry
from tests.incidents.factories import AIFeatureFactory, IncidentFactory

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
LEAK = "my card is 4111 1111 1111 1111 and I live at 1 Acacia Avenue"


def store(feature, request_id, *, at, now=NOW, **fields):
    """One record through ingest, so its hashes are what production computes."""
    data = {
        "request_id": request_id,
        "occurred_at": at.isoformat(),
        "feature": feature.key,
        "user_id": "u-1",
        "model_version": "m-7",
        "prompt_version": "p-3",
        "parameters": {"temperature": 0.3, "seed": 11},
        "input": "question",
        "model_output": "answer",
        "user_output": "answer",
        "retrieved_context": [{"id": "kb-1", "source": "kb", "text": "a document"}],
        "moderation": [{"stage": "output", "rule": "pii", "verdict": "flag", "score": 0.7}],
        "tool_calls": [{"name": "refund", "arguments": {"amount": 10}}],
        **fields,
    }
    result = audit_records_ingest(lines=[(1, json.dumps(data).encode())], now=now)
    assert result.accepted == 1, result
    return AuditRecord.objects.get(feature=feature, request_id=request_id)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


# --- retention ------------------------------------------------------------------------------------


@pytest.fixture
def bot(db):
    return AIFeatureFactory(key="support-bot", audit_retention_days=30)


def test_expired_records_go_and_young_ones_stay(bot):
    store(bot, "old", at=ago(31))
    store(bot, "young", at=ago(29))
    long_kept = AIFeatureFactory(key="search-bot", audit_retention_days=90)
    store(long_kept, "old-but-kept-longer", at=ago(60))
    counts = audit_records_expire(now=NOW)
    assert counts["deleted"] == 1 and counts["more"] is False
    assert set(AuditRecord.objects.values_list("request_id", flat=True)) == {"young", "old-but-kept-longer"}


def test_evidence_is_on_legal_hold_even_on_a_closed_incident(bot):
    record = store(bot, "evidence", at=ago(200))
    incident = IncidentFactory(feature=bot, detected_at=ago(190))
    Incident.objects.filter(pk=incident.pk).update(state=IncidentState.CLOSED)
    Evidence.objects.create(incident=incident, record=record, content_hash=record.content_hash)
    store(bot, "plain", at=ago(200))
    counts = audit_records_expire(now=NOW)
    assert counts["deleted"] == 1 and counts["held_as_evidence"] == 1
    assert list(AuditRecord.objects.values_list("request_id", flat=True)) == ["evidence"]


def test_an_open_incident_holds_its_feature_from_a_day_before_it_began(bot):
    IncidentFactory(feature=bot, occurred_at=ago(40), detected_at=ago(39))
    store(bot, "in-window", at=ago(40.5))  # within the 24 hours before it occurred
    store(bot, "before-window", at=ago(41.5))
    other = AIFeatureFactory(key="other-bot", audit_retention_days=30)
    store(other, "other-feature", at=ago(40.5))  # the hold is per feature
    counts = audit_records_expire(now=NOW)
    assert counts["deleted"] == 2 and counts["held_by_open_incident"] == 1
    assert list(AuditRecord.objects.values_list("request_id", flat=True)) == ["in-window"]


def test_an_open_incident_without_a_start_time_holds_from_its_detection(bot):
    IncidentFactory(feature=bot, occurred_at=None, detected_at=ago(40))
    store(bot, "held", at=ago(40.8))
    store(bot, "not-held", at=ago(41.2))
    audit_records_expire(now=NOW)
    assert list(AuditRecord.objects.values_list("request_id", flat=True)) == ["held"]


def test_a_record_that_became_evidence_mid_run_is_not_deleted(bot, monkeypatch):
    """The hold is checked when the batch is picked; evidence attached just after is still honoured."""
    record = store(bot, "attached-meanwhile", at=ago(200))
    Evidence.objects.create(incident=IncidentFactory(feature=bot), record=record, content_hash=record.content_hash)
    everything_expired = AuditRecord.objects.filter(feature=bot)  # as if picked before the attach
    monkeypatch.setattr(retention, "_expired", lambda feature, **kw: (everything_expired, everything_expired.none()))
    assert audit_records_expire(now=NOW)["deleted"] == 0
    assert AuditRecord.objects.filter(pk=record.pk).exists()


def test_a_dismissed_incident_holds_nothing(bot):
    incident = IncidentFactory(feature=bot, occurred_at=ago(40))
    Incident.objects.filter(pk=incident.pk).update(state=IncidentState.DISMISSED)
    store(bot, "gone", at=ago(40.5))
    assert audit_records_expire(now=NOW)["deleted"] == 1


def test_expiry_runs_in_batches_and_a_second_run_finds_nothing(bot):
    for n in range(7):
        store(bot, f"old-{n}", at=ago(35 + n))
    store(bot, "young", at=ago(1))
    assert audit_records_expire(now=NOW, batch_size=3)["deleted"] == 7
    assert audit_records_expire(now=NOW, batch_size=3) == {
        "deleted": 0,
        "held_as_evidence": 0,
        "held_by_open_incident": 0,
        "more": False,
    }
    assert AuditRecord.objects.count() == 1


def test_a_spent_time_budget_says_there_is_more(bot):
    store(bot, "old", at=ago(31))
    assert audit_records_expire(now=NOW, time_budget=-1)["more"] is True
    assert AuditRecord.objects.count() == 1


def test_expiry_query_count_does_not_grow_with_the_records(bot, django_assert_max_num_queries):
    for n in range(40):
        store(bot, f"old-{n}", at=ago(31 + n))
    with django_assert_max_num_queries(16):
        assert audit_records_expire(now=NOW)["deleted"] == 40


def test_the_hourly_task_expires_records(bot):
    real_now = datetime.now(UTC)
    store(bot, "old", at=real_now - timedelta(days=45), now=real_now)
    store(bot, "young", at=real_now - timedelta(days=2), now=real_now)
    assert expire_audit_records()["deleted"] == 1
    assert list(AuditRecord.objects.values_list("request_id", flat=True)) == ["young"]


# --- deletion orders ------------------------------------------------------------------------------


@pytest.fixture
def leaked(bot):
    return store(bot, "leak-1", at=ago(2), input=LEAK, model_output=LEAK, user_output="ok")


def test_a_viewer_may_not_order_deletion(viewer, leaked):
    with pytest.raises(PermissionDenied):
        deletion_order_create(record_ids=[leaked.pk], reason="card number leaked", actor=viewer)
    assert not DeletionOrder.objects.exists()


def test_an_order_needs_a_reason_and_existing_records(responder, leaked):
    with pytest.raises(ValidationError) as excinfo:
        deletion_order_create(record_ids=[leaked.pk], reason="  ", actor=responder)
    assert "reason" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        deletion_order_create(record_ids=[leaked.pk, 999_999], reason="leak", actor=responder)
    assert "999999" in str(excinfo.value)
    with pytest.raises(ValidationError):
        deletion_order_create(record_ids=[], reason="leak", actor=responder)


def test_an_order_on_a_restricted_incident_needs_its_visibility(responder, leaked, bot):
    hidden = IncidentFactory(feature=bot, is_restricted=True)
    with pytest.raises(ValidationError) as excinfo:
        deletion_order_create(record_ids=[leaked.pk], reason="leak", actor=responder, incident=hidden)
    assert "incident" in excinfo.value.message_dict


def test_ordering_is_logged_and_queues_the_carrying_out(responder, leaked, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        order = deletion_order_create(record_ids=[leaked.pk], reason="Card number leaked", actor=responder)
    assert len(callbacks) == 1
    entry = ActionLogEntry.objects.get(verb="deletion_ordered")
    assert entry.actor == responder and entry.after["records"] == [leaked.pk]
    assert entry.after["reason"] == "Card number leaked"
    # Unit tests run tasks eagerly: the queued task has already carried the order out.
    order.refresh_from_db()
    assert order.state == DeletionOrder.State.DONE


def test_carrying_out_removes_content_keeps_metadata_and_says_why(responder, leaked, bot):
    incident = IncidentFactory(feature=bot)
    evidence = Evidence.objects.create(incident=incident, record=leaked, content_hash=leaked.content_hash)
    order = deletion_order_create(
        record_ids=[leaked.pk], reason="Card number leaked", actor=responder, incident=incident
    )
    assert deletion_order_carry_out(order_id=order.pk).state == DeletionOrder.State.DONE

    record = AuditRecord.objects.get(pk=leaked.pk)
    assert (record.input, record.model_output, record.user_output) == ("", "", "")
    assert record.parameters == {} and record.moderation == [] and record.tool_calls == []
    assert record.retrieved_context == [{"id": "kb-1", "source": "kb", "text": ""}]
    assert (record.request_id, record.occurred_at, record.model_version, record.prompt_version) == (
        "leak-1",
        leaked.occurred_at,
        "m-7",
        "p-3",
    )
    assert record.user_ref == leaked.user_ref and record.redactions == leaked.redactions
    assert record.content_deleted_at is not None
    assert record.content_deleted_reason == f"Deletion order #{order.pk}: Card number leaked"
    # The record agrees with itself again; the evidence keeps its frozen hash, which no longer matches.
    assert record.content_hash == record_content_hash(record) != evidence.content_hash
    assert Evidence.objects.filter(pk=evidence.pk).exists()

    entry = ActionLogEntry.objects.get(verb="deletion_carried_out")
    assert entry.after["emptied"] == [leaked.pk] and entry.after["reason"] == "Card number leaked"
    assert entry.after["evidence"] == [leaked.pk] and "no longer matches" in entry.after["note"]
    assert entry.incident == incident and entry.actor is None
    logged = json.dumps([e.after for e in ActionLogEntry.objects.all()])
    assert "Acacia" not in logged and "question" not in logged and "answer" not in logged
    assert TimelineEntry.objects.filter(incident=incident, text__contains="1 audit record").exists()
    assert action_log_verify() is None


def test_carrying_out_twice_changes_nothing_the_second_time(responder, leaked):
    order = deletion_order_create(record_ids=[leaked.pk], reason="leak", actor=responder)
    deletion_order_carry_out(order_id=order.pk)
    entries = ActionLogEntry.objects.count()
    deletion_order_carry_out(order_id=order.pk)
    assert ActionLogEntry.objects.count() == entries


def test_a_second_order_for_emptied_records_says_they_were_already_empty(responder, leaked):
    first = deletion_order_create(record_ids=[leaked.pk], reason="leak", actor=responder)
    second = deletion_order_create(record_ids=[leaked.pk], reason="leak, again", actor=responder)
    deletion_order_carry_out(order_id=first.pk)
    deletion_order_carry_out(order_id=second.pk)
    entry = ActionLogEntry.objects.filter(verb="deletion_carried_out").first()  # newest first
    assert entry.after["emptied"] == [] and entry.after["already_empty"] == [leaked.pk]
    assert AuditRecord.objects.get(pk=leaked.pk).content_deleted_reason.startswith(f"Deletion order #{first.pk}")


def test_the_minute_task_carries_out_every_pending_order(responder, bot):
    records = [store(bot, f"r{n}", at=ago(1), input=LEAK) for n in range(3)]
    deletion_order_create(record_ids=[records[0].pk], reason="leak", actor=responder)
    deletion_order_create(record_ids=[r.pk for r in records[1:]], reason="leak", actor=responder)
    assert carry_out_deletion_orders() == 2
    assert not AuditRecord.objects.exclude(input="").exists()
    assert carry_out_deletion_orders() == 0


# --- admin ----------------------------------------------------------------------------------------


def test_deletion_orders_list_and_page(client, responder, leaked, bot, django_assert_max_num_queries):
    for n in range(5):
        deletion_order_create(record_ids=[leaked.pk], reason=f"leak {n}", actor=responder)
    client.force_login(responder)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("admin:audit_deletionorder_changelist"))
    assert response.status_code == 200 and b"Deletion order #" in response.content
    order = DeletionOrder.objects.first()
    page = client.get(reverse("admin:audit_deletionorder_change", args=[order.pk]))
    assert page.status_code == 200 and b"leak-1" in page.content


def test_an_order_about_a_restricted_incident_is_hidden_from_outsiders(client, responder, commander, leaked, bot):
    restricted = IncidentFactory(feature=bot, is_restricted=True, commander=commander)
    order = deletion_order_create(record_ids=[leaked.pk], reason="leak", actor=commander, incident=restricted)
    client.force_login(responder)
    listing = client.get(reverse("admin:audit_deletionorder_changelist"))
    assert f"#{order.pk}".encode() not in listing.content
    page = client.get(reverse("admin:audit_deletionorder_change", args=[order.pk]))
    assert page.status_code in (302, 404)


def test_carry_out_now_from_the_admin(client, responder, leaked):
    order = deletion_order_create(record_ids=[leaked.pk], reason="leak", actor=responder)
    client.force_login(responder)
    response = client.post(
        reverse("admin:audit_deletionorder_changelist"),
        {"action": "carry_out_now", "_selected_action": [order.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert DeletionOrder.objects.get(pk=order.pk).state == DeletionOrder.State.DONE


def test_redaction_rule_changes_are_logged_and_checked(client, commander):
    client.force_login(commander)
    rule = RedactionRule.objects.get(name="Email address")
    url = reverse("admin:audit_redactionrule_change", args=[rule.pk])
    base = {"name": rule.name, "pattern": rule.pattern, "replacement": "[mail]", "position": rule.position}
    response = client.post(url, {**base, "is_active": "on"})
    assert response.status_code == 302
    entry = ActionLogEntry.objects.get(verb="changed", target_type="audit.redactionrule")
    assert entry.before == {"replacement": "[email]"} and entry.after == {"replacement": "[mail]"}
    bad = client.post(url, {**base, "pattern": "([a-z", "is_active": "on"})
    assert bad.status_code == 200 and b"Not a valid regular expression" in bad.content
    empty = client.post(url, {**base, "pattern": "x*", "is_active": "on"})
    assert b"matches empty text" in empty.content
    assert RedactionRule.objects.get(pk=rule.pk).pattern == rule.pattern


def test_the_rule_list_switches_rules_off_in_place(client, commander, django_assert_max_num_queries):
    client.force_login(commander)
    url = reverse("admin:audit_redactionrule_changelist")
    with django_assert_max_num_queries(10):
        page = client.get(url)
    assert page.status_code == 200 and b"Try the rules" in page.content
    rules = list(RedactionRule.objects.order_by("position"))
    form = {"form-TOTAL_FORMS": len(rules), "form-INITIAL_FORMS": len(rules), "_save": "Save"}
    for n, rule in enumerate(rules):
        form[f"form-{n}-id"] = rule.pk
        form[f"form-{n}-position"] = rule.position
        if rule.name != "Phone number":
            form[f"form-{n}-is_active"] = "on"
    assert client.post(url, form).status_code == 302
    assert not RedactionRule.objects.get(name="Phone number").is_active
    entry = ActionLogEntry.objects.get(verb="changed", target_type="audit.redactionrule")
    assert entry.after == {"is_active": False} and entry.actor == commander


def test_try_the_rules_in_the_admin(client, responder):
    client.force_login(responder)
    url = reverse("admin:audit_redactionrule_try")
    assert client.get(url).status_code == 200
    result = client.post(url, {"text": "Mail jane@example.com, call +44 20 7946 0958", "replacement": ""})
    assert b"Mail [email], call [phone]" in result.content and b"Email address: 1" in result.content
    alone = client.post(url, {"text": "order TCK-12", "pattern": r"TCK-\d+", "replacement": "[ticket]"})
    assert b"order [ticket]" in alone.content
    assert not RedactionRule.objects.filter(pattern=r"TCK-\d+").exists()


def test_try_is_refused_to_those_who_cannot_see_rules(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("admin:audit_redactionrule_try")).status_code == 403
