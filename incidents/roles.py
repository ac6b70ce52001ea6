"""Every role Fireline ships with: its group name, what it is for, and exactly the permissions it holds.

This module is the one place a role's rights are written down. `roles_apply()` makes the database agree
with it (adds what is missing, removes what is not declared) and is safe to run any number of times;
`python manage.py roles_apply` runs it by hand and prints what it changed (`--dry-run` only says what
would change, `--list` prints every role with its permissions spelled out), and a migration runs it
through `roles_apply_operation()` whenever a release changes a role. Groups that are not declared here
(made in the admin by an administrator) are left alone.

Permissions are "app_label.codename" strings, as `user.has_perm()` takes them. Custom permissions
(`triage_incident`, `run_drill`, ...) are declared in the models' `Meta.permissions`.

To add a role: `role_register(Role(name, purpose, permissions))` below, write a migration whose only
operation is `roles_apply_operation()`, and map the provider's group to it in the admin (Provider group
mappings). Changing a role's permissions is the same: edit it here, add such a migration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import migrations, transaction

COMMANDER = "Incident Commander"
RESPONDER = "Responder"
LEGAL = "Legal"
COMMUNICATIONS = "Communications"
DRILL_FACILITATOR = "Drill Facilitator"
VIEWER = "Viewer"
SCHEDULE_MANAGER = "Schedule Manager"

_PERMISSION = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


class RoleError(ValueError):
    """A role declaration that cannot be applied; the message names the role and the permission."""


@dataclass(frozen=True)
class Role:
    name: str
    purpose: str
    permissions: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self):
        if not self.name.strip():
            raise RoleError("A role needs a name.")
        if not self.purpose.strip():
            raise RoleError(f"Role '{self.name}': say in one line what the role is for (purpose).")
        object.__setattr__(self, "permissions", frozenset(self.permissions))
        for permission in sorted(self.permissions):
            if not _PERMISSION.match(permission):
                raise RoleError(
                    f"Role '{self.name}': permission '{permission}' is not of the form 'app_label.codename'."
                )


def _each(app_label: str, verbs: tuple[str, ...], *models: str) -> list[str]:
    return [f"{app_label}.{verb}_{model}" for model in models for verb in verbs]


# What everyone with a role reads: the case and its documents, drills and who is on call.
READ_CASE = _each(
    "incidents",
    ("view",),
    "incident",
    "aifeature",
    "triagerule",
    "containmentaction",
    "timelineentry",
    "finding",
    "killswitch",
    "page",
    "stakeholdercontact",
    "distributionlist",
    "communication",
    "communicationtemplate",
    "postmortem",
    "postmortemtemplate",
    "postmortemrevision",
    "postmortemapproval",
    "learning",
    "actionitem",
    "regime",
    "deadlinerule",
    "organisationprofile",
    "regulatoryobligation",
    "reportabilitydecision",
)
READ_DRILLS = _each("drills", ("view",), "drill", "drillpolicy", "scenario", "scenarioinject", "scenarioexpectedaction")
ON_CALL_MODELS = ("schedule", "layer", "layermember", "override", "policytier", "importedshift")
READ_ON_CALL = _each("oncall", ("view",), *ON_CALL_MODELS)
EDIT_ON_CALL = _each("oncall", ("view", "add", "change", "delete"), *ON_CALL_MODELS)
# Responders and commanders work the evidence: audit records, evidence packs, deletion orders.
WORK_EVIDENCE = [
    "audit.view_auditrecord",
    "audit.view_evidence",
    "audit.add_evidence",
    "audit.view_deletionorder",
    "audit.add_deletionorder",
    "audit.order_deletion",
    "audit.view_redactionrule",
]
# Responders and commanders run the technical response: contain, investigate, fix, prove it.
RESPOND = [
    "incidents.add_incident",
    "incidents.change_incident",
    "incidents.contain_incident",
    "incidents.investigate_incident",
    "incidents.fix_incident",
    "incidents.verify_incident",
    "incidents.add_containmentaction",
    "incidents.change_containmentaction",
    "incidents.add_timelineentry",
    "incidents.view_alert",
    "incidents.change_alert",
    "incidents.view_alertpayload",
    "incidents.view_alertroutingrule",
    "incidents.view_userreport",
    "incidents.change_userreport",
    "incidents.view_notification",
    "incidents.acknowledge_page",
    "incidents.view_escalationpolicy",
    "incidents.change_killswitch",
    "incidents.add_finding",
    "incidents.change_finding",
    "incidents.view_evalcase",
    "incidents.add_evalcase",
    "incidents.change_evalcase",
    "incidents.view_evalrun",
    "incidents.add_evalrun",
    "incidents.view_verificationpolicy",
    "incidents.add_postmortem",
    "incidents.change_postmortem",
    "incidents.add_learning",
    "incidents.change_learning",
    "incidents.delete_learning",
    "incidents.add_actionitem",
    "incidents.change_actionitem",
]

ROLES: dict[str, Role] = {}


def role_register(role: Role) -> Role:
    """Declare a role (a deployment's own, or a test's); `roles_apply()` gives its group exactly its permissions."""
    if role.name in ROLES:
        raise RoleError(f"Role '{role.name}' is declared twice.")
    ROLES[role.name] = role
    return role


def role_unregister(name: str) -> None:
    """Forget a declared role; its group keeps whatever it has (roles_apply leaves undeclared groups alone)."""
    ROLES.pop(name, None)


def role_names() -> list[str]:
    return sorted(ROLES)


role_register(
    Role(
        COMMANDER,
        "Owns an incident from triage to close: every transition, the team, the communications and the schedule.",
        frozenset(
            [
                *READ_CASE,
                *READ_DRILLS,
                *EDIT_ON_CALL,
                *RESPOND,
                *WORK_EVIDENCE,
                "audit.add_redactionrule",
                "audit.change_redactionrule",
                "audit.view_actionlogentry",
                "incidents.triage_incident",
                "incidents.start_postmortem_incident",
                "incidents.close_incident",
                "incidents.dismiss_incident",
                "incidents.reopen_incident",
                "incidents.add_aifeature",
                "incidents.change_aifeature",
                "incidents.change_triagerule",
                "incidents.add_alertroutingrule",
                "incidents.change_alertroutingrule",
                "incidents.change_escalationpolicy",
                "incidents.change_notification",
                "incidents.change_verificationpolicy",
                "incidents.add_stakeholdercontact",
                "incidents.change_stakeholdercontact",
                "incidents.retire_stakeholdercontact",
                "incidents.change_distributionlist",
                "incidents.add_communication",
                "incidents.change_communication",
                "incidents.change_communicationtemplate",
                "incidents.approve_internal_communication",
                "incidents.send_communication",
                "incidents.change_postmortemtemplate",
                "incidents.approve_postmortem",
                "incidents.publish_postmortem",
                "incidents.add_reportabilitydecision",
                "incidents.submit_regulatoryobligation",
                "incidents.view_regulatoryreminder",
            ]
        ),
    )
)
role_register(
    Role(
        RESPONDER,
        "Engineers on the incident: contain, investigate, fix and prove the fix with evals; write the post-mortem.",
        frozenset([*READ_CASE, *READ_DRILLS, *READ_ON_CALL, *RESPOND, *WORK_EVIDENCE]),
    )
)
role_register(
    Role(
        LEGAL,
        "Regulatory duties and restricted incidents: reportability, deadlines, filings, waivers, approvals.",
        frozenset(
            [
                *READ_CASE,
                *READ_DRILLS,
                *READ_ON_CALL,
                "audit.view_actionlogentry",
                "audit.view_auditrecord",
                "audit.view_evidence",
                "audit.view_deletionorder",
                "incidents.view_restricted_incident",
                "incidents.add_timelineentry",
                "incidents.view_alert",
                "incidents.view_userreport",
                "incidents.view_notification",
                "incidents.acknowledge_page",
                "incidents.view_escalationpolicy",
                "incidents.view_evalcase",
                "incidents.view_evalrun",
                "incidents.add_actionitem",
                "incidents.change_actionitem",
                "incidents.approve_communication",
                "incidents.approve_postmortem",
                "incidents.publish_postmortem",
                "incidents.add_regime",
                "incidents.change_regime",
                "incidents.add_deadlinerule",
                "incidents.change_deadlinerule",
                "incidents.add_organisationprofile",
                "incidents.change_organisationprofile",
                "incidents.add_reportabilitydecision",
                "incidents.confirm_reportabilitydecision",
                "incidents.submit_regulatoryobligation",
                "incidents.waive_regulatoryobligation",
                "incidents.view_regulatoryreminder",
            ]
        ),
    )
)
role_register(
    Role(
        COMMUNICATIONS,
        "What customers and the public are told: drafts, approves and sends communications; reviews post-mortems.",
        frozenset(
            [
                *READ_CASE,
                *READ_DRILLS,
                *READ_ON_CALL,
                "incidents.add_timelineentry",
                "incidents.view_userreport",
                "incidents.view_notification",
                "incidents.acknowledge_page",
                "incidents.change_distributionlist",
                "incidents.add_communication",
                "incidents.change_communication",
                "incidents.change_communicationtemplate",
                "incidents.approve_communication",
                "incidents.send_communication",
                "incidents.approve_postmortem",
            ]
        ),
    )
)
role_register(
    Role(
        DRILL_FACILITATOR,
        "Plans and runs drills: scenarios, injects, the quarterly policy, and the action items a drill finds.",
        frozenset(
            [
                *READ_CASE,
                *READ_DRILLS,
                *READ_ON_CALL,
                *_each("drills", ("add", "change"), "drill", "drillpolicy", "scenario"),
                *_each("drills", ("add", "change", "delete"), "scenarioinject", "scenarioexpectedaction"),
                "drills.run_drill",
                "incidents.view_notification",
                "incidents.view_escalationpolicy",
                "incidents.view_evalcase",
                "incidents.add_actionitem",
                "incidents.change_actionitem",
            ]
        ),
    )
)
role_register(
    Role(
        VIEWER,
        "Reads the case, drills and the schedule; changes nothing.",
        frozenset([*READ_CASE, *READ_DRILLS, *READ_ON_CALL, "incidents.view_evalcase", "incidents.view_evalrun"]),
    )
)
role_register(
    Role(
        SCHEDULE_MANAGER,
        "Edits on-call schedules, layers, overrides and imported shifts; nothing else.",
        frozenset(EDIT_ON_CALL),
    )
)


@dataclass
class RoleChange:
    role: str
    created: bool = False
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.created or bool(self.added or self.removed)


def _create_permissions() -> None:
    # Django creates permissions after `migrate` (post_migrate); a migration that grants them needs them
    # now. They are made for the models in the code (as the seed migrations always did), so a role may
    # name a permission whose model a later migration creates.
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0)


def roles_apply(apps=None, *, roles: dict[str, Role] | None = None, dry_run: bool = False) -> list[RoleChange]:
    """Give every declared role's group exactly its declared permissions; return what changed, role by role.

    `apps` is the historical registry inside a migration, the project's otherwise. A permission that no
    model declares is an error naming the role, and nothing is written. With `dry_run` the changes are
    worked out and reported, then rolled back.
    """
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    roles = ROLES if roles is None else roles
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    _create_permissions()

    known = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list("pk", "content_type__app_label", "codename")
    }
    for role in sorted(roles.values(), key=lambda r: r.name):
        missing = sorted(role.permissions - known.keys())
        if missing:
            raise RoleError(
                f"Role '{role.name}': no such permission {', '.join(repr(p) for p in missing)} "
                "(check the app label and the codename the model declares)."
            )
    by_pk = {pk: dotted for dotted, pk in known.items()}
    changes = []
    with transaction.atomic():
        for role in sorted(roles.values(), key=lambda r: r.name):
            group, created = Group.objects.get_or_create(name=role.name)
            wanted = {known[p]: p for p in role.permissions}
            held = set(group.permissions.values_list("pk", flat=True))
            add = sorted(wanted.keys() - held)
            remove = sorted(held - wanted.keys())
            if add:
                group.permissions.add(*add)
            if remove:
                group.permissions.remove(*remove)
            changes.append(
                RoleChange(
                    role=role.name,
                    created=created,
                    added=sorted(wanted[pk] for pk in add),
                    removed=sorted(by_pk[pk] for pk in remove),
                )
            )
        if dry_run:
            transaction.set_rollback(True)
    return changes


def _apply_in_migration(apps, schema_editor) -> None:
    roles_apply(apps)


def roles_apply_operation() -> migrations.RunPython:
    """The operation a migration lists to bring the roles in line with this module (reversing it changes nothing)."""
    return migrations.RunPython(_apply_in_migration, migrations.RunPython.noop)
