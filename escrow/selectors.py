"""Reads of the vault. Tenant scoping happens here, once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import Platform
from escrow.crypto.pseudonym import pseudonym_parse
from escrow.crypto.threshold import EscrowPublicKey
from escrow.models import Enrolment, EscrowKey
from legal_requests.models import LegalHold

_KEY_CACHE_SECONDS = 30.0
_key_cache: tuple[float, EscrowPublicKey] | None = None


class NoActiveEscrowKey(Exception):
    """No key ceremony has been run (or none is active): nothing can be enrolled."""


class EnrolmentNotFound(Exception):
    """No enrolment with that pseudonym belongs to the calling platform."""


def escrow_key_active() -> EscrowPublicKey:
    """The active escrow public key, cached briefly per process (it changes only at a ceremony)."""
    global _key_cache
    now = time.monotonic()
    if _key_cache is not None and now - _key_cache[0] < _KEY_CACHE_SECONDS:
        return _key_cache[1]
    row = EscrowKey.objects.filter(is_active=True).first()
    if row is None:
        raise NoActiveEscrowKey("no active escrow key: run the key ceremony")
    public_key = EscrowPublicKey.from_dict(row.public_key)
    _key_cache = (now, public_key)
    return public_key


def escrow_key_cache_clear() -> None:
    global _key_cache
    _key_cache = None


def enrolment_get_for_platform(*, platform: Platform, pseudonym: str) -> Enrolment:
    """The platform's own enrolment; another platform's pseudonym is simply not found.

    Raises escrow.crypto.pseudonym.InvalidPseudonym for a malformed or mistyped one.
    """
    canonical = pseudonym_parse(pseudonym)
    enrolment = Enrolment.objects.filter(platform=platform, pseudonym=canonical).first()
    if enrolment is None:
        raise EnrolmentNotFound("no such pseudonym on this platform")
    return enrolment


def enrolment_legal_hold_active(*, enrolment: Enrolment) -> bool:
    return LegalHold.objects.filter(
        enrolment=enrolment, lifted_at__isnull=True, expires_at__gt=timezone.now()
    ).exists()


@dataclass(frozen=True)
class EnrolmentStatus:
    pseudonym: str
    status: str
    legal_hold: bool
    created_at: object
    banned_at: object
    erased_at: object
    assurance_level: str


def enrolment_status(*, enrolment: Enrolment) -> EnrolmentStatus:
    return EnrolmentStatus(
        pseudonym=enrolment.pseudonym,
        status=enrolment.status,
        legal_hold=enrolment_legal_hold_active(enrolment=enrolment),
        created_at=enrolment.created_at,
        banned_at=enrolment.banned_at,
        erased_at=enrolment.erased_at,
        assurance_level=enrolment.evidence_assurance_level,
    )
