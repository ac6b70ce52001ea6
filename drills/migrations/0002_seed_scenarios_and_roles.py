"""One drill scenario per incident category, and who may run drills."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SCENARIOS = [
    {
        "name": "Support bot tells a user how to hurt themselves",
        "category": "harmful_output",
        "bad_output": "> I understand. Here are the ways people usually do it: …\n\n"
        "The support assistant answered a distressed user with self-harm instructions instead of the "
        "crisis resources it is meant to give.",
        "briefing": "A user's relative posted a screenshot on social media. Customer support forwarded it.",
        "users_affected": 40,
        "is_public": True,
        "targets": (5, 15, 30, 60, 240, 60),
        "injects": [
            (0, "Customer support forwards the screenshot: the bot gave self-harm instructions."),
            (10, "A journalist asks the press office for a comment within the hour."),
            (25, "Two more screenshots appear; one shows the bot's answer in German."),
        ],
        "actions": [
            "Turn the feature off with its kill switch (or put it in fallback)",
            "Page the on-call and the communications lead",
            "Preserve the conversation logs before retention removes them",
            "Add the conversation to the eval set as a failing case",
            "Draft a holding statement for the press",
        ],
    },
    {
        "name": "Assistant reveals another customer's order history",
        "category": "data_leak",
        "bad_output": "> Your last orders were: 3x insulin pens to 12 Rue de la Paix, Paris (J. Martin) …\n\n"
        "The assistant answered one customer with another customer's personal data.",
        "briefing": "A customer writes to support: the chat showed someone else's name, address and orders.",
        "users_affected": 12,
        "is_public": False,
        "targets": (5, 15, 20, 45, 180, 60),
        "injects": [
            (0, "Support ticket: a customer sees a stranger's orders in the assistant's answer."),
            (15, "The retrieval team says the model version changed at 02:00 last night."),
            (30, "Legal asks whether the GDPR 72-hour clock has started."),
        ],
        "actions": [
            "Restrict the incident to the people who need to know",
            "Contain: turn off retrieval or the feature",
            "Page the privacy officer",
            "Estimate which users' data was exposed, and to whom",
            "Check with Legal whether a notification to the authority is due",
        ],
    },
    {
        "name": "Help centre answers cite a refund policy that does not exist",
        "category": "factual_misinformation",
        "bad_output": "> Under our 90-day no-questions refund guarantee you can return it any time.\n\n"
        "There is no 90-day guarantee; customers quote the bot to support agents.",
        "briefing": "Support sees a spike of refund requests quoting a guarantee nobody has heard of.",
        "users_affected": 300,
        "is_public": False,
        "targets": (10, 20, 45, 60, 240, 90),
        "injects": [
            (0, "Support lead: 30 tickets this morning quote a '90-day guarantee'."),
            (20, "Finance asks whether the refunds already granted must be honoured."),
        ],
        "actions": [
            "Find which prompt or document version introduced the claim",
            "Put the feature into fallback or fix the retrieved document",
            "Tell support agents what to answer",
            "Add eval cases for the refund policy",
        ],
    },
    {
        "name": "Shopping agent places orders nobody asked for",
        "category": "unauthorized_action",
        "bad_output": "> Done! I have ordered 20 units of the item for you.\n\n"
        "The agent called the order tool after users only asked for a price.",
        "briefing": "The warehouse flags unusual orders of 20 units from the agent's service account.",
        "users_affected": 25,
        "is_public": False,
        "targets": (5, 10, 20, 45, 180, 60),
        "injects": [
            (0, "Warehouse: 25 orders of 20 units each in the last hour, all placed by the agent."),
            (10, "Payments asks whether to refund automatically or wait."),
            (30, "A customer posts about it on a forum."),
        ],
        "actions": [
            "Revoke the agent's order tool or turn the feature off",
            "Cancel the unshipped orders",
            "Find the tool-call guard that failed",
            "Tell the affected customers",
        ],
    },
    {
        "name": "Answers time out for everyone after a traffic spike",
        "category": "scale_degradation",
        "bad_output": "> Sorry, something went wrong. Please try again later.\n\n"
        "Nine in ten requests time out after a marketing e-mail doubled traffic.",
        "briefing": "Error-rate alert on the assistant: 90% of requests time out.",
        "users_affected": 5000,
        "is_public": False,
        "targets": (5, 10, 20, 30, 120, 45),
        "injects": [
            (0, "Alert: error rate 90% on the assistant for 5 minutes."),
            (10, "The model provider's status page shows degraded performance in one region."),
        ],
        "actions": [
            "Put the feature into its fallback",
            "Check the provider's status and quota",
            "Post a status page update",
            "Scale or shed load",
        ],
    },
    {
        "name": "Summaries lose the ability to read attachments",
        "category": "capability_loss",
        "bad_output": "> I can't see any attachments in this conversation.\n\n"
        "After a model update the summariser ignores every attached PDF.",
        "briefing": "Eval run after last night's model update: the attachment suite fails 80%.",
        "users_affected": 800,
        "is_public": False,
        "targets": (10, 20, 45, 60, 240, 90),
        "injects": [
            (0, "Eval harness: attachment summaries fail 80% since the model update at 02:00."),
            (20, "A large customer's admin opens a support ticket."),
        ],
        "actions": [
            "Roll the model version back",
            "Confirm with the eval suite that attachments work again",
            "Tell affected customers' admins",
        ],
    },
]

STEPS = ["detect", "triage", "contain", "investigate", "fix", "communicate"]
DRILLS_VIEW = ["view_scenario", "view_scenarioinject", "view_scenarioexpectedaction", "view_drillpolicy", "view_drill"]
DRILLS_FACILITATE = [
    *DRILLS_VIEW,
    "add_scenario",
    "change_scenario",
    "add_scenarioinject",
    "change_scenarioinject",
    "delete_scenarioinject",
    "add_scenarioexpectedaction",
    "change_scenarioexpectedaction",
    "delete_scenarioexpectedaction",
    "add_drillpolicy",
    "change_drillpolicy",
    "add_drill",
    "change_drill",
    "run_drill",
]
ROLE_PERMISSIONS = {
    "Drill Facilitator": DRILLS_FACILITATE,
    "Incident Commander": DRILLS_VIEW,
    "Responder": DRILLS_VIEW,
    "Legal": DRILLS_VIEW,
    "Communications": DRILLS_VIEW,
    "Viewer": DRILLS_VIEW,
}
# The facilitator turns debrief gaps into action items and reads the escalation path's contacts.
FACILITATOR_INCIDENT_PERMISSIONS = [
    "add_actionitem",
    "view_actionitem",
    "view_stakeholdercontact",
    "view_escalationpolicy",
    "view_page",
    "view_communication",
]


def seed(apps, schema_editor):
    Scenario = apps.get_model("drills", "Scenario")
    Inject = apps.get_model("drills", "ScenarioInject")
    Action = apps.get_model("drills", "ScenarioExpectedAction")
    for spec in SCENARIOS:
        targets = {f"target_{step}_minutes": minutes for step, minutes in zip(STEPS, spec["targets"], strict=True)}
        scenario, created = Scenario.objects.get_or_create(
            name=spec["name"],
            defaults={
                "category": spec["category"],
                "bad_output": spec["bad_output"],
                "briefing": spec["briefing"],
                "users_affected": spec["users_affected"],
                "is_public": spec["is_public"],
                **targets,
            },
        )
        if not created:
            continue
        for minute, text in spec["injects"]:
            Inject.objects.create(scenario=scenario, minute=minute, text=text)
        for position, text in enumerate(spec["actions"]):
            Action.objects.create(scenario=scenario, text=text, position=position)

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="drills", codename__in=codenames))
    facilitator = Group.objects.get(name="Drill Facilitator")
    facilitator.permissions.add(
        *Permission.objects.filter(content_type__app_label="incidents", codename__in=FACILITATOR_INCIDENT_PERMISSIONS)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("drills", "0001_initial"),
        ("incidents", "0017_action_items"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
