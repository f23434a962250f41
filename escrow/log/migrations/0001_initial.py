# The log's tables move here from the vault app (label `escrow`), where they were created
# (escrow 0002_audit_log). The tables keep their names, so only Django's state moves;
# the append-only triggers are reinstalled under this app's trigger ids and the old
# ones dropped by escrow 0003, so the tables are never unprotected.

import django.db.models.deletion
import django.utils.timezone
import escrow.log.db
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0003_webhookdelivery'),
        ('escrow', '0002_audit_log'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='LogCosignature',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('witness_name', models.CharField(max_length=255)),
                        ('key_id', models.BigIntegerField()),
                        ('line', models.TextField()),
                        ('cosigned_at', models.BigIntegerField()),
                        ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        'db_table': 'escrow_logcosignature',
                    },
                ),
                migrations.CreateModel(
                    name='LogEntry',
                    fields=[
                        ('index', models.BigIntegerField(primary_key=True, serialize=False)),
                    ],
                    options={
                        'db_table': 'escrow_logentry',
                    },
                ),
                migrations.CreateModel(
                    name='LogTile',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('level', models.PositiveSmallIntegerField()),
                        ('index', models.BigIntegerField()),
                        ('width', models.PositiveSmallIntegerField()),
                        ('hashes', models.BinaryField()),
                    ],
                    options={
                        'db_table': 'escrow_logtile',
                    },
                ),
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('event_type', models.CharField(max_length=64)),
                        ('occurred_at', models.DateTimeField()),
                        ('actor_kind', models.CharField(max_length=16)),
                        ('actor_ref', models.CharField(max_length=64)),
                        ('actor_role', models.CharField(blank=True, max_length=32)),
                        ('object_ref', models.CharField(blank=True, max_length=100)),
                        ('commitment', models.BinaryField(blank=True, max_length=32, null=True)),
                        ('sealed_detail', models.BinaryField(blank=True, null=True)),
                        ('entry', models.BinaryField()),
                        ('log_txid', models.BigIntegerField(db_default=escrow.log.db.CurrentTransactionId(), editable=False, null=True)),
                        ('platform', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, to='accounts.platform')),
                    ],
                    options={
                        'db_table': 'escrow_auditevent',
                    },
                ),
                migrations.CreateModel(
                    name='LogCheckpoint',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('tree_size', models.BigIntegerField(unique=True)),
                        ('root_hash', models.BinaryField(max_length=32)),
                        ('note', models.TextField()),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        'db_table': 'escrow_logcheckpoint',
                        'constraints': [models.CheckConstraint(condition=models.Q(('tree_size__gte', 0)), name='log_checkpoint_size')],
                    },
                ),
                migrations.AddField(
                    model_name='logcosignature',
                    name='checkpoint',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='cosignatures', to='log.logcheckpoint'),
                ),
                migrations.AddField(
                    model_name='logentry',
                    name='event',
                    field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='log_entry', to='log.auditevent'),
                ),
                migrations.AddConstraint(
                    model_name='logtile',
                    constraint=models.UniqueConstraint(fields=('level', 'index', 'width'), name='log_tile_unique'),
                ),
                migrations.AddConstraint(
                    model_name='logtile',
                    constraint=models.CheckConstraint(condition=models.Q(('index__gte', 0), ('level__lte', 63), ('width__gte', 1), ('width__lte', 256)), name='log_tile_shape'),
                ),
                migrations.AddIndex(
                    model_name='auditevent',
                    index=models.Index(fields=['event_type', 'occurred_at'], name='escrow_audi_event_t_820ef6_idx'),
                ),
                migrations.AddIndex(
                    model_name='auditevent',
                    index=models.Index(fields=['object_ref'], name='escrow_audi_object__0948b1_idx'),
                ),
                migrations.AddIndex(
                    model_name='auditevent',
                    index=models.Index(fields=['log_txid', 'id'], name='audit_event_log_order'),
                ),
                migrations.AddConstraint(
                    model_name='logcosignature',
                    constraint=models.UniqueConstraint(fields=('checkpoint', 'witness_name', 'key_id'), name='one_cosignature_per_witness'),
                ),
                migrations.AddConstraint(
                    model_name='logentry',
                    constraint=models.CheckConstraint(condition=models.Q(('index__gte', 0)), name='log_index_natural'),
                ),
            ],
            database_operations=[],
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='logcheckpoint',
            trigger=pgtrigger.compiler.Trigger(name='log_checkpoint_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='de8ab2343b5546b17a4493354c9f247022684e1b', operation='UPDATE OR DELETE', pgid='pgtrigger_log_checkpoint_append_only_a2bfb', table='escrow_logcheckpoint', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='logtile',
            trigger=pgtrigger.compiler.Trigger(name='log_tile_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='63d2f9038c23a255f9830796266e733245aa6e0a', operation='UPDATE OR DELETE', pgid='pgtrigger_log_tile_append_only_f458d', table='escrow_logtile', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='auditevent',
            trigger=pgtrigger.compiler.Trigger(name='audit_event_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='0aed27e283cdf76f042bd07f6fde098b4e52fd85', operation='UPDATE OR DELETE', pgid='pgtrigger_audit_event_append_only_996b5', table='escrow_auditevent', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='logcosignature',
            trigger=pgtrigger.compiler.Trigger(name='log_cosignature_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='d959d2ae9cab235ca3d9924dd7f4ab0f7d3e2895', operation='UPDATE OR DELETE', pgid='pgtrigger_log_cosignature_append_only_7e702', table='escrow_logcosignature', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='logentry',
            trigger=pgtrigger.compiler.Trigger(name='log_entry_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='ebfee7591dcd8c6470d373cf472268e18819f640', operation='UPDATE OR DELETE', pgid='pgtrigger_log_entry_append_only_ef212', table='escrow_logentry', when='BEFORE')),
        ),
    ]
