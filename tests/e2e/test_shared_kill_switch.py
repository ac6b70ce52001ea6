"""Two incidents on one AI feature, in a real browser, from an install with no demo data.

Both contain with one click; lifting one leaves the switch off and says who still holds it; the command
centre warns when the switch and the ledger disagree; closing asks what to do with what is still active.
The product's view of the switch is read through OFREP at each step.
"""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from incidents import services
from incidents.constants import Category, DetectionSignal, StakeholderRole
from incidents.models import EscalationPolicy, KillSwitch
from tests.e2e.test_commander_flow import login, open_card, submit
from tests.incidents.factories import AIFeatureFactory, UserFactory, make_contact
from tests.incidents.services.test_incidents import prove_fix, send_required_communications, set_fix


def ofrep_value(page: Page, base: str, token: str, key: str) -> bool:
    response = page.request.post(
        f"{base}/ofrep/v1/evaluate/flags/{key}",
        data={"context": {}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200, response.text()
    return response.json()["value"]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_incidents_share_a_kill_switch_and_close_cleanly(live_server, page: Page, artifacts_dir):
    assert Group.objects.filter(name="Incident Commander").exists(), "roles seeded by migration are missing"
    commander = UserFactory(username="cmdr", role="Incident Commander")
    feature = AIFeatureFactory(key="support-bot", name="Support assistant")
    token = services.api_token_create(name="product", scopes=["flags"])[1]
    key = feature.kill_switch_key
    base = live_server.url

    def declare(title, **kwargs):
        incident = services.incident_open(
            title=title,
            category=kwargs.pop("category", Category.HARMFUL_OUTPUT),
            detection_signal=DetectionSignal.USER_REPORT,
            feature=feature,
            commander=commander,
            actor=commander,
            **kwargs,
        )
        services.incident_triage(incident_id=incident.pk, actor=commander)
        return incident

    first = declare("Bot gave dangerous advice", is_public=True)
    second = declare("Bot gave dangerous advice, another region", is_public=True)
    login(page, base, "cmdr")
    try:
        for incident in (first, second):
            page.goto(f"{base}/admin/incidents/incident/{incident.pk}/change/")
            submit(page, page.locator("#contain-now button"))
            expect(page.locator(".messagelist .success")).to_contain_text(f"{incident.reference} is now Contained")
            expect(page.locator("#incident-state")).to_have_text("Contained")
        assert ofrep_value(page, base, token, key) is False
        expect(page.locator("#switch-holders")).to_contain_text(f"{first.reference} (SEV1)")

        # Lift the second incident's kill switch: the first still holds it, and the page says so.
        open_card(page, "containment")
        flag_row = page.locator("#containment table.fl-ledger tbody tr", has_text="Feature flag off")
        flag_row.get_by_label("Why lift it").fill("our region is fixed")
        submit(page, flag_row.get_by_role("button", name="Lift"))
        expect(page.locator(".messagelist")).to_contain_text(f"still held by {first.reference} (SEV1)")
        assert ofrep_value(page, base, token, key) is False
        page.screenshot(path=str(artifacts_dir / "e2e-shared-switch.png"), full_page=True)

        # The switch turned on behind the ledger's back: the command centre says so in red.
        KillSwitch.objects.filter(feature=feature).update(is_on=True)
        page.goto(f"{base}/admin/")
        warning = page.locator("#switch-warnings")
        expect(warning).to_contain_text(first.reference)
        expect(warning).to_contain_text("The ledger says the feature is off")
        page.screenshot(path=str(artifacts_dir / "e2e-switch-warning.png"), full_page=True)
    finally:
        page.screenshot(path=str(artifacts_dir / "e2e-shared-switch-last.png"), full_page=True)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_close_asks_to_lift_or_hand_over_and_to_answer_pages(live_server, page: Page, artifacts_dir):
    commander = UserFactory(username="cmdr", role="Incident Commander")
    UserFactory(username="lee", role="Legal", first_name="Lee", last_name="Lawyer")
    feature = AIFeatureFactory(key="support-bot", name="Support assistant")
    token = services.api_token_create(name="product", scopes=["flags"])[1]
    EscalationPolicy.objects.update_or_create(
        severity="SEV4", defaults={"roles": [StakeholderRole.ENGINEERING_ON_CALL], "channels": ["email"]}
    )
    make_contact(
        name="Ola On-call", role=StakeholderRole.ENGINEERING_ON_CALL, escalation_tier=1, email="ola@example.com"
    )
    incident = services.incident_open(
        title="Summaries stopped for some users",
        category=Category.CAPABILITY_LOSS,
        detection_signal=DetectionSignal.MONITORING_ALERT,
        feature=feature,
        commander=commander,
        actor=commander,
    )
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.containment_record(incident_id=incident.pk, action_type="feature_flag_off", actor=commander)
    services.incident_contain(incident_id=incident.pk, actor=commander)
    services.incident_investigate(incident_id=incident.pk, actor=commander)
    set_fix(incident, commander)
    services.incident_mark_fixed(incident_id=incident.pk, actor=commander)
    send_required_communications(incident, commander)
    prove_fix(incident, commander)
    services.incident_verify(incident_id=incident.pk, actor=commander)
    base = live_server.url

    login(page, base, "cmdr")
    try:
        page.goto(f"{base}/admin/incidents/incident/{incident.pk}/change/")
        settle = page.locator("#close-settle")
        expect(settle).to_contain_text("Feature flag off")
        expect(settle).to_contain_text("Ola On-call")
        page.screenshot(path=str(artifacts_dir / "e2e-close-settle.png"), full_page=True)
        settle.get_by_label("Feature flag off (kill switch): lift or hand over").select_option("hand_over")
        settle.get_by_label("Feature flag off (kill switch): new owner").select_option(label="Lee Lawyer")
        settle.get_by_label("Feature flag off (kill switch): why lift or keep it").fill("off until the vendor fix")
        settle.get_by_label("Page to Ola On-call: acknowledge or cancel").select_option("cancel")
        submit(page, page.locator("form[data-transition=close]").get_by_role("button", name="Close"))
        expect(page.locator(".messagelist .success")).to_contain_text(f"{incident.reference} is closed")
        expect(page.locator("#incident-state")).to_have_text("Closed")
        expect(page.locator("#containment")).to_contain_text("handed over to Lee Lawyer")
        expect(page.locator("#pages")).to_contain_text("Cancelled")
        assert ofrep_value(page, base, token, feature.kill_switch_key) is False  # kept, with an owner
    finally:
        page.screenshot(path=str(artifacts_dir / "e2e-close-handed-over.png"), full_page=True)
