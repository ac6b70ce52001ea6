"""Report chains, the corrected SB 53 wording, per-trigger clock starts, the organisation profile row,
and an affected-users template that uses only what the public may read.

- Every follow-up rule of `incidents.deadlines.SEED_REGIMES` (AI Act Art. 73(5), GDPR Art. 33(4), NIS2
  Art. 23(4)(c) and (e), SEC 8-K/A, SB 53 amended report) is created; NIS2's final report counts from
  the notification's submission (clock_from = predecessor).
- SB 53's texts are corrected where they still read as seeded: the duty is every frontier developer's,
  and the 24-hour disclosure goes to an appropriate authority (law enforcement or a public safety
  agency), not to the Office of Emergency Services. Rows Legal has edited are left alone.
- Each existing decision records its single clock start as the trigger of each regime it covers.
- The affected-users template no longer pastes the incident's internal summary and fix text: it keeps
  italic guidance for what users saw, the correct information and what to do (a draft still holding
  it is refused at submission). Replaced only where it still reads as seeded.
"""

import datetime

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations

OLD_SB53_NOTE = "The large frontier developer discovers the critical safety incident."
OLD_SB53_REPORT = (
    "SB 53, Bus. & Prof. Code § 22757.13: within 15 days of discovering the critical safety incident, to the Office "
    "of Emergency Services"
)
OLD_SB53_IMMINENT = (
    "SB 53, Bus. & Prof. Code § 22757.13: within 24 hours to an appropriate authority (law enforcement or public "
    "safety agency) when the incident poses an imminent risk of death or serious physical injury"
)

OLD_AFFECTED_BODY = (
    "We are writing because {{ feature }}, an AI feature you used, gave you information or "
    "behaved in a way it should not have.\n\n"
    "## What happened\n\n{{ what_happened|default:'_Plainly: what the feature did, when, and to whom._' }}\n\n"
    "## The correct information\n\n_State the correct information here, so nobody relies on what the "
    "feature said. If nothing needs correcting, say so._\n\n"
    "## What we fixed\n\n{{ fix|default:'_What we changed so it does not happen again._' }}\n\n"
    "## What you can do\n\n_Anything the reader should check or do, and how to reach us._\n\n"
    "We are sorry. Reference: {{ reference }}."
)
NEW_AFFECTED_BODY = (
    "We are writing because {{ feature }}, an AI feature you used, gave you information or "
    "behaved in a way it should not have.\n\n"
    "## What you saw\n\n_Plainly, in the reader's words: what the feature showed or did, and when._\n\n"
    "## The correct information\n\n_State the correct information here, so nobody relies on what the "
    "feature said. If nothing needs correcting, say so._\n\n"
    "## What we fixed\n\n_What we changed so it does not happen again._\n\n"
    "## What you can do\n\n_Anything the reader should check or do, and how to reach us._\n\n"
    "We are sorry. Reference: {{ reference }}."
)

CHAIN_FIELDS = ("opens_on", "clock_from", "clock_event", "recipient")

VIEW_PROFILE = ["view_organisationprofile", "view_postmortemrevision"]
PROFILE_PERMISSIONS = {
    "Legal": [*VIEW_PROFILE, "add_organisationprofile", "change_organisationprofile"],
    "Incident Commander": VIEW_PROFILE,
    "Communications": VIEW_PROFILE,
    "Responder": VIEW_PROFILE,
    "Drill Facilitator": VIEW_PROFILE,
    "Viewer": VIEW_PROFILE,
}


def forwards(apps, schema_editor):
    from incidents.deadlines import SEED_REGIMES

    Regime = apps.get_model("incidents", "Regime")
    Rule = apps.get_model("incidents", "DeadlineRule")
    for spec in SEED_REGIMES:
        regime = Regime.objects.filter(code=spec["code"]).first()
        if regime is None:
            continue  # deleted or renamed by Legal: not ours to bring back
        if regime.code == "ca-sb53" and regime.clock_start_note == OLD_SB53_NOTE:
            regime.clock_start_note = spec["clock_start_note"]
            regime.save(update_fields=["clock_start_note"])
        by_code = {rule.code: rule for rule in Rule.objects.filter(regime=regime)}
        for order, rule_spec in enumerate(spec["rules"]):
            rule_spec = dict(rule_spec)
            code = rule_spec.pop("code")
            after = rule_spec.pop("after", None)
            due = rule_spec.pop("due_local_time", None)
            if due:
                rule_spec["due_local_time"] = datetime.time.fromisoformat(due)
            rule_spec.setdefault("reminder_percentages", [50, 80])
            rule_spec.setdefault("reminder_hours_before", [24])
            rule = by_code.get(code)
            if rule is None:
                rule = Rule.objects.create(regime=regime, code=code, order=order, **rule_spec)
                by_code[code] = rule
            else:
                # the chain fields were added by 0028 with their defaults: nobody has edited them yet
                for name in CHAIN_FIELDS:
                    if name in rule_spec:
                        setattr(rule, name, rule_spec[name])
                if (regime.code, code) == ("ca-sb53", "report") and rule.citation == OLD_SB53_REPORT:
                    rule.citation = rule_spec["citation"]
                if (regime.code, code) == ("ca-sb53", "imminent-risk") and rule.citation == OLD_SB53_IMMINENT:
                    rule.citation = rule_spec["citation"]
                rule.save()
            if after and after in by_code and rule.after_id is None:
                rule.after = by_code[after]
                rule.save(update_fields=["after"])

    # One trigger per regime kind: a decision taken before this migration had one clock start for all.
    Decision = apps.get_model("incidents", "ReportabilityDecision")
    fields = {"awareness": "aware_at", "discovery": "discovered_at", "materiality": "materiality_at"}
    evidence = {"awareness": "aware_evidence", "discovery": "discovery_evidence", "materiality": "materiality_evidence"}
    for decision in Decision.objects.prefetch_related("regimes"):
        for kind in {regime.clock_start for regime in decision.regimes.all()}:
            if kind in fields:
                setattr(decision, fields[kind], decision.clock_started_at)
                setattr(decision, evidence[kind], "Recorded before clock starts were kept per trigger.")
        decision.save()

    Profile = apps.get_model("incidents", "OrganisationProfile")
    if not Profile.objects.filter(pk=1).exists():
        name = (getattr(settings, "FIRELINE_ORGANISATION_NAME", "") or "").strip()
        Profile.objects.create(pk=1, legal_name="" if name == "Fireline" else name)

    Template = apps.get_model("incidents", "CommunicationTemplate")
    Template.objects.filter(audience="affected_users", body=OLD_AFFECTED_BODY).update(body=NEW_AFFECTED_BODY)

    # Legal keeps the profile; everyone who reads regulatory records may see it.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in PROFILE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="incidents", codename__in=codenames))


def backwards(apps, schema_editor):
    Template = apps.get_model("incidents", "CommunicationTemplate")
    Template.objects.filter(audience="affected_users", body=NEW_AFFECTED_BODY).update(body=OLD_AFFECTED_BODY)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0028_documents_and_report_chains")]
    operations = [migrations.RunPython(forwards, backwards)]
