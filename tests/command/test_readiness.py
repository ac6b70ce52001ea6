from datetime import timedelta

import pytest
from django.utils import timezone

from command.models import QualityMonitor
from command.readiness import scorecard_get
from incidents.constants import ContactState, StakeholderRole
from incidents.models import (
    AlertRoutingRule,
    CommunicationTemplate,
    EscalationPolicy,
    EvalCase,
    KillSwitch,
    PostMortemTemplate,
    StakeholderContact,
)
from tests.audit.factories import audit_records
from tests.incidents.factories import AIFeatureFactory, make_contact

pytestmark = pytest.mark.django_db

ITEMS = [
    "audit",
    "alerts",
    "kill_switch",
    "rollback",
    "fallback",
    "communication_templates",
    "postmortem_template",
    "escalation",
    "drill",
    "eval_bench",
]


def item(feature, key, now=None):
    card = scorecard_get(features=[feature], now=now).features[0]
    return next(i for i in card.items if i.key == key)


@pytest.fixture
def feature(db):
    f = AIFeatureFactory(key="support-bot", name="Support assistant", rollback_procedure="", fallback_description="")
    KillSwitch.objects.get_or_create(feature=f)
    return f


def test_every_item_is_listed_in_the_playbook_order(feature):
    card = scorecard_get(features=[feature]).features[0]
    assert [i.key for i in card.items] == ITEMS
    assert all(i.fix_url or i.key == "drill" for i in card.items)


def test_audit_records_in_the_last_24_hours(feature):
    assert not item(feature, "audit").ok
    audit_records(feature, 1, minutes_ago=60 * 25)
    assert not item(feature, "audit").ok
    audit_records(feature, 1, minutes_ago=60)
    assert item(feature, "audit").ok


def test_quality_alerts_routed_to_it(feature):
    red = item(feature, "alerts")
    assert not red.ok and "add" in red.fix_url
    QualityMonitor.objects.create(feature=feature, signal="refusal_rate", threshold=0.1)
    assert item(feature, "alerts").ok  # the seeded "Refusal-rate spike" rule takes it by its ai_feature label
    AlertRoutingRule.objects.filter(matchers__signal="refusal_rate").update(is_active=False)
    assert not item(feature, "alerts").ok
    AlertRoutingRule.objects.create(name="Mine", matchers={"team": "cx"}, feature=feature, category="harmful_output")
    assert item(feature, "alerts").ok


def test_kill_switch_configured_and_read_recently(feature):
    switch = feature.kill_switch
    assert "never read" in item(feature, "kill_switch").detail and not item(feature, "kill_switch").ok
    KillSwitch.objects.filter(pk=switch.pk).update(last_read_at=timezone.now() - timedelta(days=2))
    assert not item(feature, "kill_switch").ok
    KillSwitch.objects.filter(pk=switch.pk).update(last_read_at=timezone.now() - timedelta(minutes=3))
    assert item(feature, "kill_switch").ok
    switch.delete()
    assert item(feature, "kill_switch").detail == "No kill switch configured."


def test_the_kill_switch_read_through_ofrep_turns_it_green(feature, client):
    from incidents.services import api_token_create

    token = api_token_create(name="product", scopes=["flags"], actor=None)[1]
    response = client.post(
        f"/ofrep/v1/evaluate/flags/{feature.kill_switch_key}",
        data={"context": {"targetingKey": "u1"}},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.content
    assert item(feature, "kill_switch").ok


@pytest.mark.parametrize("field_name,key", [("rollback_procedure", "rollback"), ("fallback_description", "fallback")])
def test_rollback_and_fallback_documented(feature, field_name, key):
    assert not item(feature, key).ok
    type(feature).objects.filter(pk=feature.pk).update(**{field_name: "   "})
    assert not item(feature, key).ok
    type(feature).objects.filter(pk=feature.pk).update(**{field_name: "Turn the flag off; users see the FAQ."})
    assert item(feature, key).ok


def test_communication_templates_for_every_audience(feature):
    assert item(feature, "communication_templates").ok  # seeded
    CommunicationTemplate.objects.filter(audience="regulator").delete()
    red = item(feature, "communication_templates")
    assert not red.ok and "Regulators" in red.detail


def test_postmortem_template_present(feature):
    assert item(feature, "postmortem_template").ok  # seeded
    PostMortemTemplate.objects.all().delete()
    assert not item(feature, "postmortem_template").ok


def test_escalation_path_without_stale_contacts(feature):
    StakeholderContact.objects.all().delete()
    assert item(feature, "escalation").detail == "No one on the escalation path."
    on_path = EscalationPolicy.objects.get(severity="SEV4").roles[0]
    contact = make_contact(name="On call", role=on_path, email="oc@example.com")
    contact.verify()
    contact.save()
    assert item(feature, "escalation").ok
    stale = make_contact(name="Old", role=on_path, email="old@example.com")
    stale.verify()
    stale.mark_stale()
    stale.save()
    red = item(feature, "escalation")
    assert not red.ok and "1 of 2" in red.detail and "state__exact=stale" in red.fix_url
    # someone who is never paged does not count
    stale.retire()
    stale.save()
    make_contact(name="Support", role=StakeholderRole.CUSTOMER_SUPPORT, email="s@example.com", state=ContactState.STALE)
    assert item(feature, "escalation").ok


def test_a_drill_completed_this_quarter(feature, facilitator_drill):
    assert not item(feature, "drill").ok
    facilitator_drill(feature, completed_at=timezone.now() - timedelta(days=400))
    assert not item(feature, "drill").ok
    facilitator_drill(feature, completed_at=timezone.now() - timedelta(minutes=5))
    assert item(feature, "drill").ok


def test_eval_bench_not_empty(feature):
    assert not item(feature, "eval_bench").ok
    case = EvalCase.objects.create(feature=feature, input="x", expected_behaviour="refuse")
    assert item(feature, "eval_bench").ok
    EvalCase.objects.filter(pk=case.pk).update(retired_at=timezone.now())
    assert not item(feature, "eval_bench").ok


def test_overall_percentage(feature):
    card = scorecard_get(features=[feature]).features[0]
    assert card.percent == round(100 * card.passed / 10)
    type(feature).objects.filter(pk=feature.pk).update(rollback_procedure="x", fallback_description="y")
    assert scorecard_get(features=[feature]).features[0].passed == card.passed + 2


def test_the_scorecard_runs_a_fixed_number_of_queries(django_assert_max_num_queries):
    for _ in range(2):
        AIFeatureFactory()
    with django_assert_max_num_queries(12) as small:
        scorecard_get()
    for _ in range(20):
        f = AIFeatureFactory()
        KillSwitch.objects.get_or_create(feature=f)
        QualityMonitor.objects.create(feature=f, signal="error_rate", threshold=0.1)
        EvalCase.objects.create(feature=f, input="x", expected_behaviour="y")
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(scorecard_get().features) == 22


def test_readiness_page_and_pdf(client, viewer, feature):
    from pypdf import PdfReader

    client.force_login(viewer)
    page = client.get("/command/readiness/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Support assistant" in body and "MISSING" in body and "% ready" in body
    response = client.get("/command/readiness.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    import io

    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert "Readiness scorecard" in text and "Support assistant" in text
    assert "Rollback procedure documented" in text and "MISSING" in text
    card = scorecard_get(features=[feature]).features[0]
    assert f"{card.percent}%" in text


def test_readiness_needs_a_staff_login(client):
    assert client.get("/command/readiness.pdf").status_code == 302
