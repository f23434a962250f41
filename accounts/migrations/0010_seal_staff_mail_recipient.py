"""Seal the staff outbox's recipient addresses (escrow.sealed_field)."""

from django.db import migrations

from escrow.sealed_field import column_sealing_operations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0009_seal_agency_callback_contacts")]

    operations = column_sealing_operations("accounts", "staffmail", {"recipient": False})
