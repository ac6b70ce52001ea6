"""A busy incident, built through the services as a long night would: for the incident-page layout tests.

SEV1 data leak, triaged and contained (kill switch off), paged, investigated with findings, 50
timeline notes, 5 communications in different states and a handful of action items.
"""

import datetime

from django.utils import timezone

from incidents import services
from incidents.constants import Category, ContainmentType, DetectionSignal, StakeholderRole
from incidents.services import communications as comms
from incidents.services.action_items import action_item_create
from tests.incidents.factories import AIFeatureFactory, make_contact

NOTES = [
    "Pulled the last hour of transcripts for the affected tenant.",
    "Retrieval index returns documents from tenant B for tenant A queries.",
    "Legal on the bridge; asked for the list of exposed record types.",
    "Kill switch confirmed off in all three regions.",
    "Support queue: four tickets mention another customer's invoice.",
]


def busy_incident(*, commander, legal=None, notes: int = 50, communications: int = 5):
    feature = AIFeatureFactory(name="Billing assistant", key="billing-bot", kill_switch_key="billing-bot-enabled")
    for role, name in ((StakeholderRole.ENGINEERING_ON_CALL, "Ana On-call"), (StakeholderRole.LEGAL, "Lee Legal")):
        make_contact(name=name, role=role, email=f"{role}@example.com", escalation_tier=1)
    incident = services.incident_open(
        actor=commander,
        title="Billing assistant shows other customers' invoices",
        detection_signal=DetectionSignal.USER_REPORT,
        feature=feature,
        category=Category.DATA_LEAK,
        users_affected=1200,
        involves_privacy=True,
        commander=commander,
        summary="Tenant isolation in the retrieval index failed after the 14:00 deploy.",
    )
    services.incident_triage(incident_id=incident.pk, actor=commander)
    services.containment_record(
        incident_id=incident.pk,
        action_type=ContainmentType.FEATURE_FLAG_OFF,
        actor=commander,
        description="Billing assistant off for everyone.",
    )
    services.incident_contain(incident_id=incident.pk, actor=commander)
    start = timezone.now() - datetime.timedelta(hours=3)
    for n in range(notes):
        services.timeline_add_note(
            incident_id=incident.pk,
            text=f"{NOTES[n % len(NOTES)]} (update {n + 1})",
            actor=commander,
            occurred_at=start + datetime.timedelta(minutes=3 * n),
        )
    audiences = ["internal", "affected_users", "public", "internal", "affected_users"]
    for n in range(communications):
        comms.communication_create(
            incident_id=incident.pk,
            audience=audiences[n % len(audiences)],
            actor=commander,
            recipients="ops@example.com" if audiences[n % len(audiences)] == "internal" else "",
        )
    for n in range(4):
        action_item_create(
            incident_id=incident.pk,
            title=f"Tenant isolation check {n + 1} in the retrieval layer",
            kind="prevent",
            owner=commander,
            due_date=timezone.localdate() + datetime.timedelta(days=7 + n),
            actor=commander,
        )
    incident.refresh_from_db()
    return incident
