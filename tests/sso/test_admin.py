"""The group mappings are kept in the admin."""

import pytest
from django.contrib.auth.models import Group

from sso.models import GroupMapping


@pytest.mark.parametrize("count", [1, 20])
def test_the_mapping_list_runs_a_fixed_number_of_queries(client, superuser, django_assert_max_num_queries, count):
    for number, group in zip(range(count), Group.objects.all(), strict=False):
        GroupMapping.objects.create(provider_group=f"team-{number}", group=group)
    client.force_login(superuser)
    with django_assert_max_num_queries(12):
        response = client.get("/admin/sso/groupmapping/")
    assert response.status_code == 200
    assert "team-0" in response.content.decode()


def test_an_administrator_adds_a_mapping(client, superuser):
    client.force_login(superuser)
    legal = Group.objects.get(name="Legal")
    response = client.post("/admin/sso/groupmapping/add/", {"provider_group": "legal-team", "group": legal.pk})
    assert response.status_code == 302
    assert GroupMapping.objects.get(provider_group="legal-team").group == legal
