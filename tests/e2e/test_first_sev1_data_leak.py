"""An organisation's first SEV1 data leak, on a fresh install (no demo data), through the browser only.

The commander declares it from the header (data leak, personal data involved: SEV1, restricted),
contains it with one click, brings the communications lead onto the restricted incident, investigates,
fixes and proves the fix with an eval run recorded by hand. Legal records the reportability decision
(GDPR) in their own browser and the report's submission; the post-mortem is written from the incident
page and approved by each reviewer the matrix names, each in their own browser; the internal update,
the letter to affected users, the status page update and the regulator notice are drafted, approved by
Legal or Communications as themselves, and sent; the commander closes, lifting the kill switch.
"""

import pytest
from playwright.sync_api import Browser, Page, expect

from incidents.models import Incident, RegulatoryObligation
from tests.incidents.factories import AIFeatureFactory, UserFactory

from .test_commander_flow import login, open_card, submit
from .test_first_incident import SECTIONS, new_page, prove_by_hand, transition

LEAK_SECTIONS = {
    **SECTIONS,
    "what_happened": "For 40 minutes the billing assistant answered with other customers' invoice lines.",
    "impact": "1,200 customers could have seen another customer's name and invoice total.",
    "root_cause": "The retrieval index lost its tenant filter in the 14:00 deploy.",
    "why_not_caught": "No eval case asked for another tenant's data; no monitor on cross-tenant hits.",
    "what_is_changing": "Tenant filter enforced in the retriever itself; eval case EV-1 runs before each deploy.",
}


def shot(page: Page, artifacts_dir, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"e2e-sev1-leak-{name}.png"), full_page=True)


def communicate(page: Page, incident_url: str, *, audience: str, body: str, recipients: str = "") -> str:
    page.goto(incident_url)
    open_card(page, "communications")
    draft = page.locator("#communication-draft-form")
    draft.get_by_label("Audience").select_option(label=audience)
    if recipients:
        draft.get_by_label("Recipients").fill(recipients)
    submit(page, draft.get_by_role("button", name="Draft from template"))
    page.locator("#id_body").fill(body)
    submit(page, page.locator("#save-and-submit"))
    expect(page.locator(".messagelist .success")).to_contain_text("Saved and submitted for approval.")
    return page.url


