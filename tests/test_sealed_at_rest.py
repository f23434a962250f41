"""Staff TOTP seeds are sealed at rest: a database dump holds none of them."""

from __future__ import annotations

import base64
import importlib

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.totp_seeds import is_sealed, seed_open, seed_seal
from escrow.crypto.sealing import BlobUnsealError
from tests import factories
from tests.test_no_plaintext import database_dump

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"
SEED = "3132333435363738393031323334353637383930"
migration = importlib.import_module("accounts.migrations.0008_seal_totp_seeds")


def seed_spellings(device: TOTPDevice) -> list[str]:
    b32 = base64.b32encode(device.bin_key).decode("ascii")
    return [device.key, device.key.upper(), b32, b32.rstrip("="), b32.lower().rstrip("=")]


def stored_key(device: TOTPDevice) -> str:
    return TOTPDevice.objects.filter(pk=device.pk).values_list("key", flat=True).get()


def test_no_staff_totp_seed_in_a_database_dump() -> None:
    olivia = factories.staff("olivia", Role.INTAKE_OFFICER)
    device = TOTPDevice.objects.get(user=olivia)
    code = f"{totp(device.bin_key):06d}"
    signed_in = APIClient().post("/api/v1/auth/token", {
        "username": "olivia", "password": PASSWORD, "otp_code": code}, format="json")
    assert signed_in.status_code == 201, signed_in.content
    pending = TOTPDevice.objects.create(user=olivia, name="new phone", confirmed=False)
    assert len(pending.key) == 40  # the caller still sees hex
    assert not is_sealed(pending.key)

    dump = database_dump()
    for seed_device in TOTPDevice.objects.filter(pk__in=[device.pk, pending.pk]):
        assert is_sealed(stored_key(seed_device))
        for spelling in seed_spellings(seed_device):
            assert spelling not in dump, "a TOTP seed is readable in the database"


def test_a_sealed_seed_round_trips_and_opens_only_for_its_user() -> None:
    sealed = seed_seal(SEED, user_id=7)
    assert is_sealed(sealed)
    assert len(sealed) <= 80
    assert SEED not in sealed
    assert seed_open(sealed, user_id=7) == SEED
    assert seed_seal(SEED, user_id=7) != sealed  # a fresh nonce each time
    with pytest.raises(BlobUnsealError):
        seed_open(sealed, user_id=8)
    with override_settings(ESCROW_TOTP_SEED_KEY="another-key-" * 4), pytest.raises(BlobUnsealError):
        seed_open(sealed, user_id=7)


def test_a_loaded_device_verifies_codes_from_its_sealed_seed() -> None:
    erin = factories.staff("erin", Role.APPROVER)
    device = TOTPDevice.objects.get(user=erin)
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    reloaded = TOTPDevice.objects.get(pk=device.pk)
    assert reloaded.key == device.key
    assert reloaded.verify_token(f"{totp(reloaded.bin_key):06d}")
    assert is_sealed(stored_key(reloaded))  # saving after verification keeps it sealed


def test_the_migration_seals_existing_hex_seeds_and_reverses() -> None:
    frank = factories.staff("frank", Role.APPROVER)
    device = TOTPDevice.objects.get(user=frank)
    TOTPDevice.objects.filter(pk=device.pk).update(key=SEED)  # as stored before sealing
    assert stored_key(device) == SEED

    # The historical models a migration runs with, which send no signals.
    state = MigrationLoader(connection).project_state(("accounts", "0008_seal_totp_seeds"))
    migration.seal_seeds(state.apps, None)
    assert is_sealed(stored_key(device))
    assert TOTPDevice.objects.get(pk=device.pk).key == SEED

    migration.open_seeds(state.apps, None)
    assert stored_key(device) == SEED
