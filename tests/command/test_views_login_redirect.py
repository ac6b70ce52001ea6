"""Logging in lands on the command centre, even when the `next` the login was given is refused."""

import pytest
from django.urls import reverse


@pytest.mark.parametrize(
    "query",
    ["?next=https://evil.example/", "?next=//evil.example/admin/", ""],
    ids=["other-host", "scheme-relative", "no-next"],
)
def test_a_login_with_a_refused_or_missing_next_lands_on_the_command_centre(client, commander, query):
    response = client.post(
        reverse("admin:login") + query,
        {"username": "cmdr", "password": "correct-horse-battery"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get(response["Location"]).status_code == 200


def test_a_login_with_an_allowed_next_goes_there(client, commander):
    response = client.post(
        reverse("admin:login") + "?next=/command/readiness/",
        {"username": "cmdr", "password": "correct-horse-battery"},
    )
    assert response.status_code == 302 and response["Location"] == "/command/readiness/"
