"""Seal the staff TOTP seeds already stored as hex (see accounts.totp_seeds)."""

from typing import Any

from django.db import migrations

from accounts.totp_seeds import SEALED_PREFIX, seed_open, seed_seal


def seal_seeds(apps: Any, schema_editor: Any) -> None:
    # The historical model sends no signals, so each seed is converted here, once.
    device_model = apps.get_model("otp_totp", "TOTPDevice")
    plain = device_model.objects.exclude(key__startswith=SEALED_PREFIX)
    for device in plain.only("pk", "user_id", "key"):
        device.key = seed_seal(device.key, user_id=device.user_id)
        device.save(update_fields=["key"])


def open_seeds(apps: Any, schema_editor: Any) -> None:
    device_model = apps.get_model("otp_totp", "TOTPDevice")
    sealed = device_model.objects.filter(key__startswith=SEALED_PREFIX)
    for device in sealed.only("pk", "user_id", "key"):
        device.key = seed_open(device.key, user_id=device.user_id)
        device.save(update_fields=["key"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_staff_change_and_mail"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(seal_seeds, open_seeds)]
