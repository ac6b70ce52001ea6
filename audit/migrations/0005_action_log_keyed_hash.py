# Keyed action log: entries written from now on carry hash_version 2 (HMAC-SHA256 with
# FIRELINE_AUDIT_LOG_KEY over every field); every existing entry keeps its unkeyed SHA-256 as version 1.
# Adding the column with a default is the only write to existing rows; their content and hashes stay.

from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0004_seed_redaction_rules_and_roles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='actionlogentry',
            name='hash_version',
            field=models.PositiveSmallIntegerField(
                default=1,
                editable=False,
                help_text='1: unkeyed SHA-256 (entries written before keying); 2: keyed HMAC-SHA256.',
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name='actionlogentry',
            name='actor',
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name='+',
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
