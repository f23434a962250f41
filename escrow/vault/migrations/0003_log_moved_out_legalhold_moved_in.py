# The log's tables now belong to the log app (log 0001 took over their state and
# installed their append-only triggers under its own trigger ids): drop the old
# triggers and forget the models here. Legal holds move in from legal_requests; their
# table keeps its name, so only Django's state changes.

import django.db.models.deletion
import pgtrigger.migrations
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_webhookdelivery'),
        ('escrow', '0002_audit_log'),
        ('legal_requests', '0005_auditevent_and_legalhold_moved'),
        ('log', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(model_name='auditevent', name='audit_event_append_only'),
        pgtrigger.migrations.RemoveTrigger(model_name='logentry', name='log_entry_append_only'),
        pgtrigger.migrations.RemoveTrigger(model_name='logtile', name='log_tile_append_only'),
        pgtrigger.migrations.RemoveTrigger(model_name='logcheckpoint', name='log_checkpoint_append_only'),
        pgtrigger.migrations.RemoveTrigger(model_name='logcosignature', name='log_cosignature_append_only'),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='LogEntry'),
                migrations.DeleteModel(name='LogCosignature'),
                migrations.DeleteModel(name='AuditEvent'),
                migrations.DeleteModel(name='LogCheckpoint'),
                migrations.DeleteModel(name='LogTile'),
                migrations.CreateModel(
                    name='LegalHold',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('placed_at', models.DateTimeField()),
                        ('expires_at', models.DateTimeField()),
                        ('extended', models.BooleanField(default=False)),
                        ('lifted_at', models.DateTimeField(blank=True, null=True)),
                        ('agency', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, to='accounts.agency')),
                        ('enrolment', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='legal_holds', to='escrow.enrolment')),
                        ('placed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'legal_requests_legalhold',
                    },
                ),
                migrations.AddIndex(
                    model_name='legalhold',
                    index=models.Index(fields=['enrolment', 'expires_at'], name='legal_reque_enrolme_36fbeb_idx'),
                ),
                migrations.AddConstraint(
                    model_name='legalhold',
                    constraint=models.CheckConstraint(condition=models.Q(('expires_at__gt', models.F('placed_at'))), name='hold_expires_after_placed'),
                ),
            ],
            database_operations=[],
        ),
    ]
