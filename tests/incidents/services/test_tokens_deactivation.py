"""A deactivated user's tokens stop at once: OFREP caches a token's scopes, and that copy must go too."""

import json

import pytest
from django.core.cache import cache

from incidents.services import api_token_create, hotcache
from tests.incidents.factories import UserFactory


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    hotcache.clear()
    yield
    cache.clear()
    hotcache.clear()


def ofrep(client, token, key):
    return client.post(
        f"/ofrep/v1/evaluate/flags/{key}",
        json.dumps({"context": {}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


@pytest.fixture
def owner(db):
    return UserFactory(username="product-owner")


def test_deactivated_in_the_admin_the_users_token_is_refused_at_once(client, feature, owner, superuser):
    token = api_token_create(name="product", scopes=["flags"], user=owner)[1]
    assert ofrep(client, token, feature.kill_switch_key).status_code == 200  # scopes now cached
    client.force_login(superuser)
    page = client.get(f"/admin/auth/user/{owner.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(is_active="", groups=[g.pk for g in owner.groups.all()], user_permissions=[])
    data = {k: v for k, v in data.items() if k not in ("password", "date_joined", "last_login")}
    data.update(date_joined_0=owner.date_joined.strftime("%Y-%m-%d"), date_joined_1="00:00:00")
    response = client.post(f"/admin/auth/user/{owner.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    client.logout()
    owner.refresh_from_db()
    assert owner.is_active is False
    assert ofrep(client, token, feature.kill_switch_key).status_code == 401


def test_deactivated_by_any_save_the_users_token_is_refused_at_once(client, feature, owner):
    token = api_token_create(name="product", scopes=["flags"], user=owner)[1]
    assert ofrep(client, token, feature.kill_switch_key).status_code == 200
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert ofrep(client, token, feature.kill_switch_key).status_code == 401


def test_other_users_tokens_keep_working(client, feature, owner):
    other = UserFactory(username="someone-else")
    token = api_token_create(name="product", scopes=["flags"], user=owner)[1]
    assert ofrep(client, token, feature.kill_switch_key).status_code == 200
    other.is_active = False
    other.save()
    assert ofrep(client, token, feature.kill_switch_key).status_code == 200
