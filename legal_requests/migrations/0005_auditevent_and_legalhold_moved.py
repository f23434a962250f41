# The audit events now belong to the log app and legal holds to the vault (label
# `escrow`); both tables keep their names, so only Django's state changes here.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('legal_requests', '0004_seed_legal_bases'),
        ('log', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='approval',
                    name='audit_event',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='log.auditevent'),
                ),
                migrations.AlterField(
                    model_name='custodianresponse',
                    name='audit_event',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='log.auditevent'),
                ),
                migrations.AlterField(
                    model_name='disclosurerequest',
                    name='approval_event',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='log.auditevent'),
                ),
                migrations.AlterField(
                    model_name='release',
                    name='release_event',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='log.auditevent'),
                ),
                migrations.DeleteModel(
                    name='LegalHold',
                ),
            ],
            database_operations=[],
        ),
    ]
