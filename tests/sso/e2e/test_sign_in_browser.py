"""Signing in through the provider's own login page in a real Chromium, from an empty database."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from sso.models import GroupMapping
from tests.sso.conftest import configure
from tests.sso.provider import start_provider


@pytest.fixture
def browser_provider(live_server, tmp_path):
    provider = start_provider(
        tmp_dir=tmp_path,
        redirect_uris=[f"{live_server.url}/oidc/callback/"],
        post_logout_redirect_uris=[f"{live_server.url}/admin/login/"],
    )
    yield provider
    provider.stop()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_commander_signs_in_through_the_provider_and_lands_in_the_admin(
    live_server, browser_provider, settings, page: Page, artifacts_dir
):
    configure(settings, browser_provider.issuer)
    GroupMapping.objects.create(provider_group="ic", group=Group.objects.get(name="Incident Commander"))

    page.goto(f"{live_server.url}/admin/")
    page.get_by_role("link", name="Sign in with Example ID").click()

    # The provider's own login page (oidc-provider's), on its own origin.
    page.wait_for_url(f"{browser_provider.issuer}/interaction/**")
    page.locator("input[name=login]").fill("ada")
    page.locator("input[name=password]").fill("any password the provider accepts")
    page.get_by_role("button", name="Sign-in").click()

    page.wait_for_url(f"{live_server.url}/admin/")
    expect(page.locator("#user-tools")).to_contain_text("Ada")
    expect(page.locator("#declare-incident")).to_be_visible()  # the commander's role came with the sign-in
    page.screenshot(path=str(artifacts_dir / "e2e-sso-signed-in.png"), full_page=True)
    ada = get_user_model().objects.get(username="ada")
    assert list(ada.groups.values_list("name", flat=True)) == ["Incident Commander"]
