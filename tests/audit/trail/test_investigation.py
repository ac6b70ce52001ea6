"""Investigating from an incident: search the audit trail, attach frozen evidence, see what changed."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import ActionLogEntry, AuditRecord, Evidence
from audit.trail.charts import what_changed_svg
from audit.trail.ingest import audit_records_ingest_ndjson
from audit.trail.investigation import (
    audit_record_page,
    audit_record_search,
    evidence_attach,
    evidence_integrity,
    evidence_list,
    incident_change_window,
    incident_propose_change_hypotheses,
    record_content_hash,
    user_ref_for,
    what_changed,
)
from incidents.constants import Category
from incidents.models import TimelineEntry
from tests.audit.factories import NOW, build_record, make_record, make_records
from tests.conftest import fresh
from tests.incidents.factories import AIFeatureFactory, UserFactory


@pytest.fixture
def outsider(db):
    """A responder who is not on the restricted incident."""
    return fresh(UserFactory(username="other-resp", role="Responder"))


# --- search -----------------------------------------------------------------------------------


@pytest.fixture
def trail(feature):
    other = AIFeatureFactory(key="writer")
    make_records(feature, 5)  # req-0..4, newest first
    make_record(feature, 10, model_version="model-2", prompt_version="prompt-2")
    make_record(
        feature,
        11,
        input="how do I reset my password",
        moderation=[{"stage": "output", "rule": "self-harm", "verdict": "block", "score": 0.97}],
    )
    make_record(feature, 12, model_output="I will IGNORE the rules", user_output="Sorry, I cannot help.")
    make_record(feature, 13, user_ref=user_ref_for("alice"))
    make_record(other, 14)
    return {"feature": feature, "other": other}


def ids(qs):
    return [r.request_id for r in qs]


def test_search_by_feature_and_window_is_newest_first(trail, responder):
    found = audit_record_search(
        user=responder,
        feature=trail["feature"],
        start=NOW - timedelta(minutes=11),
        end=NOW,  # end is exclusive
    )
    assert ids(found) == ["req-1", "req-2", "req-3", "req-4", "req-10", "req-11"]
    assert "req-14" in ids(audit_record_search(user=responder, feature="writer"))
    assert "req-14" not in ids(audit_record_search(user=responder, feature=trail["feature"].pk))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"model_version": "model-2"}, ["req-10"]),
        ({"prompt_version": "prompt-2"}, ["req-10"]),
        ({"request_id": " req-12 "}, ["req-12"]),
        ({"user_ref": "alice"}, ["req-13"]),
        ({"user_ref": user_ref_for("alice")}, ["req-13"]),
        ({"text": "PASSWORD"}, ["req-11"]),  # input, case-insensitive
        ({"text": "ignore the rules"}, ["req-12"]),  # model output
        ({"text": "cannot help"}, ["req-12"]),  # user-facing output
        ({"verdict": "block"}, ["req-11"]),
        ({"verdict": "block", "text": "password", "model_version": "model-1"}, ["req-11"]),
    ],
)
def test_search_filters(trail, responder, filters, expected):
    assert ids(audit_record_search(user=responder, feature=trail["feature"], **filters)) == expected


def test_verdict_allow_excludes_blocked_requests(trail, responder):
    allowed = ids(audit_record_search(user=responder, feature=trail["feature"], verdict="allow"))
    assert "req-11" not in allowed and "req-0" in allowed


def test_search_is_empty_without_the_permission_and_pages(trail, viewer, responder):
    assert list(audit_record_search(user=viewer)) == []
    page = audit_record_page(user=responder, feature=trail["feature"], per_page=3, page=2)
    assert page.paginator.count == 9 and ids(page.object_list) == ["req-3", "req-4", "req-10"]


# --- the search in the admin --------------------------------------------------------------------


def changelist(client, **params):
    return client.get(reverse("admin:audit_auditrecord_changelist"), params)


def listed(response) -> set[str]:
    return {r.request_id for r in response.context["cl"].result_list}


def test_admin_search_filters_and_searches(client, trail, responder):
    client.force_login(responder)
    feature = trail["feature"].pk
    assert changelist(client).status_code == 200
    assert "req-14" not in listed(changelist(client, feature__id__exact=feature))
    assert listed(changelist(client, model_version="model-2")) == {"req-10"}
    assert listed(changelist(client, prompt_version="prompt-2")) == {"req-10"}
    assert listed(changelist(client, verdict="block")) == {"req-11"}
    assert listed(changelist(client, q="req-12")) == {"req-12"}
    assert listed(changelist(client, q="password")) == {"req-11"}
    assert listed(changelist(client, q="user:alice")) == {"req-13"}
    window = changelist(
        client,
        feature__id__exact=feature,
        occurred_at__gte=(NOW - timedelta(minutes=2)).isoformat(),
        occurred_at__lt=(NOW - timedelta(minutes=0)).strftime("%Y-%m-%dT%H:%M"),  # typed, UTC
    )
    assert listed(window) == {"req-1", "req-2"}
    assert changelist(client, occurred_at__gte="yesterday").status_code == 302  # the admin's "?e=1"


def test_admin_search_needs_the_permission(client, trail, viewer):
    client.force_login(viewer)
    assert changelist(client).status_code == 403


def test_record_changelist_queries_do_not_grow_with_rows(client, feature, responder):
    client.force_login(responder)
    make_records(feature, 10)
    with CaptureQueriesContext(connection) as few:
        assert changelist(client, feature__id__exact=feature.pk).status_code == 200
    make_records(feature, 190, start=10)
    with CaptureQueriesContext(connection) as many:
        response = changelist(client, feature__id__exact=feature.pk)
    assert len(response.context["cl"].result_list) == 50
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


# --- evidence -----------------------------------------------------------------------------------


def test_attach_freezes_the_hash_logs_and_adds_a_timeline_entry(open_incident, feature, responder):
    incident = open_incident()
    record = make_record(feature, 3)
    (evidence,) = evidence_attach(incident_id=incident.pk, record_ids=[record.pk], actor=responder, note="the bad one")
    assert evidence.content_hash == record_content_hash(record) and evidence.attached_by == responder
    entry = ActionLogEntry.objects.get(target_type="audit.evidence", target_id=str(evidence.pk))
    assert entry.incident_id == incident.pk and entry.after["content_hash"] == evidence.content_hash
    assert TimelineEntry.objects.filter(
        incident=incident, text="Evidence attached: request req-3 (the bad one)"
    ).exists()
    # attaching again changes nothing and says nothing
    assert evidence_attach(incident_id=incident.pk, record_ids=[record.pk], actor=responder) == []
    assert Evidence.objects.filter(incident=incident).count() == 1
    assert TimelineEntry.objects.filter(incident=incident, text__startswith="Evidence attached").count() == 1


def test_attach_is_refused_to_viewers_and_for_hidden_incidents(open_incident, feature, viewer, outsider):
    from django.core.exceptions import PermissionDenied

    from incidents.models import Incident

    record = make_record(feature)
    with pytest.raises(PermissionDenied):
        evidence_attach(incident_id=open_incident().pk, record_ids=[record.pk], actor=viewer)
    leak = open_incident(category=Category.DATA_LEAK)
    with pytest.raises(Incident.DoesNotExist):
        evidence_attach(incident_id=leak.pk, record_ids=[record.pk], actor=outsider)
    assert not Evidence.objects.exists()


def test_an_ingested_record_attaches_intact_and_is_found_by_the_raw_user_id(open_incident, feature, responder):
    """Ingest stores the content hash and evidence recomputes it: one definition, read back from the DB."""
    line = {
        "request_id": "ingested-1",
        "occurred_at": (NOW - timedelta(minutes=5)).isoformat(),
        "feature": "support-bot",
        "user_id": "customer-77",
        "model_provider": "openai",
        "model_version": "model-3",
        "prompt_version": "v2",
        "parameters": {"temperature": 1.0, "seed": 7},
        "input": "Write to jane@example.com",
        "retrieved_context": [{"id": "kb-1", "source": "kb", "text": "x"}],
        "model_output": "Done",
        "user_output": "Done",
        "moderation": [{"stage": "output", "rule": "pii", "verdict": "flag", "score": 0.5}],
        "cost": 0.00042,
    }
    result = audit_records_ingest_ndjson(body=json.dumps(line).encode() + b"\n")
    assert result.accepted == 1, result.as_dict()
    stored = AuditRecord.objects.get(request_id="ingested-1")
    assert record_content_hash(stored) == stored.content_hash
    assert ids(audit_record_search(user=responder, user_ref="customer-77")) == ["ingested-1"]
    assert ids(audit_record_search(user=responder, verdict="flag")) == ["ingested-1"]
    incident = open_incident()
    (evidence,) = evidence_attach(incident_id=incident.pk, record_ids=[stored.pk], actor=responder)
    assert evidence.content_hash == stored.content_hash
    assert evidence_integrity(incident) == [(evidence, True)]


def tamper(record, text="a kinder answer"):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditrecord SET model_output = %s WHERE id = %s", [text, record.pk])


def incident_page(client, incident):
    return client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))


def test_tampering_with_attached_evidence_turns_the_incident_page_red(client, open_incident, feature, responder):
    incident = open_incident()
    good, bad = make_records(feature, 2)
    evidence_attach(incident_id=incident.pk, record_ids=[good.pk, bad.pk], actor=responder)
    client.force_login(responder)
    html = incident_page(client, incident).content.decode()
    assert (
        'id="evidence"' in html and "changed since it was attached" not in html and 'id="evidence-changed"' not in html
    )

    tamper(bad)
    checks = {e.record.request_id: ok for e, ok in evidence_integrity(incident)}
    assert checks == {good.request_id: True, bad.request_id: False}
    html = incident_page(client, incident).content.decode()
    assert 'class="fl-card fl-alarm" id="evidence-changed"' in html
    assert 'class="fl-card fl-alarm" id="evidence"' in html
    assert "changed since it was attached" in html and bad.request_id in html


def test_evidence_of_a_restricted_incident_is_invisible_to_outsiders(
    client, open_incident, feature, commander, outsider
):
    leak = open_incident(category=Category.DATA_LEAK, title="Leaked addresses")
    record = make_record(feature, 7)
    evidence_attach(incident_id=leak.pk, record_ids=[record.pk], actor=commander)
    client.force_login(outsider)

    page = incident_page(client, leak)
    assert page.status_code in (302, 404) and b"req-7" not in page.content
    assert client.get(reverse("audit-incident-replay", args=[leak.pk])).status_code == 404
    assert evidence_list(user=outsider, incident=leak) == []
    # the record itself stays readable to the trail's readers, without the incident it is evidence for
    record_page = client.get(reverse("admin:audit_auditrecord_change", args=[record.pk]))
    assert record_page.status_code == 200
    assert b"Leaked addresses" not in record_page.content and f"INC-{leak.pk}".encode() not in record_page.content
    assert b"Not attached to any incident you can see" in record_page.content

    client.force_login(commander)
    record_page = client.get(reverse("admin:audit_auditrecord_change", args=[record.pk]))
    assert f"INC-{leak.pk}".encode() in record_page.content


def test_attach_from_the_search_with_the_incident_from_the_link(client, open_incident, feature, responder):
    incident = open_incident()
    records = make_records(feature, 3)
    client.force_login(responder)
    html = incident_page(client, incident).content.decode()
    assert 'id="search-trail"' in html
    link = reverse("admin:audit_auditrecord_changelist") + f"?feature__id__exact={feature.pk}"
    assert link in html.replace("&amp;", "&")

    url = reverse("admin:audit_auditrecord_changelist") + f"?incident={incident.pk}"
    page = client.get(url)
    assert f"Attach to incident INC-{incident.pk} as evidence" in page.content.decode()
    assert page.context["action_form"].fields["incident"].initial == f"INC-{incident.pk}"
    response = client.post(
        url,
        {"action": "attach_to_incident", "_selected_action": [r.pk for r in records[:2]], "index": 0, "incident": ""},
    )
    assert response.status_code == 302
    assert set(incident.evidence.values_list("record__request_id", flat=True)) == {"req-0", "req-1"}


def test_attach_action_refuses_an_incident_the_user_cannot_see(client, open_incident, feature, outsider):
    leak = open_incident(category=Category.DATA_LEAK)
    record = make_record(feature)
    client.force_login(outsider)
    response = client.post(
        reverse("admin:audit_auditrecord_changelist"),
        {"action": "attach_to_incident", "_selected_action": [record.pk], "index": 0, "incident": f"INC-{leak.pk}"},
        follow=True,
    )
    assert f"No incident INC-{leak.pk}." in [str(m) for m in response.context["messages"]]
    assert not Evidence.objects.exists()


# --- replay export ------------------------------------------------------------------------------


def test_replay_export_has_what_a_harness_needs(client, open_incident, feature, responder):
    incident = open_incident()
    record = make_record(feature, 5, parameters={"temperature": 0.7, "seed": 1234, "top_p": 0.9})
    evidence_attach(incident_id=incident.pk, record_ids=[record.pk], actor=responder)
    tamper(record)
    client.force_login(responder)
    response = client.get(reverse("audit-incident-replay", args=[incident.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="INC-{incident.pk}-replay.json"'
    data = json.loads(response.content)
    assert data["incident"] == {"id": incident.pk, "reference": f"INC-{incident.pk}", "feature": "support-bot"}
    (item,) = data["records"]
    assert item["request_id"] == "req-5" and item["feature"] == "support-bot"
    assert item["model_provider"] == "openai" and item["model_version"] == "model-1"
    assert item["prompt_id"] == "support" and item["prompt_version"] == "prompt-1"
    assert item["parameters"] == {"temperature": 0.7, "seed": 1234, "top_p": 0.9}
    assert item["temperature"] == 0.7 and item["seed"] == 1234
    assert item["input"] == "question 5" and item["retrieved_context"][0]["id"] == "kb-5"
    assert item["expected"]["model_output"] == "a kinder answer" and item["expected"]["user_output"] == "answer 5"
    assert item["expected"]["moderation"][0]["verdict"] == "allow"
    assert item["content_hash"]["frozen"] == record.content_hash
    assert item["content_hash"]["current"] != record.content_hash and item["content_hash"]["is_intact"] is False
    assert item["occurred_at"].startswith(record.occurred_at.strftime("%Y-%m-%dT%H:%M"))


def test_replay_export_needs_login_and_the_evidence_permission(client, open_incident, viewer):
    incident = open_incident()
    url = reverse("audit-incident-replay", args=[incident.pk])
    response = client.get(url)
    assert response.status_code == 302 and reverse("admin:login") in response.url
    client.force_login(viewer)
    assert client.get(url).status_code == 403
    assert client.get(reverse("audit-incident-replay", args=[999999])).status_code == 404


# --- the record page ----------------------------------------------------------------------------


def test_record_page_puts_outputs_side_by_side_and_escapes_them(client, feature, responder):
    record = make_record(
        feature,
        model_output='<script>alert("model")</script> full text',
        user_output="<img src=x onerror=alert(1)> shown text",
        moderation=[
            {"stage": "input", "rule": "jailbreak", "verdict": "flag", "score": 0.61},
            {"stage": "output", "rule": "<b>pii</b>", "verdict": "rewrite", "score": 0.93},
        ],
        retrieved_context=[{"id": "doc-9", "source": "wiki/<policies>", "text": "<iframe src=evil></iframe>"}],
        redactions={"Email address": 2},
        tool_calls=[{"name": "refund", "arguments": {"amount": 50}}],
    )
    client.force_login(responder)
    response = client.get(reverse("admin:audit_auditrecord_change", args=[record.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;model&quot;)&lt;/script&gt; full text" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt; shown text" in html
    assert "<iframe" not in html and "&lt;iframe src=evil&gt;" in html and "wiki/&lt;policies&gt;" in html
    assert "<b>pii</b>" not in html and "&lt;b&gt;pii&lt;/b&gt;" in html
    # model output, then moderation, then what the user saw; retrieved context below them
    order = [html.index(f'id="{part}"') for part in ("model-output", "moderation", "user-output", "retrieved-context")]
    assert order == sorted(order)
    assert 'fl-state fl-amber">flag<' in html and 'fl-state fl-purple">rewrite<' in html and "0.93" in html
    assert "something other" in html  # the user did not see the model output
    assert "refund" in html and "Email address: 2" in html
    assert 'id="content-deleted"' not in html


def test_record_page_says_when_content_was_deleted(client, feature, responder):
    record = make_record(
        feature,
        input="",
        model_output="",
        user_output="",
        content_deleted_at=NOW,
        content_deleted_reason="GDPR erasure",
    )
    client.force_login(responder)
    html = client.get(reverse("admin:audit_auditrecord_change", args=[record.pk])).content.decode()
    assert 'id="content-deleted"' in html and "GDPR erasure" in html


def test_records_are_read_only(client, feature, superuser):
    record = make_record(feature)
    client.force_login(superuser)
    url = reverse("admin:audit_auditrecord_change", args=[record.pk])
    client.post(url, {"model_output": "rewritten"})
    record.refresh_from_db()
    assert record.model_output == "answer 0"
    assert client.get(reverse("admin:audit_auditrecord_add")).status_code == 403


# --- what changed -------------------------------------------------------------------------------


@pytest.fixture
def switch(feature, open_incident):
    """A model switch 3 hours before the incident; a record every 10 minutes for 60 hours.

    The incident started 10 hours ago: its window is 34 to 4 hours ago, and model-2 first appears
    at 13 hours ago, inside it. model-1 was around long before the window.
    """
    started = NOW - timedelta(hours=10)
    switch_at = started - timedelta(hours=3)
    records = []
    for k in range(6 * 59):
        at = NOW - timedelta(hours=60) + timedelta(minutes=10 * k)
        version = "model-2" if at >= switch_at else "model-1"
        records.append(build_record(feature, 10_000 + k, occurred_at=at, model_version=version))
    AuditRecord.objects.bulk_create(records)
    incident = open_incident(occurred_at=started, detected_at=started + timedelta(hours=1))
    return {"incident": incident, "started": started, "switch_at": switch_at}


def test_what_changed_counts_versions_per_hour_and_marks_the_first_appearance(switch, feature):
    start, end = incident_change_window(switch["incident"])
    assert (start, end) == (switch["started"] - timedelta(hours=24), switch["started"] + timedelta(hours=6))
    with CaptureQueriesContext(connection) as queries:
        changed = what_changed(feature=feature, start=start, end=end, bucket="hour")
    assert len(queries) == 4  # counts and first appearance, for models and for prompts
    assert len(changed.buckets) == 30 and changed.buckets[0] == start
    models = {s.version: s for s in changed.models}
    assert set(models) == {"model-1", "model-2"}
    switch_bucket = changed.buckets.index(switch["switch_at"])
    assert models["model-1"].counts == [6] * switch_bucket + [0] * (30 - switch_bucket)
    assert models["model-2"].counts == [0] * switch_bucket + [6] * (30 - switch_bucket)
    assert models["model-2"].is_new and models["model-2"].first_seen == switch["switch_at"]
    assert not models["model-1"].is_new and models["model-1"].first_seen == NOW - timedelta(hours=60)
    assert [(kind, s.version) for kind, s in changed.new_versions()] == [("model", "model-2")]
    assert [s.version for s in changed.prompts] == ["prompt-1"] and not changed.prompts[0].is_new

    daily = what_changed(feature=feature, start=start, end=end, bucket="day")
    assert sum(s.total for s in daily.models) == 180 and len(daily.buckets) in (2, 3)


def test_a_version_that_only_resumes_in_the_window_is_not_new(feature):
    make_record(feature, 1, occurred_at=NOW - timedelta(days=20), model_version="model-0")
    make_record(feature, 2, occurred_at=NOW - timedelta(hours=2), model_version="model-0")
    changed = what_changed(feature=feature, start=NOW - timedelta(hours=5), end=NOW)
    assert [(s.version, s.is_new) for s in changed.models] == [("model-0", False)]


def test_the_chart_is_self_contained_svg_with_the_marker_and_escaped_names(switch, feature):
    make_record(feature, 3, occurred_at=switch["started"] - timedelta(hours=2), model_version='<script>x</script>"')
    changed = what_changed(feature=feature, start=switch["started"] - timedelta(hours=24), end=switch["started"])
    svg = str(what_changed_svg(changed, dimension="model", marks=[(switch["started"] - timedelta(hours=1), "started")]))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "new: model-2" in svg and "NEW — first seen" in svg and "started" in svg
    assert "<script>" not in svg and "&lt;script&gt;x&lt;/script&gt;&quot;" in svg
    assert "href" not in svg and "url(" not in svg  # nothing fetched, so a PDF can embed it


def test_hypotheses_are_proposed_once(switch, responder):
    incident = switch["incident"]
    (entry,) = incident_propose_change_hypotheses(incident_id=incident.pk, actor=responder)
    when = switch["switch_at"].strftime("%Y-%m-%d %H:%M")
    assert entry.text.startswith(f"Hypothesis: model version model-2 first seen at {when} UTC (within the window")
    assert entry.occurred_at == switch["switch_at"] and entry.is_automatic
    assert incident_propose_change_hypotheses(incident_id=incident.pk) == []
    assert TimelineEntry.objects.filter(incident=incident, text__startswith="Hypothesis:").count() == 1


def test_the_incident_page_shows_what_changed_and_the_button_proposes(client, switch, responder, viewer):
    incident = switch["incident"]
    client.force_login(responder)
    html = incident_page(client, incident).content.decode()
    assert 'id="what-changed"' in html and "<svg" in html and "new: model-2" in html
    response = client.post(reverse("admin:incidents_incident_what_changed", args=[incident.pk]), follow=True)
    assert "1 version first seen in the window added to the timeline" in response.content.decode()
    assert "Hypothesis: model version model-2" in response.content.decode()
    client.post(reverse("admin:incidents_incident_what_changed", args=[incident.pk]))
    assert TimelineEntry.objects.filter(incident=incident, text__startswith="Hypothesis:").count() == 1

    client.force_login(viewer)  # no audit-trail permission: no chart, no button that works
    assert 'id="what-changed"' not in incident_page(client, incident).content.decode()
    response = client.post(reverse("admin:incidents_incident_what_changed", args=[incident.pk]), follow=True)
    assert "may not" in response.content.decode()


def test_incident_page_queries_do_not_grow_with_evidence_and_records(client, open_incident, feature, responder):
    incident = open_incident(occurred_at=NOW - timedelta(hours=2), detected_at=NOW - timedelta(hours=1))
    client.force_login(responder)
    first = make_records(feature, 10)
    evidence_attach(incident_id=incident.pk, record_ids=[r.pk for r in first], actor=responder)
    with CaptureQueriesContext(connection) as few:
        assert incident_page(client, incident).status_code == 200
    more = make_records(feature, 190, start=10, model_version="model-9")
    evidence_attach(incident_id=incident.pk, record_ids=[r.pk for r in more], actor=responder)
    with CaptureQueriesContext(connection) as many:
        html = incident_page(client, incident).content.decode()
    assert html.count("changed since it was attached") == 0 and "req-199" in html
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
