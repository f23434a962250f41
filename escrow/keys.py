"""Keys derived from the service secret; the only place that reads it."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from escrow.crypto.kdf import context_info, hkdf_sha256
from escrow.crypto.pseudonym import platform_key_derive


class SecretVersionUnknown(Exception):
    """A pseudonym or blind-index secret version that is not configured."""


def _service_secret() -> bytes:
    return settings.ESCROW_SERVICE_SECRET.encode("utf-8")


def secret_versions() -> dict[int, bytes]:
    """Every configured pseudonym and blind-index secret, by version.

    Version 1 is the original service secret, so rows written before versions existed keep
    their meaning; later ones come from ESCROW_SECRET_VERSIONS ("2=<secret>,3=<secret>").
    Raises ValueError, naming the entry's position but never its secret, if one is malformed.
    """
    return dict(_secret_versions_parse(settings.ESCROW_SECRET_VERSIONS, _service_secret()))


@lru_cache(maxsize=8)
def _secret_versions_parse(raw: str, root: bytes) -> tuple[tuple[int, bytes], ...]:
    versions = {1: root}
    for position, item in enumerate(raw.split(","), start=1):
        if not item.strip():
            continue
        number, _, secret = item.strip().partition("=")
        if not number.strip().isdigit() or int(number) < 2 or not secret:
            raise ValueError(f"ESCROW_SECRET_VERSIONS entry {position} is not <version>=<secret>"
                             " with a version of 2 or more")
        versions[int(number)] = secret.encode("utf-8")
    return tuple(versions.items())


def _versioned_secret(version: int) -> bytes:
    secret = secret_versions().get(version)
    if secret is None:
        raise SecretVersionUnknown(f"secret version {version} is not in ESCROW_SECRET_VERSIONS")
    return secret


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


def platform_key(*, platform_id: str, purpose: str, version: int = 1) -> bytes:
    """A per-platform key of one secret version; see escrow.crypto.pseudonym for why keys
    are per platform."""
    return _platform_key(_versioned_secret(version), platform_id, purpose)
