"""Demo data that shows every capability built so far. Safe to run again: it adds nothing twice."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from incidents import roles, services
from incidents.constants import Category, ContainmentType, DetectionSignal, DismissReason, StakeholderRole
from incidents.models import AIFeature, Incident, LearningScope, StakeholderContact
from incidents.services.action_items import action_item_complete, action_item_create
from incidents.services.communications import (
    GUIDANCE,
    communication_approve,
    communication_create,
    communication_send,
    communication_submit,
    communication_update,
)
from incidents.services.evals import evalcase_create, evalruns_record
from incidents.services.flags import killswitch_for
from incidents.services.postmortems import (
    learning_add,
    postmortem_approve,
    postmortem_create,
    postmortem_publish,
    postmortem_submit,
    postmortem_update,
    timeline_entry_star,
)
from incidents.services.stakeholders import contacts_mark_stale

DEMO_USERS = [
    # username, group, superuser?
    ("commander", roles.COMMANDER, False),
    ("responder", roles.RESPONDER, False),
    ("legal", roles.LEGAL, False),
    ("comms", roles.COMMUNICATIONS, False),
    ("facilitator", roles.DRILL_FACILITATOR, False),
    ("viewer", roles.VIEWER, False),
    ("admin", None, True),
]

FEATURES = [
    {
        "key": "support-bot",
        "name": "Support assistant",
        "owner_team": "Customer Experience",
        "kill_switch_key": "support-bot-enabled",
        "model_provider": "openai",
        "current_model_version": "gpt-4o-2024-08-06",
        "current_prompt_version": "support-v42",
        "fallback_description": "Route the chat to the human support queue and show the help-centre search.",
        "rollback_procedure": "1. Open the prompt registry.\n2. Pin `support-v41`.\n3. Watch the refusal-rate "
        "panel for 15 minutes.",
    },
    {
        "key": "search-summary",
        "name": "Search answer summaries",
        "owner_team": "Search",
        "kill_switch_key": "search-summary-enabled",
        "model_provider": "anthropic",
        "current_model_version": "claude-sonnet-4",
        "current_prompt_version": "summary-v7",
        "fallback_description": "Show the ten blue links without a summary.",
        "rollback_procedure": "Set `SUMMARY_MODEL` back to the previous version in the feature config and redeploy.",
    },
    {
        "key": "checkout-agent",
        "name": "Checkout agent",
        "owner_team": "Payments",
        "kill_switch_key": "checkout-agent-enabled",
        "model_provider": "openai",
        "current_model_version": "gpt-4.1-mini",
        "current_prompt_version": "agent-v3",
        "fallback_description": "Disable agent tools; the agent only answers questions.",
        "rollback_procedure": "Revert the tool manifest to `agent-tools-v2`.",
    },
]


def credentials_path():
    return settings.VAR_DIR / "demo-credentials.txt"


def demo_password() -> str:
    """Generated on first run and kept under var/, so no install shares a known password."""
    path = credentials_path()
    if path.exists():
        return path.read_text().split("password:", 1)[1].strip()
    password = secrets.token_urlsafe(12)
    path.write_text(f"password: {password}\n")
    path.chmod(0o600)
    return password


DEMO_WRITING = (
    "The store-hours answers were wrong between 09:10 and 11:40 UTC; the correct hours are on the store page, "
    "and the assistant now reads them from the store API."
)
DEMO_RECIPIENTS = {
    "internal": "incidents@example.com",
    "affected_users": "affected-users@example.com",
    "regulator": "regulator@example.com",
}


class Command(BaseCommand):
    help = "Seed demo users, AI features and incidents in every state (idempotent)."

    def handle(self, *args, **options):
        password = demo_password()
        users = self._users(password)
        features = self._features(users["admin"])
        self._contacts(users)
        if Incident.objects.filter(title__startswith="[demo]").exists():
            self.stdout.write("Demo incidents already present; nothing added.")
        else:
            with transaction.atomic():
                self._incidents(users, features)
                self._detection()
                self._audit_trail(users)
            self.stdout.write(f"Seeded {Incident.objects.count()} demo incidents.")
        from drills.demo import seed_demo_drills

        seed_demo_drills(users=users, features=features)
        from command.demo import seed_demo_monitors

        seed_demo_monitors(features=features.values())
        self.stdout.write(
            f"Demo login: commander / {password}  (also responder, legal, comms, facilitator, "
            f"viewer; 'admin' is a superuser; same password)"
        )

    def _users(self, password):
        User = get_user_model()
        users = {}
        for username, group, is_superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"is_staff": True, "is_superuser": is_superuser, "email": f"{username}@example.com"},
            )
            if created:
                user.set_password(password)
                user.save()
            if group:
                user.groups.add(Group.objects.get(name=group))
            users[username] = User.objects.get(pk=user.pk)  # fresh permission cache
        return users

    def _features(self, actor):
        features = {}
        for data in FEATURES:
            feature = AIFeature.objects.filter(key=data["key"]).first()
            if feature is None:
                feature = services.record_save(instance=AIFeature(**data), actor=actor, fields=list(data))
            killswitch_for(feature)
            features[data["key"]] = feature
        return features

    def _contacts(self, users):
        """An escalation path for every paged role, with one stale and one unverified contact to see."""
        if StakeholderContact.objects.exists():
            return
        now = timezone.now()
        people = [
            ("Dana Okafor", StakeholderRole.ENGINEERING_ON_CALL, 1, "commander", 10),
            ("Sam Reyes", StakeholderRole.ENGINEERING_ON_CALL, 2, "responder", 30),
            ("Priya Natarajan", StakeholderRole.LEADERSHIP, 1, None, 20),
            ("Lee Marchetti", StakeholderRole.LEGAL, 1, "legal", 40),
            ("Jo Lindqvist", StakeholderRole.LEGAL, 2, None, 120),  # stale: not re-verified this quarter
            ("Chris Adeyemi", StakeholderRole.PR, 1, "comms", 15),
            ("Mira Kowalski", StakeholderRole.PRIVACY_OFFICER, 1, None, None),  # never verified
            ("Tomás Silva", StakeholderRole.CUSTOMER_SUPPORT, 1, None, 5),
        ]
        created = {}
        for name, role, tier, username, days_ago in people:
            contact = StakeholderContact(
                name=name,
                role=role,
                escalation_tier=tier,
                team="Trust & Safety",
                time_zone="Europe/London",
                user=users.get(username) if username else None,
            )
            if days_ago is not None:
                contact.verify()
                contact.verified_at = now - timedelta(days=days_ago)
            contact.save()
            local = slugify(name.split()[0])  # an address a mail server takes: "Tomás" is tomas@
            contact.add_address("email", f"{local}@example.com", verified_at=contact.verified_at)
            created[name] = contact
        created["Lee Marchetti"].backup_contact = created["Jo Lindqvist"]
        created["Lee Marchetti"].save(update_fields=["backup_contact"])
        contacts_mark_stale()

    def _audit_trail(self, users):
        """Support-bot requests around the insult incident, with the model version switching mid-way."""
        import json as json_module

        from audit.models import AuditRecord
        from audit.trail.ingest import audit_records_ingest_ndjson
        from audit.trail.investigation import evidence_attach
        from incidents.services.findings import finding_record

        incident = Incident.objects.get(title="[demo] Support bot insulted a customer")
        start = (incident.occurred_at or incident.detected_at) - timedelta(hours=8)
        lines = []
        for n in range(160):
            model = "gpt-4o-2024-05-13" if n < 90 else "gpt-4o-2024-08-06"
            rude = n in (120, 131)
            lines.append(
                json_module.dumps(
                    {
                        "request_id": f"sb-{n:04d}",
                        "occurred_at": (start + timedelta(minutes=4 * n)).isoformat(),
                        "feature": "support-bot",
                        "user_id": f"customer-{n % 37}",
                        "model_provider": "openai",
                        "model_version": model,
                        "prompt_id": "support",
                        "prompt_version": "support-v42",
                        "parameters": {"temperature": 0.7, "seed": n},
                        "input": "Where is my refund? Email me at a@b.example",
                        "retrieved_context": [
                            {"id": "kb-12", "source": "help-centre", "text": "Refunds take 5-7 days."}
                        ],
                        "model_output": "Oh, another refund question. Read the help page."
                        if rude
                        else "Refunds take 5-7 working days after we receive the item.",
                        "user_output": "Oh, another refund question. Read the help page."
                        if rude
                        else "Refunds take 5-7 working days after we receive the item.",
                        "moderation": [
                            {"stage": "output", "rule": "toxicity", "verdict": "allow", "score": 0.41 if rude else 0.02}
                        ],
                        "latency_ms": 900 + n,
                        "tokens_in": 120,
                        "tokens_out": 40,
                        "cost": 0.0012,
                    }
                )
            )
        audit_records_ingest_ndjson(body="\n".join(lines).encode())
        rude = AuditRecord.objects.filter(request_id__in=["sb-0120", "sb-0131"]).values_list("pk", flat=True)
        evidence_attach(
            incident_id=incident.pk,
            record_ids=list(rude),
            actor=users["responder"],
            note="The two rude answers customers reported.",
        )
        finding_record(
            incident_id=incident.pk,
            layer="prompt",
            common_finding="prompt_regression",
            text="The persona prompt allowed sarcasm; the new model version follows it more literally.",
            is_root_cause=True,
            actor=users["responder"],
        )

    def _detection(self):
        """User reports in the inbox (three of them one problem), and an alert no rule could route."""
        from incidents.models import ReportSource
        from incidents.services.alerts import alert_intake
        from incidents.services.reports import report_submit

        for n, saw in enumerate(
            [
                "The summary says the museum is open on Mondays. It is closed on Mondays.",
                "Opening hours in the answer box are from last year.",
                "It told me the pharmacy opens at 7; it opens at 9.",
            ]
        ):
            report_submit(
                feature_key="search-summary",
                what_user_saw=saw,
                category=Category.FACTUAL_MISINFORMATION,
                what_was_wrong="Wrong opening hours",
                source=ReportSource.API,
                request_id=f"req-hours-{n}",
            )
        report_submit(
            feature_key="support-bot",
            what_user_saw="The assistant answered in a very rude tone.",
            what_was_wrong="Rude answer",
            category=Category.HARMFUL_OUTPUT,
            source=ReportSource.FORM,
        )
        body = (
            b'{"name": "GPUQueueDepthHigh", "labels": {"team": "ml-infra", "cluster": "eu-1"}, '
            b'"summary": "Inference queue depth above 500 for 10 minutes"}'
        )
        alert_intake(integration="generic", body=body, content_type="application/json")

    def _incidents(self, users, features):
        cmd, resp = users["commander"], users["responder"]
        now = timezone.now()

        def open_(title, hours_ago, **kw):
            kw.setdefault("commander", cmd)
            return services.incident_open(
                title=f"[demo] {title}",
                actor=cmd,
                detected_at=now - timedelta(hours=hours_ago),
                occurred_at=now - timedelta(hours=hours_ago + 1),
                **kw,
            )

        def contain(incident, action=ContainmentType.FEATURE_FLAG_OFF, **params):
            services.containment_record(
                incident_id=incident.pk,
                action_type=action,
                parameters=params,
                actor=cmd,
                approved_by=users["admin"],
                description="From the incident page.",
            )
            return services.incident_contain(incident_id=incident.pk, actor=cmd)

        def fix(incident, layer, cause, what):
            services.incident_update(
                incident_id=incident.pk,
                actor=resp,
                changes={
                    "root_cause_layer": layer,
                    "root_cause": cause,
                    "fix_layer": layer,
                    "fix_description": what,
                    "fix_reference": "https://git.example.com/ai/pull/1287",
                },
            )
            return services.incident_mark_fixed(incident_id=incident.pk, actor=resp)

        def verify(incident):
            case = evalcase_create(
                feature=incident.feature,
                actor=resp,
                source_incident=incident,
                input=f"Replay of the request behind {incident.reference}",
                expected_behaviour="Answers correctly, without the failure seen in the incident.",
                failure_category=incident.category,
                failure_finding=incident.root_cause,
            )
            evalruns_record(
                runs=[
                    {
                        "case": case.pk,
                        "trials": 400,
                        "failures": 0,
                        "seeds": list(range(400)),
                        "model_version": incident.feature.current_model_version,
                        "prompt_version": incident.feature.current_prompt_version,
                    }
                ],
                harness="demo-harness",
            )
            return services.incident_verify(incident_id=incident.pk, actor=resp)

        # detected: just in from a user report
        open_(
            "Support bot suggests mixing cleaning products",
            0.2,
            category=Category.HARMFUL_OUTPUT,
            detection_signal=DetectionSignal.USER_REPORT,
            feature=features["support-bot"],
            users_affected=3,
            commander=None,
            summary="A user shared a chat where the bot suggested mixing bleach and ammonia.",
        )

        # triaged: public misinformation, waiting for containment
        i = open_(
            "Search summaries cite court cases that do not exist",
            1.5,
            category=Category.FACTUAL_MISINFORMATION,
            detection_signal=DetectionSignal.EXTERNAL_ATTENTION,
            feature=features["search-summary"],
            users_affected=2500,
            is_public=True,
            members=[resp],
            summary="A legal-news site published screenshots of invented case citations.",
        )
        services.incident_triage(incident_id=i.pk, actor=cmd)

        # contained: a data leak, restricted
        i = open_(
            "Support bot shows other customers' delivery addresses",
            3,
            category=Category.DATA_LEAK,
            detection_signal=DetectionSignal.USER_REPORT,
            feature=features["support-bot"],
            users_affected=41,
            involves_privacy=True,
            members=[resp],
            summary="Retrieval returned another customer's order record for 41 conversations.",
        )
        services.incident_triage(incident_id=i.pk, actor=cmd)
        contain(i)
        services.containment_record(
            incident_id=i.pk,
            action_type=ContainmentType.FALLBACK,
            actor=cmd,
            parameters={"fallback": "human support queue"},
        )

        # investigating: an agent that acted without approval
        i = open_(
            "Checkout agent issued refunds without approval",
            6,
            category=Category.UNAUTHORIZED_ACTION,
            detection_signal=DetectionSignal.MONITORING_ALERT,
            feature=features["checkout-agent"],
            users_affected=12,
            members=[resp],
        )
        services.incident_triage(incident_id=i.pk, actor=cmd)
        contain(i, ContainmentType.RESTRICT_COHORT, cohort="tools=refund")
        services.incident_investigate(incident_id=i.pk, actor=resp)
        services.timeline_add_note(
            incident_id=i.pk,
            actor=resp,
            occurred_at=now - timedelta(hours=5),
            text="Audit trail: the refund tool was called with no approval step since agent-v3.",
        )

        # fixed: quality drop after a model upgrade
        i = open_(
            "Summary quality dropped after the model upgrade",
            20,
            category=Category.SCALE_DEGRADATION,
            detection_signal=DetectionSignal.MONITORING_ALERT,
            feature=features["search-summary"],
            users_affected=18000,
        )
        services.incident_triage(incident_id=i.pk, actor=cmd)
        contain(i, ContainmentType.ROLLBACK, from_version="claude-sonnet-4", to_version="claude-3-7-sonnet")
        services.incident_investigate(incident_id=i.pk, actor=resp)
        fix(i, "model", "The new model version truncates long contexts.", "Pin the previous model until re-tuned.")

        # verified: over-refusal
        i = open_(
            "Support bot refuses 40% of billing questions",
            30,
            category=Category.CAPABILITY_LOSS,
            detection_signal=DetectionSignal.MONITORING_ALERT,
            feature=features["support-bot"],
            users_affected=1200,
        )
        services.incident_triage(incident_id=i.pk, actor=cmd)
        contain(i, ContainmentType.FALLBACK, fallback="human support queue for billing")
        services.incident_investigate(incident_id=i.pk, actor=resp)
        fix(
            i,
            "moderation",
            "A new moderation rule matched 'charge' as self-harm slang.",
            "Narrow the rule to the self-harm context.",
        )
        verify(i)

        # post-mortem: harmful output
        i = open_(
            "Support bot insulted a customer",
            50,
            category=Category.HARMFUL_OUTPUT,
            detection_signal=DetectionSignal.USER_REPORT,
            feature=features["support-bot"],
            users_affected=1,
        )
        services.incident_triage(incident_id=i.pk, actor=cmd)
        contain(i, ContainmentType.STRICTER_MODERATION, pattern="insult classifier threshold 0.5")
        services.incident_investigate(incident_id=i.pk, actor=resp)
        fix(i, "prompt", "The persona prompt allowed sarcasm.", "Removed the sarcasm instruction; added tone rules.")
        verify(i)
        services.incident_start_postmortem(incident_id=i.pk, actor=cmd)
        pm = postmortem_create(incident_id=i.pk, actor=cmd)
        postmortem_update(
            postmortem_id=pm.pk,
            actor=cmd,
            changes={"what_happened": "The assistant answered a frustrated customer sarcastically."},
        )

        # closed
        i = open_(
            "Search summaries gave the wrong store opening hours",
            120,
            category=Category.FACTUAL_MISINFORMATION,
            detection_signal=DetectionSignal.USER_REPORT,
            feature=features["search-summary"],
            users_affected=300,
        )
        services.incident_triage(incident_id=i.pk, actor=cmd)
        contain(i, ContainmentType.FEATURE_FLAG_OFF)
        services.incident_investigate(incident_id=i.pk, actor=resp)
        fix(i, "retrieval", "The index served last year's opening hours.", "Re-indexed; hours come from the store API.")
        verify(i)
        for action in i.containment_actions.filter(reverted_at__isnull=True):
            services.containment_revert(action_id=action.pk, reason="Fix verified; summaries back on.", actor=cmd)
        services.incident_start_postmortem(incident_id=i.pk, actor=cmd)
        i.refresh_from_db()
        for audience in i.required_communications:  # what the triage matrix asks for, sent and on record
            c = communication_create(
                incident_id=i.pk,
                audience=audience,
                recipients="" if audience == "public" else DEMO_RECIPIENTS.get(audience, "incidents@example.com"),
                actor=cmd,
            )
            written = {  # what the writer puts where the template's italic guidance was
                "subject": GUIDANCE.sub(DEMO_WRITING, c.subject),
                "body": GUIDANCE.sub(DEMO_WRITING, c.body),
            }
            communication_update(communication_id=c.pk, changes=written, actor=cmd)
            communication_submit(communication_id=c.pk, actor=cmd)
            communication_approve(communication_id=c.pk, actor=cmd if audience == "internal" else users["legal"])
            communication_send(communication_id=c.pk, actor=cmd)
        pm = postmortem_create(incident_id=i.pk, actor=cmd)
        postmortem_update(
            postmortem_id=pm.pk,
            actor=cmd,
            changes={
                "what_happened": "Search summaries showed last year's opening hours for about a day.",
                "impact": "About 300 users saw wrong opening hours; a few travelled to a closed store.",
                "why_not_caught": "No freshness monitor on the retrieval index; evals used a frozen snapshot.",
                "what_is_changing": "Freshness monitor on the index; hours come from the store API.",
            },
        )
        learning_add(
            postmortem_id=pm.pk,
            text="Retrieval indexes need a freshness monitor.",
            scope=LearningScope.TRANSFERABLE,
            actor=cmd,
        )
        # Key events for "What happened", and what is changing, as action items with owners and dates.
        for entry in i.timeline.filter(kind__in=["opened", "containment"]).order_by("occurred_at")[:3]:
            timeline_entry_star(entry_id=entry.pk, is_key_event=True, actor=cmd)
        today = timezone.localdate()
        for title, kind, owner, days in [
            ("Freshness monitor on the retrieval index (alert when older than 24 h)", "detect", resp, 5),
            ("Store hours from the store API, not the index", "prevent", resp, 0),
            ("Evals run against the live index, not a frozen snapshot", "process", cmd, 2),
        ]:
            item = action_item_create(
                incident_id=i.pk, title=title, kind=kind, owner=owner, due_date=today + timedelta(days=days), actor=cmd
            )
            if days == 0:
                action_item_complete(item_id=item.pk, actor=owner)
        postmortem_submit(postmortem_id=pm.pk, actor=cmd)
        pm.refresh_from_db()
        reviewers = [cmd, users["legal"]] + ([users["comms"]] if pm.needs_communications_review else [])
        for reviewer in reviewers:  # the commander, Legal, and Communications when public
            postmortem_approve(postmortem_id=pm.pk, actor=reviewer)
        postmortem_publish(postmortem_id=pm.pk, actor=cmd)
        services.incident_close_settled(
            incident_id=i.pk,
            actor=cmd,
            containment={
                a.pk: {"decision": "lift", "reason": "The fix is verified and published."}
                for a in i.containment_actions.filter(reverted_at__isnull=True)
            },
            pages={p.pk: "acknowledge" for p in i.pages.all()},
        )

        # dismissed: a false alarm
        i = open_(
            "Latency spike on checkout agent",
            8,
            category=Category.SCALE_DEGRADATION,
            detection_signal=DetectionSignal.MONITORING_ALERT,
            feature=features["checkout-agent"],
        )
        services.incident_dismiss_settled(
            incident_id=i.pk,
            actor=cmd,
            reason=DismissReason.FALSE_ALARM,
            note="Load test in staging pointed at the production dashboard.",
            pages={p.pk: "cancel" for p in i.pages.all()},
        )
