"""The roles Fireline ships with, as Django groups and the permissions each holds.

Read by the data migrations that create the groups; later migrations add to them as capabilities land.
"""

VIEW_REFERENCE = ["incidents.view_aifeature", "incidents.view_triagerule"]
VIEW_CASE = ["incidents.view_incident", "incidents.view_containmentaction", "incidents.view_timelineentry"]

ROLE_PERMISSIONS = {
    "Incident Commander": [
        *VIEW_REFERENCE,
        *VIEW_CASE,
        "incidents.add_incident",
        "incidents.change_incident",
        "incidents.triage_incident",
        "incidents.contain_incident",
        "incidents.investigate_incident",
        "incidents.fix_incident",
        "incidents.verify_incident",
        "incidents.start_postmortem_incident",
        "incidents.close_incident",
        "incidents.dismiss_incident",
        "incidents.reopen_incident",
        "incidents.add_aifeature",
        "incidents.change_aifeature",
        "incidents.change_triagerule",
        "incidents.add_containmentaction",
        "incidents.change_containmentaction",
        "incidents.add_timelineentry",
        "audit.view_actionlogentry",
    ],
    "Responder": [
        *VIEW_REFERENCE,
        *VIEW_CASE,
        "incidents.add_incident",
        "incidents.change_incident",
        "incidents.contain_incident",
        "incidents.investigate_incident",
        "incidents.fix_incident",
        "incidents.verify_incident",
        "incidents.add_containmentaction",
        "incidents.change_containmentaction",
        "incidents.add_timelineentry",
    ],
    "Legal": [
        *VIEW_REFERENCE,
        *VIEW_CASE,
        "incidents.view_restricted_incident",
        "incidents.add_timelineentry",
        "audit.view_actionlogentry",
    ],
    "Communications": [*VIEW_REFERENCE, *VIEW_CASE, "incidents.add_timelineentry"],
    "Drill Facilitator": [*VIEW_REFERENCE, *VIEW_CASE],
    "Viewer": [*VIEW_REFERENCE, *VIEW_CASE],
}
