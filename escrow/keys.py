"""Keys derived from the service secret; the only place that reads it."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from escrow.crypto.kdf import context_info, hkdf_sha256


def _service_secret() -> bytes:
    return settings.ESCROW_SERVICE_SECRET.encode("utf-8")


@lru_cache(maxsize=64)
def _derive(secret: bytes, label: str, part: str) -> bytes:
    return hkdf_sha256(ikm=secret, salt=None, info=context_info(label, part))


def service_key(purpose: str) -> bytes:
    """A service-wide key for one purpose (sealed audit details, idempotency fingerprints)."""
    return _derive(_service_secret(), "service-key", purpose)


def platform_key(*, platform_id: str, purpose: str) -> bytes:
    """A per-platform key; see escrow.crypto.pseudonym for why keys are per platform."""
    from escrow.crypto.pseudonym import platform_key_derive

    return _platform_key_cached(_service_secret(), platform_id, purpose, platform_key_derive)


@lru_cache(maxsize=1024)
def _platform_key_cached(secret: bytes, platform_id: str, purpose: str, derive: object) -> bytes:
    return derive(service_secret=secret, platform_id=platform_id, purpose=purpose)  # type: ignore[operator]
