"""A routing rule for the quality monitors' error-rate alerts, next to the seeded ones (incidents 0006).

The other monitor signals use the seeded rules' labels (refusal_rate, cost_spike, latency_spike).
"""

from django.db import migrations


def seed(apps, schema_editor):
    Rule = apps.get_model("incidents", "AlertRoutingRule")
    Rule.objects.get_or_create(
        name="Error-rate spike",
        defaults={"matchers": {"signal": "error_rate"}, "category": "capability_loss", "impact": "widespread",
                  "position": 50},
    )


class Migration(migrations.Migration):
    dependencies = [("command", "0001_initial"), ("incidents", "0006_seed_alert_routing")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
