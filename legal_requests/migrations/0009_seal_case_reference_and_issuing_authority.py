"""Seal the agency's case reference and the issuing authority (escrow.sealed_field), as
the log already seals them in the request's events: investigation metadata a dump of
the database should not show."""

from django.db import migrations

from escrow.sealed_field import column_sealing_operations


class Migration(migrations.Migration):
    dependencies = [("legal_requests", "0008_seal_mail_recipient")]

    operations = column_sealing_operations(
        "legal_requests", "disclosurerequest", {"case_reference": False, "issuing_authority": False}
    )
