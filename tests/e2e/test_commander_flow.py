"""An incident commander's first minutes, in a real browser.

Log in, register the AI feature (with a rollback procedure that tries to smuggle in a script),
open an incident, triage it, record containment, mark it contained, keep the timeline, and see
a bad containment action refused in words.
"""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Locator, Page, expect

from incidents.models import TriageRule
from tests.incidents.factories import UserFactory

PASSWORD = "correct-horse-battery"

ROLLBACK_PROCEDURE = """\
## Roll back

1. Set `support-bot-prompt` back to **prompt-41** in the prompt registry.
2. Pin the model to `model-2024-06`.

<script>window.__fireline_pwned = true; alert("pwned");</script>
"""


def submit(page: Page, button: Locator) -> None:
    """Click a button that posts a form, and wait for the page the server answers with."""
    with page.expect_navigation(wait_until="load"):
        button.click()


def login(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    submit(page, page.get_by_role("button", name="Log in"))
    expect(page.locator("#user-tools")).to_contain_text(username)


def create_feature(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/incidents/aifeature/add/")
    page.locator("#id_name").fill("Support assistant")
    page.locator("#id_key").fill("support-bot")
    page.locator("#id_owner_team").fill("Trust & Safety ML")
    page.locator("#id_kill_switch_key").fill("support-bot-enabled")
    page.locator("#id_current_model_version").fill("model-2024-09")
    page.locator("#id_current_prompt_version").fill("prompt-42")
    page.locator("#id_fallback_description").fill("Users see the **help-centre search** instead of the bot.")
    page.locator("#id_rollback_procedure").fill(ROLLBACK_PROCEDURE)
    submit(page, page.get_by_role("button", name="Save and continue editing"))

    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    preview = page.locator(".field-rollback_procedure_preview .readonly")
    expect(page.locator(".field-rollback_procedure_preview")).to_contain_text(
        re.compile("rollback procedure as shown", re.IGNORECASE)
    )
    # The Markdown is rendered: a heading, a numbered list, bold text ...
    expect(preview.locator("h2")).to_have_text("Roll back")
    expect(preview.locator("ol > li")).to_have_count(2)
    expect(preview.locator("strong")).to_have_text("prompt-41")
    # ... and the script is gone: no tag, no text of it, nothing ran.
    expect(preview.locator("script")).to_have_count(0)
    expect(preview).not_to_contain_text("pwned")
    expect(preview).not_to_contain_text("<script")
    assert page.evaluate("window.__fireline_pwned") is None


def select_feature(page: Page, search: str, label: str) -> None:
    """Drive the admin's select2 autocomplete for the incident's feature."""
    page.locator(".field-feature .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(search)
    page.locator(".select2-results__option", has_text=label).click()
    expect(page.locator(".field-feature .select2-selection__rendered")).to_contain_text(label)


def open_card(page: Page, card: str) -> None:
    """Open one of the incident page's folded cards, as a person clicks its heading, and wait until
    Fireline has remembered it open for them (it stays open on the pages that follow)."""
    fold = page.locator(f"#card-{card}")
    if fold.evaluate("el => el.open"):
        return
    with page.expect_response(lambda r: "/preferences/cards" in r.url and r.request.method == "POST"):
        fold.locator(":scope > summary").click()
    expect(fold).to_have_attribute("open", "")


def timeline_entry(page: Page, text: str) -> Locator:
    return page.locator("#timeline .fl-timeline li", has_text=text)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_commander_opens_triages_and_contains_an_incident(live_server, page: Page, artifacts_dir):
    # serialized_rollback restores what the data migration seeded, which the flush after an
    # earlier transactional test deleted (conftest.py explains why it needs help under Playwright).
    assert Group.objects.filter(name="Incident Commander").exists(), "roles seeded by migration are missing"
    assert TriageRule.objects.count() == 24, "triage matrix seeded by migration is missing"
    UserFactory(username="cmdr", role="Incident Commander")

    dialogs: list[str] = []
    page_errors: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    base = live_server.url

    try:
        # 1. Log in as the incident commander.
        login(page, base, "cmdr")

        # 2. Register the AI feature; its rollback procedure is shown sanitized.
        create_feature(page, base)

        # 3. Open an incident.
        page.goto(f"{base}/admin/incidents/incident/add/")
        page.locator("#id_title").fill("Support bot told a user to mix bleach and ammonia")
        select_feature(page, "support", "Support assistant (support-bot)")
        page.locator("#id_detection_signal").select_option(label="User report")
        page.locator("#id_category").select_option(label="Harmful output")
        page.locator("#id_users_affected").fill("3")
        page.locator("#id_commander").select_option(label="cmdr")
        # Plain "Save" would land on the incident list; the commander wants the incident page.
        submit(page, page.get_by_role("button", name="Save and continue editing"))

        panel = page.locator("#incident-panel")
        expect(panel).to_be_visible()
        expect(page.locator("#incident-state")).to_have_text("Detected")
        # Harmful output × limited impact (few users, not public) → SEV3 in the seeded matrix.
        expect(page.locator("#incident-severity")).to_have_text("SEV3")
        expect(panel).to_contain_text("Support assistant")
        expect(page.locator("#incident-commander")).to_have_text("cmdr")
        # The feature's rollback procedure is on the incident page too (under Reference), still without the script.
        open_card(page, "reference")
        rollback_card = panel.locator(".fl-card", has_text="Rollback procedure: Support assistant")
        expect(rollback_card.locator("ol > li")).to_have_count(2)
        expect(rollback_card.locator("script")).to_have_count(0)
        expect(rollback_card).not_to_contain_text("pwned")

        transitions = page.locator("#transitions")

        # 4. Triage.
        submit(page, transitions.locator("form[data-transition=triage]").get_by_role("button", name="Triage"))
        expect(page.locator("#incident-state")).to_have_text("Triaged")
        expect(page.locator(".messagelist")).to_contain_text("Done: the incident moved on.")

        # 5. Containment first: the button says no, and why; record the kill switch.
        contain_form = transitions.locator("form[data-transition=contain]")
        contain_button = contain_form.get_by_role("button", name="Mark contained")
        expect(contain_button).to_be_disabled()
        expect(contain_form.locator(".fl-blocked")).to_contain_text("Record an active containment action first")
        expect(page.locator("#containment")).to_contain_text("No containment recorded yet.")

        containment_form = page.locator("#containment-form")
        containment_form.locator("select[name=action_type]").select_option(label="Feature flag off (kill switch)")
        submit(page, containment_form.get_by_role("button", name="Record containment action"))
        expect(page.locator(".messagelist")).to_contain_text("Containment action recorded.")
        ledger_rows = page.locator("#containment table.fl-ledger tbody tr")
        expect(ledger_rows).to_have_count(1)
        expect(ledger_rows.first).to_contain_text("Feature flag off (kill switch)")
        expect(ledger_rows.first.locator(".fl-active")).to_have_text("ACTIVE")

        # 6. Mark contained.
        expect(contain_button).to_be_enabled()
        expect(contain_form.locator(".fl-blocked")).to_have_count(0)
        submit(page, contain_button)
        expect(page.locator("#incident-state")).to_have_text("Contained")

        # 7. The timeline tells the story so far; a note joins it.
        expect(page.locator("#latest .fl-timeline li").first).to_contain_text("Triaged → Contained")
        open_card(page, "timeline")
        expect(timeline_entry(page, "Incident opened (User report)")).to_contain_text("triage matrix gives SEV3")
        expect(timeline_entry(page, "Detected → Triaged")).to_have_count(1)
        expect(timeline_entry(page, "Containment: Feature flag off (kill switch)")).to_have_count(1)
        expect(timeline_entry(page, "Triaged → Contained")).to_have_count(1)
        # Newest first.
        expect(page.locator("#timeline .fl-timeline li").first).to_contain_text("Triaged → Contained")

        note_form = page.locator("#note-form")
        note_form.get_by_label("Note for the timeline").fill(
            "Support macro updated; **on-call** paged for the prompt fix."
        )
        submit(page, note_form.get_by_role("button", name="Add to timeline"))
        expect(page.locator(".messagelist")).to_contain_text("Added to the timeline.")
        note = timeline_entry(page, "Support macro updated")
        expect(note).to_have_count(1)
        expect(note.locator(".fl-kind")).to_have_text("Note")
        expect(note.locator("strong")).to_have_text("on-call")  # the note's Markdown is rendered
        expect(note).to_contain_text("— cmdr")

        # 8. A rollback without versions is refused, in words, and nothing is recorded.
        containment_form.locator("select[name=action_type]").select_option(label="Roll back prompt/model version")
        submit(page, containment_form.get_by_role("button", name="Record containment action"))
        error = page.locator(".messagelist .error")
        expect(error).to_have_count(1)
        expect(error).to_contain_text(re.compile(r"from version: required", re.IGNORECASE))
        expect(error).to_contain_text(re.compile(r"to version: required", re.IGNORECASE))
        expect(page.locator(".messagelist .success")).to_have_count(0)
        expect(ledger_rows).to_have_count(1)
        expect(ledger_rows.first).to_contain_text("Feature flag off (kill switch)")
        expect(timeline_entry(page, "Containment:")).to_have_count(1)
        expect(page.locator("#incident-state")).to_have_text("Contained")

        # Nothing the commander typed ran as script, and the admin's own JavaScript did not fail.
        assert dialogs == []
        assert page.evaluate("window.__fireline_pwned") is None
        assert page_errors == []
    finally:
        page.screenshot(path=str(artifacts_dir / "e2e-incident.png"), full_page=True)
