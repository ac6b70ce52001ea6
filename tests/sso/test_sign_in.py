"""Signing in through a real OpenID provider (oidc-provider, run by node): users, roles, refusals."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from sso.models import GroupMapping, ProviderIdentity

from .provider import sign_in_at_provider

User = get_user_model()


@pytest.fixture
def mappings(db):
    ic = Group.objects.get(name="Incident Commander")
    legal = Group.objects.get(name="Legal")
    GroupMapping.objects.create(provider_group="ic", group=ic)
    GroupMapping.objects.create(provider_group="legal", group=legal)
    return {"ic": ic, "legal": legal}


def start(client, next_url: str = "") -> str:
    response = client.get("/oidc/login/" + (f"?next={next_url}" if next_url else ""))
    assert response.status_code == 302, response.content
    return response["Location"]


def sign_in(client, login: str):
    """The whole code flow: Fireline -> the provider's login page -> Fireline's callback."""
    answer = sign_in_at_provider(start(client), login=login)
    return client.get("/oidc/callback/", answer)


def test_the_login_page_offers_the_provider_and_keeps_the_password_form(client, sso):
    page = client.get("/admin/login/?next=/admin/").content.decode()
    assert "Sign in with Example ID" in page
    assert 'href="/oidc/login/?next=/admin/"' in page
    assert 'name="username"' in page and "<details" not in page


def test_without_an_issuer_nothing_changes(client, db, settings):
    settings.OIDC_ISSUER = ""
    assert "Sign in with" not in client.get("/admin/login/").content.decode()
    assert client.get("/oidc/login/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_the_authorization_request_uses_pkce_state_and_nonce(client, sso):
    location = start(client)
    assert location.startswith(f"{sso.issuer}/auth?")
    for part in ("code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "scope=openid+email"):
        assert part in location


def test_first_sign_in_creates_the_user_with_the_mapped_roles(client, sso, mappings):
    response = sign_in(client, "ada")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    ada = User.objects.get(username="ada")
    assert (ada.email, ada.first_name, ada.last_name) == ("ada@example.com", "Ada", "Lovelace")
    assert set(ada.groups.values_list("name", flat=True)) == {"Incident Commander", "Legal"}
    assert ada.is_staff and not ada.is_superuser and not ada.has_usable_password()
    assert ProviderIdentity.objects.get(user=ada).subject == "ada"
    assert client.get("/admin/").status_code == 200  # signed in, in the command centre


def test_a_group_removed_at_the_provider_removes_the_role_at_the_next_sign_in(client, sso, mappings, settings):
    sign_in(client, "ada")
    sso.set_groups("ada", ["ic"])
    sso.users["ada"]["family_name"] = "King"
    sso.set_groups("ada", ["ic"])
    client.logout()
    assert sign_in(client, "ada").status_code == 302
    ada = User.objects.get(username="ada")
    assert list(ada.groups.values_list("name", flat=True)) == ["Incident Commander"]
    assert ada.last_name == "King" and User.objects.filter(username="ada").count() == 1
    # the action log says the provider took the Legal role away, and made the account in the first place
    from audit.models import ActionLogEntry

    change = ActionLogEntry.objects.filter(verb="changed", target_type="auth.user", target_id=str(ada.pk)).get()
    assert change.before["roles"] == ["Incident Commander", "Legal"] and change.after["roles"] == ["Incident Commander"]
    assert ActionLogEntry.objects.filter(verb="created", target_type="auth.user", target_id=str(ada.pk)).exists()


def test_a_user_without_a_mapped_group_gets_no_staff_access(client, sso, mappings):
    response = sign_in(client, "grace")
    assert response["Location"] == "/oidc/no-access/"
    grace = User.objects.get(username="grace")
    assert not grace.is_staff and not grace.groups.exists()
    page = client.get("/oidc/no-access/")
    assert page.status_code == 403
    assert "none of your groups there gives you a role in Fireline" in page.content.decode()
    assert client.get("/admin/").status_code == 302  # not signed in


def test_losing_every_mapped_group_takes_staff_access_away(client, sso, mappings):
    sign_in(client, "ada")
    sso.set_groups("ada", ["somewhere-else"])
    client.logout()
    assert sign_in(client, "ada")["Location"] == "/oidc/no-access/"
    ada = User.objects.get(username="ada")
    assert not ada.is_staff and not ada.groups.exists()


def test_a_break_glass_superuser_cannot_be_taken_over_through_the_provider(client, sso, mappings):
    User.objects.create_superuser("root", "root@example.com", "a-long-break-glass-password")
    response = sign_in(client, "root")
    assert response.status_code == 403
    assert "break-glass" in response.content.decode()
    assert not ProviderIdentity.objects.exists()


def test_the_username_claim_is_configurable(client, sso, mappings, settings):
    settings.OIDC_USERNAME_CLAIM = "email"
    sign_in(client, "ada")
    assert User.objects.filter(username="ada@example.com", is_staff=True).exists()


def test_discovery_failure_is_said_on_the_page_not_a_500(client, db, settings, sso):
    from .conftest import configure
    from .provider import free_port

    configure(settings, f"http://127.0.0.1:{free_port()}")
    response = client.get("/oidc/login/")
    assert response.status_code == 503
    assert "Single sign-on is unavailable" in response.content.decode()
    assert "Fireline could not reach Example ID" in response.content.decode()


def test_deactivating_the_account_ends_a_session_signed_in_through_the_provider(client, sso, mappings):
    sign_in(client, "ada")
    User.objects.filter(username="ada").update(is_active=False)
    assert client.get("/admin/").status_code == 302
    client.logout()
    response = sign_in(client, "ada")
    assert response.status_code == 400 and "did not complete" in response.content.decode()
