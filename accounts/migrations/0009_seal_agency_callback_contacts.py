"""Seal agencies' call-back contact details (escrow.sealed_field)."""

from django.db import migrations

from escrow.sealed_field import column_sealing_operations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_seal_totp_seeds")]

    operations = column_sealing_operations(
        "accounts", "agency", {"callback_phone": False, "callback_email": False})
