"""Seal the mail outbox's recipient addresses (escrow.sealed_field): the download-secret
mail goes to the requesting officer, whose address is sealed on the request itself."""

from django.db import migrations

from escrow.sealed_field import column_sealing_operations


class Migration(migrations.Migration):
    dependencies = [("legal_requests", "0007_seal_officer_and_justification")]

    operations = column_sealing_operations("legal_requests", "outgoingmail", {"recipient": False})
