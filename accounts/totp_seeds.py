"""Staff TOTP seeds sealed at rest with a key from the environment, not the database.

django-otp keeps a device's seed as hex in `otp_totp_totpdevice.key`. We store
`s1:` + base64url(AES-256-GCM(seed)) there instead, bound to the owning user, and
open it whenever a device is loaded, so django-otp and our sign-in code keep seeing
hex. A database dump alone therefore yields no seed; the key is
`ESCROW_TOTP_SEED_KEY`, which lives only in the environment.
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.db.models.signals import post_init, post_save, pre_save

from escrow.crypto.kdf import context_info, hkdf_sha256
from escrow.crypto.sealing import blob_seal, blob_unseal

SEALED_PREFIX = "s1:"
_COLUMN_CHARS = 80  # django-otp's TOTPDevice.key max_length


def _key() -> bytes:
    secret = settings.ESCROW_TOTP_SEED_KEY.encode("utf-8")
    return hkdf_sha256(ikm=secret, salt=None, info=context_info("totp-seed-key"))


def _owner(user_id: object) -> bytes:
    # Binding the user: a sealed seed copied onto another user's device fails to open.
    return context_info("totp-seed", str(user_id))


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def seed_seal(hex_seed: str, *, user_id: object) -> str:
    seed = bytes.fromhex(hex_seed)
    sealed = blob_seal(key=_key(), plaintext=seed, associated_data=_owner(user_id))
    out = SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")
    if len(out) > _COLUMN_CHARS:
        raise ValueError("TOTP seed too long to seal in the key column (at most 29 bytes)")
    return out


def seed_open(stored: str, *, user_id: object) -> str:
    body = stored[len(SEALED_PREFIX) :]
    sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return blob_unseal(key=_key(), sealed=sealed, associated_data=_owner(user_id)).hex()


def _seal_before_save(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.key and not is_sealed(instance.key):
        instance.key = seed_seal(instance.key, user_id=instance.user_id)


def _open_loaded(sender: Any, instance: Any, **kwargs: Any) -> None:
    key = instance.__dict__.get("key")  # absent when the field is deferred
    if key and is_sealed(key):
        instance.key = seed_open(key, user_id=instance.user_id)


def connect() -> None:
    """Seal on every save, open on every load and after every save (called at start-up)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    pre_save.connect(_seal_before_save, sender=TOTPDevice, dispatch_uid="totp-seed-seal")
    post_save.connect(_open_loaded, sender=TOTPDevice, dispatch_uid="totp-seed-open-saved")
    post_init.connect(_open_loaded, sender=TOTPDevice, dispatch_uid="totp-seed-open-loaded")
