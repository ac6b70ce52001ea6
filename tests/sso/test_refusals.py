"""What the sign-in refuses: a forged state, a replayed nonce, an expired or badly signed ID token, and the
password form when password sign-in is off."""

import datetime as dt

import httpx
import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation

from sso.backends import ProviderBackend
from sso.models import GroupMapping

from .provider import CLIENT_SECRET, sign_in_at_provider

User = get_user_model()


@pytest.fixture
def mapped(db):
    GroupMapping.objects.create(provider_group="ic", group=Group.objects.get(name="Incident Commander"))


def provider_answer(client) -> dict:
    """The query the provider sends back after a real sign-in, not yet given to Fireline."""
    return sign_in_at_provider(client.get("/oidc/login/")["Location"], login="ada")


def assert_refused(response, client):
    assert response.status_code == 400
    assert "did not pass Fireline&#x27;s checks" in response.content.decode()
    assert not User.objects.filter(username="ada").exists()
    assert client.get("/admin/").status_code == 302


def test_a_state_fireline_did_not_issue_is_refused(client, sso, mapped):
    answer = provider_answer(client)
    response = client.get("/oidc/callback/", {**answer, "state": "forged-state"})
    assert_refused(response, client)


def test_a_state_is_used_once(client, sso, mapped):
    answer = provider_answer(client)
    assert client.get("/oidc/callback/", answer).status_code == 302
    client.logout()
    assert client.get("/oidc/callback/", answer).status_code == 400  # a replayed answer


def test_an_id_token_with_another_nonce_is_refused(client, sso, mapped):
    answer = provider_answer(client)
    session = client.session
    session["oidc_states"][answer["state"]]["nonce"] = "not-the-nonce-sent-to-the-provider"
    session.save()
    assert_refused(client.get("/oidc/callback/", answer), client)


def test_an_expired_id_token_is_refused(client, sso, mapped):
    answer = provider_answer(client)
    # The provider issues a fresh token; Fireline's clock reads it two hours later, past its expiry.
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(hours=2), tick=True):
        assert_refused(client.get("/oidc/callback/", answer), client)


def test_a_code_without_the_pkce_verifier_is_refused_by_the_provider(client, sso, mapped):
    answer = provider_answer(client)
    session = client.session
    session["oidc_states"][answer["state"]]["code_verifier"] = "x" * 64
    session.save()
    response = client.get("/oidc/callback/", answer)
    assert response.status_code == 503  # the token endpoint said no: nothing to sign in with
    assert not User.objects.filter(username="ada").exists()


@pytest.fixture
def real_id_token(client, sso, mapped):
    """An ID token the provider really issued, and the nonce it was issued for."""
    answer = provider_answer(client)
    nonce = client.session["oidc_states"][answer["state"]]["nonce"]
    client.get("/oidc/callback/", answer)
    return client.session["oidc_id_token"], nonce


def test_the_real_id_token_passes_the_checks(real_id_token):
    token, nonce = real_id_token
    assert ProviderBackend().verify_token(token, nonce=nonce)["sub"] == "ada"


def test_a_tampered_id_token_is_refused(real_id_token):
    token, nonce = real_id_token
    header, payload, signature = token.split(".")
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"sub":"ada"', b'"sub":"eve"')
    ).decode()
    with pytest.raises(SuspiciousOperation):
        ProviderBackend().verify_token(f"{header}.{forged}.{signature}", nonce=nonce)


def test_an_id_token_signed_with_another_key_is_refused(real_id_token):
    token, nonce = real_id_token
    claims = jwt.decode(token, options={"verify_signature": False})
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": jwt.get_unverified_header(token)["kid"]})
    with pytest.raises(SuspiciousOperation, match="Signature verification failed"):
        ProviderBackend().verify_token(forged, nonce=nonce)


def test_an_id_token_signed_with_the_client_secret_is_refused(real_id_token):
    token, nonce = real_id_token
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, CLIENT_SECRET, algorithm="HS256")
    with pytest.raises(SuspiciousOperation, match="signed with HS256"):
        ProviderBackend().verify_token(forged, nonce=nonce)


def test_an_id_token_for_another_client_is_refused(real_id_token, settings):
    token, nonce = real_id_token
    settings.OIDC_RP_CLIENT_ID = "another-application"
    with pytest.raises(SuspiciousOperation, match="Audience"):
        ProviderBackend().verify_token(token, nonce=nonce)


def test_password_login_off_refuses_the_form_except_for_a_break_glass_superuser(client, sso, settings):
    settings.FIRELINE_PASSWORD_LOGIN = False
    password = "a-long-password-for-the-form"
    User.objects.create_user("cmdr", password=password, is_staff=True).groups.add(
        Group.objects.get(name="Incident Commander")
    )
    User.objects.create_superuser("root", "root@example.com", password)

    page = client.get("/admin/login/").content.decode()
    assert "Sign in with Example ID" in page
    assert "<details" in page and "Break-glass sign-in" in page

    refused = client.post("/admin/login/", {"username": "cmdr", "password": password})
    assert refused.status_code == 200
    assert "Password sign-in is turned off. Sign in with Example ID." in refused.content.decode()
    assert client.get("/admin/").status_code == 302

    allowed = client.post("/admin/login/?next=/admin/", {"username": "root", "password": password})
    assert allowed.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_password_login_on_is_unchanged(client, db, settings):
    settings.FIRELINE_PASSWORD_LOGIN = True
    User.objects.create_user("cmdr", password="a-long-password-for-the-form", is_staff=True)
    response = client.post("/admin/login/", {"username": "cmdr", "password": "a-long-password-for-the-form"})
    assert response.status_code == 302


def test_logout_ends_the_session_and_the_provider_session(client, sso, mapped):
    client.get("/oidc/callback/", provider_answer(client))
    response = client.post("/admin/logout/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{sso.issuer}/session/end?id_token_hint=")
    assert "post_logout_redirect_uri=http%3A%2F%2Ftestserver%2Fadmin%2Flogin%2F" in location
    assert client.get("/admin/").status_code == 302
    assert httpx.get(location, timeout=10).status_code == 200  # the provider accepts it: its sign-out page


def test_a_password_session_logs_out_as_before(client, db):
    User.objects.create_user("cmdr", password="a-long-password-for-the-form", is_staff=True)
    client.post("/admin/login/", {"username": "cmdr", "password": "a-long-password-for-the-form"})
    response = client.post("/admin/logout/")
    assert response.status_code == 200 and "Logged out" in response.content.decode()