def approve_and_send(approver: Page, sender: Page, url: str) -> None:
    approver.goto(url)
    submit(approver, approver.get_by_role("button", name="Approve", exact=True))
    expect(approver.locator("#communication-actions")).to_contain_text("Approved")
    sender.goto(url)
    submit(sender, sender.get_by_role("button", name="Send", exact=True))
    expect(sender.locator("#communication-actions")).to_contain_text("Sent")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_first_sev1_data_leak_goes_from_declare_to_closed(live_server, browser: Browser, page: Page, artifacts_dir):
    assert not Incident.objects.exists(), "a fresh install, no demo data"
    UserFactory(username="cmdr", role="Incident Commander")
    UserFactory(username="lawyer", role="Legal")
    UserFactory(username="pr", role="Communications")
    AIFeatureFactory(key="billing-bot", name="Billing assistant", kill_switch_key="billing-bot-enabled")
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    base = live_server.url
    legal = comms = None
    try:
        # 1. Declare from the header: a data leak with personal data is SEV1 and restricted.
        login(page, base, "cmdr")
        page.get_by_role("link", name="Declare incident").click()
        page.wait_for_load_state("load")
        page.locator("#id_title").fill("Billing assistant shows other customers' invoices")
        page.locator("#id_feature").select_option(label="Billing assistant (billing-bot)")
        page.locator("#id_category").select_option(label="Data leak")
        page.get_by_label("Regulatory: personal data or a legal duty involved").check()
        submit(page, page.get_by_role("button", name="Declare incident"))
        expect(page.locator("#incident-severity")).to_have_text("SEV1")
        expect(page.locator("#incident-overview")).to_contain_text("RESTRICTED")
        incident_url = page.url.split("#")[0]
        shot(page, artifacts_dir, "1-declared")

        # 2. One click contains it: the kill switch goes off.
        submit(page, page.locator("#contain-now button"))
        expect(page.locator("#incident-state")).to_have_text("Contained")
        expect(page.locator("#switch-state")).to_have_text("OFF")

        # 3. The communications lead joins the restricted incident (they could not see it before).
        comms = new_page(browser)
        login(comms, base, "pr")
        comms.goto(incident_url)  # the admin sends them back to the start, the incident unnamed
        expect(comms.locator("#incident-state")).to_have_count(0)
        expect(comms.locator("body")).not_to_contain_text("other customers' invoices")
        page.locator("#details ~ * summary", has_text="People and visibility").first.click()
        page.locator("#id_members_from").select_option(label="pr")
        page.locator("#id_members_add").click()
        submit(page, page.get_by_role("button", name="Save and continue editing"))
        expect(page.locator("#incident-responders")).to_contain_text("pr")
        comms.goto(incident_url)
        expect(comms.locator("#incident-state")).to_have_text("Contained")

        # 4. Investigate, fix at the right layer, prove it with a run recorded by hand.
        submit(page, transition(page, "investigate").get_by_role("button", name="Start investigation"))
        page.locator("#id_root_cause_layer").select_option(label="Retrieval")
        page.locator("#id_root_cause").fill("The retrieval index lost its tenant filter in the 14:00 deploy.")
        page.locator("#id_fix_layer").select_option(label="Retrieval")
        page.locator("#id_fix_description").fill("Tenant filter enforced inside the retriever (release 2026.12.4).")
        submit(page, page.get_by_role("button", name="Save and continue editing"))
        submit(page, transition(page, "mark_fixed").get_by_role("button", name="Mark fixed"))
        expect(page.locator("#incident-state")).to_have_text("Fixed")
        prove_by_hand(page, trials=400)  # SEV1's bound is the strictest
        submit(page, transition(page, "verify").get_by_role("button", name="Mark verified"))
        expect(page.locator("#incident-state")).to_have_text("Verified")

        # 5. Legal, in their own browser, decides it is reportable under the GDPR and files the report.
        legal = new_page(browser)
        login(legal, base, "lawyer")
        legal.goto(incident_url)
        open_card(legal, "regulatory")
        legal.locator("#reportability-form summary").click()
        legal.locator("#reportability-form").get_by_label("GDPR", exact=False).first.check()
        legal.locator("#reportability-form textarea[name=reason]").fill(
            "Personal data of 1,200 customers exposed to other customers: a personal data breach."
        )
        submit(legal, legal.get_by_role("button", name="Record decision and start the clocks"))
        obligations = legal.locator("#regulatory tr[data-obligation]")
        expect(obligations.first).to_be_visible()
        shot(legal, artifacts_dir, "2-regulatory")
        for obligation in RegulatoryObligation.objects.filter(incident__title__startswith="Billing"):
            row = legal.locator(f"#regulatory tr[data-obligation='{obligation.pk}']")
            if row.get_by_role("button", name="Record submission").count() == 0:
                continue
            row.get_by_label("Submitted to").fill(obligation.recipient or "the supervisory authority")
            row.get_by_label("Reference").fill(f"REF-{obligation.pk}")
            submit(legal, row.get_by_role("button", name="Record submission"))

        # 6. The post-mortem, written from the incident page, approved by each reviewer as themselves.
        page.goto(incident_url)
        submit(page, transition(page, "start_postmortem").get_by_role("button", name="Start post-mortem"))
        submit(page, page.locator("#postmortem-write").get_by_role("button", name="Write the post-mortem"))
        for name, text in LEAK_SECTIONS.items():
            page.locator(f"#id_{name}").fill(text)
        submit(page, page.get_by_role("button", name="Save and continue editing"))
        postmortem_url = page.url
        submit(page, page.get_by_role("button", name="Submit for review"))
        expect(page.locator("#postmortem-actions")).to_contain_text("In review")
        reviewers = {"commander": page, "legal": legal, "communications": comms}
        for role, who in reviewers.items():
            marker = page.locator(f"[data-reviewer={role}]")
            if marker.count() == 0:
                continue
            who.goto(postmortem_url)
            submit(who, who.get_by_role("button", name="Approve", exact=True))
            expect(who.locator(f"[data-reviewer={role}]")).to_have_attribute("data-approved", "1")
        page.goto(postmortem_url)
        expect(page.locator("#postmortem-actions")).to_contain_text("Approved")
        submit(page, page.get_by_role("button", name="Publish"))
        expect(page.locator("#postmortem-actions")).to_contain_text("Published")
        shot(page, artifacts_dir, "3-postmortem")

        # 7. Four audiences, each approved by someone who may approve it, as themselves.
        url = communicate(
            page,
            incident_url,
            audience="Internal",
            body="The billing assistant is off while we fix a leak between customers.",
            recipients="all-staff@example.com",
        )
        submit(page, page.get_by_role("button", name="Approve", exact=True))
        submit(page, page.get_by_role("button", name="Send", exact=True))
        expect(page.locator("#communication-actions")).to_contain_text("Sent")
        url = communicate(
            page,
            incident_url,
            audience="Affected users",
            body="Another customer may have seen your name and invoice total. We switched the assistant off.",
            recipients="affected-customers@example.com",
        )
        expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)  # not the commander's
        approve_and_send(legal, page, url)
        url = communicate(
            page,
            incident_url,
            audience="Public (status page)",
            body="The billing assistant is off while we fix a problem that showed wrong invoices.",
        )
        approve_and_send(comms, page, url)
        url = communicate(
            page,
            incident_url,
            audience="Regulators",
            body="We notify a personal data breach affecting 1,200 customers, contained within the hour.",
            recipients="dpa@example.eu",
        )
        approve_and_send(legal, page, url)

        # 8. Close: the kill switch is lifted with a reason, nothing stays silently active.
        page.goto(incident_url)
        close_form = transition(page, "close")
        expect(close_form.locator(".fl-blocked")).to_have_count(0)
        settle = close_form.locator("#close-settle")
        rows = settle.locator("[data-containment]")
        for i in range(rows.count()):
            row = rows.nth(i)
            row.locator("select").first.select_option("lift")
            row.locator("input[name$='_reason']").fill("Fixed, verified and reported.")
        for select in settle.locator("select[name^='page_']").all():
            select.select_option(index=1)
        shot(page, artifacts_dir, "4-close")
        submit(page, close_form.get_by_role("button", name="Close"))
        expect(page.locator("#incident-state")).to_have_text("Closed")
        expect(page.locator("#switch-state")).to_have_text("ON")

        incident = Incident.objects.get()
        assert incident.state == "closed" and incident.severity == "SEV1" and incident.is_restricted
        sent = {c.audience: c for c in incident.communications.filter(state="sent").select_related("approved_by")}
        assert set(sent) == {"internal", "affected_users", "public", "regulator"}
        assert sent["affected_users"].approved_by.username == "lawyer"
        assert sent["regulator"].approved_by.username == "lawyer"
        assert sent["public"].approved_by.username == "pr"
        obligations = RegulatoryObligation.objects.filter(incident=incident)
        assert obligations.exists() and not obligations.exclude(state__in=["submitted", "waived"]).exists()
        assert page_errors == []
    finally:
        shot(page, artifacts_dir, "final")
        for other in (legal, comms):
            if other is not None:
                other.context.close()
