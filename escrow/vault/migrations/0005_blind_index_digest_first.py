"""The blind-index lookup index leads with the digest (see BlindIndex.Meta).

With (platform, digest), PostgreSQL planned a signup's lookup as a scan of every index
entry of the platform, filtered by digest, when its statistics were taken while the
table was small, and in a prepared statement's generic plan. With (digest, platform)
no index reads a whole platform. The new index is built before the old one is dropped.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0010_seal_staff_mail_recipient"),
        ("escrow", "0004_secret_versions"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="blindindex",
            index=models.Index(fields=["digest", "platform"], name="blind_index_digest"),
        ),
        migrations.RemoveIndex(
            model_name="blindindex",
            name="blind_index_lookup",
        ),
    ]
