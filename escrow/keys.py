"""Keys derived from the service secret; the only place that reads it."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from escrow.crypto.kdf import context_info, hkdf_sha256
from escrow.crypto.pseudonym import platform_key_derive


def _service_secret() -> bytes:
    return settings.ESCROW_SERVICE_SECRET.encode("utf-8")


@lru_cache(maxsize=64)
def _service_key(secret: bytes, purpose: str) -> bytes:
    return hkdf_sha256(ikm=secret, salt=None, info=context_info("service-key", purpose))


@lru_cache(maxsize=1024)
def _platform_key(secret: bytes, platform_id: str, purpose: str) -> bytes:
    return platform_key_derive(service_secret=secret, platform_id=platform_id, purpose=purpose)


def service_key(purpose: str) -> bytes:
    """A service-wide key for one purpose (sealed audit details, idempotency fingerprints)."""
    # The secret is part of the cache key, so a settings change never serves a stale key.
    return _service_key(_service_secret(), purpose)


def platform_key(*, platform_id: str, purpose: str) -> bytes:
    """A per-platform key; see escrow.crypto.pseudonym for why keys are per platform."""
    return _platform_key(_service_secret(), platform_id, purpose)
