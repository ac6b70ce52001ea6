"""Every role is declared once, in incidents/roles.py, and `roles_apply` makes the database say the same."""

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError

from incidents import roles
from incidents.roles import Role, RoleError, role_register, role_unregister
from sso.models import GroupMapping
from tests.conftest import fresh
from tests.incidents.factories import AIFeatureFactory, UserFactory
from tests.incidents.roles_snapshot import group_permissions

SEEDED = json.loads((Path(__file__).parent / "roles_seeded.json").read_text())


def test_a_fresh_database_holds_exactly_what_the_seed_migrations_granted(db):
    # roles_seeded.json: every group's permissions after `migrate` before the roles moved to one module
    assert group_permissions() == SEEDED


def test_a_fresh_database_holds_exactly_what_the_module_declares(db):
    assert {name: sorted(role.permissions) for name, role in roles.ROLES.items()} == group_permissions()


def test_every_role_says_what_it_is_for():
    assert roles.role_names() == sorted(SEEDED)
    for role in roles.ROLES.values():
        assert len(role.purpose) > 20, role.name


def test_the_list_spells_out_each_role(capsys):
    call_command("roles_apply", "--list")
    out = capsys.readouterr().out
    assert f"Legal: {roles.ROLES[roles.LEGAL].purpose}\n" in out
    assert "    incidents.waive_regulatoryobligation\n" in out
    assert out.count("\n    ") == sum(len(role.permissions) for role in roles.ROLES.values())


def test_running_it_again_changes_nothing(db, capsys):
    call_command("roles_apply")
    out = capsys.readouterr().out
    assert "0 of 7 role(s) changed." in out
    assert "+" not in out and " - " not in out


def test_it_puts_back_what_was_taken_and_takes_back_what_was_given_by_hand(db, capsys):
    viewer = Group.objects.get(name=roles.VIEWER)
    viewer.permissions.remove(Permission.objects.get(codename="view_incident"))
    viewer.permissions.add(Permission.objects.get(codename="close_incident"))
    own = Group.objects.create(name="Night shift")
    own.permissions.add(Permission.objects.get(codename="close_incident"))

    call_command("roles_apply")

    out = capsys.readouterr().out
    assert "Viewer: + incidents.view_incident" in out
    assert "Viewer: - incidents.close_incident" in out
    assert "1 of 7 role(s) changed." in out
    assert group_permissions()[roles.VIEWER] == SEEDED[roles.VIEWER]
    # a group that is not a Fireline role is the administrator's: left as it was
    assert list(own.permissions.values_list("codename", flat=True)) == ["close_incident"]


def test_a_dry_run_says_what_would_change_and_changes_nothing(db, capsys):
    viewer = Group.objects.get(name=roles.VIEWER)
    viewer.permissions.remove(Permission.objects.get(codename="view_incident"))
    with pytest.raises(CommandError, match="The roles differ from incidents/roles.py"):
        call_command("roles_apply", "--dry-run")
    out = capsys.readouterr().out
    assert "Viewer: + incidents.view_incident" in out and "1 of 7 role(s) would change (dry run" in out
    assert not viewer.permissions.filter(codename="view_incident").exists()
    call_command("roles_apply")
    call_command("roles_apply", "--dry-run")  # in line: no error
    assert "0 of 7 role(s) would change" in capsys.readouterr().out


@pytest.fixture
def feature_owner():
    """A role this test declares and forgets: the feature catalogue, read and edit, nothing else."""
    role = role_register(
        Role(
            "Feature Owner",
            "Keeps the AI feature catalogue up to date.",
            frozenset({"incidents.view_aifeature", "incidents.change_aifeature"}),
        )
    )
    yield role
    role_unregister(role.name)


def test_a_new_role_gives_its_members_exactly_its_permissions(db, client, feature_owner, capsys):
    call_command("roles_apply")
    out = capsys.readouterr().out
    assert "Feature Owner: created" in out
    assert "Feature Owner: + incidents.change_aifeature" in out

    user = fresh(UserFactory(username="owner", role="Feature Owner"))
    assert user.get_all_permissions() == {"incidents.view_aifeature", "incidents.change_aifeature"}
    assert user.has_perm("incidents.change_aifeature")
    assert not user.has_perm("incidents.add_aifeature")
    assert not user.has_perm("incidents.view_incident")

    feature = AIFeatureFactory()
    client.force_login(user)
    assert client.get("/admin/incidents/aifeature/").status_code == 200
    assert client.get(f"/admin/incidents/aifeature/{feature.pk}/change/").status_code == 200
    assert client.get("/admin/incidents/aifeature/add/").status_code == 403
    assert client.get("/admin/incidents/incident/").status_code == 403

    # the role is gone from the module: the next run leaves its group alone, nothing else changes
    role_unregister(feature_owner.name)
    call_command("roles_apply")
    assert "0 of 7 role(s) changed." in capsys.readouterr().out
    assert fresh(user).has_perm("incidents.change_aifeature")


def test_a_permission_no_model_declares_is_refused_and_nothing_is_written(db):
    role_register(Role("Typo", "A role with a misspelt permission.", frozenset({"incidents.view_incidnet"})))
    try:
        with pytest.raises(CommandError, match=r"Role 'Typo': no such permission 'incidents.view_incidnet'"):
            call_command("roles_apply")
    finally:
        role_unregister("Typo")
    assert not Group.objects.filter(name="Typo").exists()


@pytest.mark.parametrize(
    ("permission", "message"),
    [("view_incident", "is not of the form 'app_label.codename'"), ("incidents.", "is not of the form")],
)
def test_a_permission_that_is_not_app_label_dot_codename_is_refused(permission, message):
    with pytest.raises(RoleError, match=f"Role 'Broken': permission '{permission}' {message}"):
        Role("Broken", "Not a role.", frozenset({permission}))


def test_a_role_without_a_purpose_is_refused():
    with pytest.raises(RoleError, match="Role 'Mute': say in one line what the role is for"):
        Role("Mute", " ", frozenset())


def test_a_role_is_declared_once():
    with pytest.raises(RoleError, match="Role 'Viewer' is declared twice"):
        role_register(Role(roles.VIEWER, "Again.", frozenset()))
    assert roles.ROLES[roles.VIEWER].purpose.startswith("Reads the case")


def test_a_provider_group_maps_only_to_a_declared_role(db, client, superuser):
    own = Group.objects.create(name="Night shift")
    client.force_login(superuser)
    page = client.get("/admin/sso/groupmapping/add/").content.decode()
    assert f"Legal: {roles.ROLES[roles.LEGAL].purpose}" in page
    assert "Night shift" not in page

    response = client.post("/admin/sso/groupmapping/add/", {"provider_group": "nights", "group": own.pk})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not GroupMapping.objects.exists()
