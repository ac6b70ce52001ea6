"""Every page a commander, a lawyer or a facilitator uses passes axe-core's WCAG 2.1 A and AA rules,
in the light theme and the dark one."""

import json

import pytest
from playwright.sync_api import Browser, expect

from .axe import axe_violations, describe
from .pages import PASSWORD, build_site, public_pages, signed_in_pages

THEMES = {"light": "localStorage.setItem('theme', 'light');", "dark": "localStorage.setItem('theme', 'dark');"}


def check_every_page(browser: Browser, base: str, site, axe_source: str, theme: str, shots) -> dict[str, list]:
    """axe's violations on each page, in one theme (Django's theme switch and the system's preference)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB", color_scheme=theme)
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(15_000)
    context.add_init_script(THEMES[theme])
    page = context.new_page()
    found: dict[str, list[dict]] = {}

    def check(name: str, path: str) -> None:
        page.goto(base + path)
        found[name] = axe_violations(page, axe_source)
        page.screenshot(path=str(shots / f"{theme}-{name.replace(' ', '-')}.png"))
        if page.locator("details:not([open])").count():
            # What a folded card holds is checked too: open every card, as someone working the page does
            # (without remembering them open: ten posts at once would only contend for the test database).
            page.route("**/preferences/cards", lambda route: route.fulfill(status=204))
            page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
            found[f"{name} (all open)"] = axe_violations(page, axe_source)
            page.unroute("**/preferences/cards")

    try:
        for name, path in public_pages(site):
            check(name, path)
        check("login", "/admin/login/")
        page.get_by_label("Username").fill("cmdr")
        page.get_by_label("Password").fill(PASSWORD)
        with page.expect_navigation(wait_until="load"):
            page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        for name, path in signed_in_pages(site):
            check(name, path)
    finally:
        context.close()
    return found


# One test for both themes: the busy site is built once.
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_page_passes_wcag_21_aa_in_both_themes(live_server, browser: Browser, axe_source, artifacts_dir):
    site = build_site()
    shots = artifacts_dir / "a11y"
    shots.mkdir(exist_ok=True)
    reports = []
    for theme in THEMES:
        found = check_every_page(browser, live_server.url, site, axe_source, theme, shots)
        (shots / f"axe-{theme}.json").write_text(json.dumps(found, indent=1))
        counts = {name: sum(len(v["nodes"]) for v in violations) for name, violations in found.items()}
        print(f"\naxe-core WCAG 2.1 AA, {theme} theme: " + ", ".join(f"{n}: {c}" for n, c in counts.items()))
        reports += [describe(f"[{theme}] {name}", violations) for name, violations in found.items() if violations]
    assert not reports, "WCAG 2.1 AA violations:\n" + "\n".join(reports)
