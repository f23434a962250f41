"""Seal the requesting officer's details and the justification (escrow.sealed_field)."""

from django.db import migrations

from escrow.sealed_field import column_sealing_operations

SEALED = {"officer_name": False, "officer_rank": True, "officer_badge": True,
          "officer_email": False, "officer_phone": False, "justification": False}


class Migration(migrations.Migration):
    dependencies = [("legal_requests", "0006_mail_outbox_and_reissuable_download")]

    operations = column_sealing_operations("legal_requests", "disclosurerequest", SEALED)
