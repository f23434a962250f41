# The mail outbox (every outgoing mail persisted, sent by a retried task, dead-lettered
# after MAIL_MAX_ATTEMPTS) and the download secret kept sealed beside its package so an
# approver can reissue it. Reviewed: additive only; existing releases get NULL, which
# both new check constraints accept, so no data migration is needed.

import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('legal_requests', '0005_auditevent_and_legalhold_moved'),
        ('log', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='OutgoingMail',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('kind', models.CharField(max_length=40)),
                ('recipient', models.EmailField(max_length=254)),
                ('subject', models.CharField(max_length=200)),
                ('body', models.TextField()),
                ('secret_sealed', models.BinaryField(blank=True, null=True)),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('dead', 'Dead'), ('cancelled', 'Cancelled')], default='pending', max_length=10)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField()),
                ('last_error', models.CharField(blank=True, max_length=100)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.AddField(
            model_name='release',
            name='download_secret_sealed',
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name='release',
            constraint=models.CheckConstraint(condition=models.Q(('package_sealed__isnull', False), ('download_secret_sealed__isnull', True), _connector='OR'), name='download_secret_only_with_package'),
        ),
        migrations.AddField(
            model_name='outgoingmail',
            name='request',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='mails', to='legal_requests.disclosurerequest'),
        ),
        migrations.AddIndex(
            model_name='outgoingmail',
            index=models.Index(fields=['state', 'next_attempt_at'], name='outgoing_mail_due'),
        ),
        migrations.AddConstraint(
            model_name='outgoingmail',
            constraint=models.CheckConstraint(condition=models.Q(('state', 'pending'), ('secret_sealed__isnull', True), _connector='OR'), name='mail_secret_only_while_pending'),
        ),
    ]
