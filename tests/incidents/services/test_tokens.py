"""Revoking API tokens in the admin: a service with its action-log entry, effective at once."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from audit.models import ActionLogEntry
from incidents import services
from incidents.models import ApiToken
from incidents.services.tokens import api_token_revoke
from tests.incidents.factories import UserFactory

LIST = "admin:incidents_apitoken_changelist"


def incidents_api(client, raw):
    return client.get("/api/v1/incidents", HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_revoking_in_the_admin_stops_the_token_now_and_logs_who(client, superuser):
    token, raw = services.api_token_create(name="dashboard", scopes=["incidents"])
    assert incidents_api(client, raw).status_code == 200  # and now it is cached
    client.force_login(superuser)
    response = client.post(reverse(LIST), {"action": "revoke", "_selected_action": [token.pk]}, follow=True)
    assert "Revoked 1 token." in response.content.decode()
    client.logout()
    assert incidents_api(client, raw).status_code == 401
    entry = ActionLogEntry.objects.get(verb="api_token_revoked")
    assert entry.actor_id == superuser.pk and entry.target_id == str(token.pk)


def test_revoking_twice_changes_and_logs_nothing_more(superuser):
    token, _ = services.api_token_create(name="dashboard", scopes=["incidents"])
    assert api_token_revoke(token_ids=[token.pk], actor=superuser) == 1
    first = ApiToken.objects.get(pk=token.pk).revoked_at
    assert api_token_revoke(token_ids=[token.pk], actor=superuser) == 0
    assert ApiToken.objects.get(pk=token.pk).revoked_at == first
    assert ActionLogEntry.objects.filter(verb="api_token_revoked").count() == 1


def test_someone_without_the_permission_revokes_nothing(db):
    viewer = UserFactory(username="viewer", role="Viewer")
    token, _ = services.api_token_create(name="dashboard", scopes=["incidents"])
    with pytest.raises(PermissionDenied) as caught:
        api_token_revoke(token_ids=[token.pk], actor=viewer)
    assert "may not revoke" in str(caught.value)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert not ActionLogEntry.objects.filter(verb="api_token_revoked").exists()
