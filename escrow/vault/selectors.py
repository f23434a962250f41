"""Reads of the vault: enrolments, escrow keys, legal holds. Tenant scoping happens here, once."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Agency, Platform
from escrow.crypto.pseudonym import pseudonym_parse
from escrow.crypto.threshold import EscrowPublicKey, InvalidPublicKey
from escrow.log.models import AuditEvent
from escrow.vault.models import CustodianKey, Enrolment, EscrowKey, LegalHold

logger = logging.getLogger("escrow.vault")

_KEY_CACHE_SECONDS = 30.0
_key_cache: tuple[float, EscrowPublicKey] | None = None


class NoActiveEscrowKey(Exception):
    """No key ceremony has been run (or none is active): nothing can be enrolled."""


class EscrowKeyUnattested(Exception):
    """The active escrow key is not the one its last logged ceremony or redistribution
    named: nothing is sealed to it until an operator looks."""


class EnrolmentNotFound(Exception):
    """No enrolment with that pseudonym belongs to the calling platform."""


class LegalHoldNotFound(Exception):
    """No such legal hold, or it belongs to another agency."""


class UnknownPseudonyms(Exception):
    """Some named pseudonyms resolve to no escrowed identity.

    The answer is the same whether a pseudonym was never issued, belongs to any platform
    of the escrow, or was erased: it names only the positions in the submitted list.
    """

    def __init__(self, positions: list[int]) -> None:
        super().__init__(
            "no escrowed identity for the pseudonyms at positions "
            + ", ".join(str(p) for p in positions)
        )
        self.positions = positions
        self.problem_extra = {"positions": positions}


def pseudonyms_resolve(*, pseudonyms: Iterable[str]) -> list[tuple[str, Enrolment]]:
    """Canonical pseudonym and live enrolment for each entry, in order, across all platforms.

    Agencies are not tenants of any one platform: a request may name pseudonyms from
    several. Raises InvalidPseudonym for a malformed entry, UnknownPseudonyms otherwise.
    """
    canonical = [pseudonym_parse(p) for p in pseudonyms]
    found = {
        e.pseudonym: e
        for e in Enrolment.objects.filter(pseudonym__in=canonical).exclude(
            status=Enrolment.Status.ERASED
        )
    }
    missing = [i for i, p in enumerate(canonical) if p not in found]
    if missing:
        raise UnknownPseudonyms(missing)
    return [(p, found[p]) for p in canonical]


def escrow_key_active_row() -> EscrowKey | None:
    """The active escrow key's row (epoch, threshold, shares), uncached; None before a ceremony."""
    return EscrowKey.objects.filter(is_active=True).first()


# The events that set an epoch's key and share holders (escrow.vault.services.ceremony,
# legal_requests.services.redistribution); the latest one for an epoch is its truth.
ESCROW_KEY_EVENTS = ("escrow_key.ceremony", "escrow_key.redistributed")


def escrow_key_attestation_problem(row: EscrowKey, *, holders: bool = True) -> str | None:
    """Why `row` is not what the log last said of its epoch, or None if it is.

    Every change of an epoch's key goes through a service that logs its fingerprint and
    share holders in the same transaction, so a key row that differs from its epoch's
    latest such event was written around the services (a substituted public key would
    seal new records to whoever holds its private half). No personal data: fingerprints
    and staff ids.
    """
    entry = (
        AuditEvent.objects.filter(object_ref=f"escrow_key:{row.epoch}",
                                  event_type__in=ESCROW_KEY_EVENTS)
        .order_by("-pk").values_list("entry", flat=True).first()
    )
    if entry is None:
        return f"epoch {row.epoch}: no ceremony of it is in the log"
    details = json.loads(bytes(entry)).get("details") or {}
    try:
        public_key = EscrowPublicKey.from_dict(row.public_key)
    except InvalidPublicKey:
        return f"epoch {row.epoch}: the stored public key does not parse"
    if details.get("fingerprint") != public_key.fingerprint().hex() or (
        public_key.epoch, public_key.threshold, public_key.custodians
    ) != (row.epoch, row.threshold, row.custodian_count):
        return f"epoch {row.epoch}: the stored key is not the one the log names"
    if holders:
        stored = [f"staff:{user_id}" for user_id in CustodianKey.objects.filter(escrow_key=row)
                  .order_by("index").values_list("user_id", flat=True)]
        if details.get("custodians") != stored:
            return f"epoch {row.epoch}: the share holders are not the ones the log names"
    return None


def escrow_key_active() -> EscrowPublicKey:
    """The active escrow public key, cached briefly per process (it changes only at a
    ceremony or a redistribution), once it is the key its epoch's logged event names."""
    global _key_cache
    now = time.monotonic()
    if _key_cache is not None and now - _key_cache[0] < _KEY_CACHE_SECONDS:
        return _key_cache[1]
    row = escrow_key_active_row()
    if row is None:
        raise NoActiveEscrowKey("no active escrow key: run the key ceremony")
    problem = escrow_key_attestation_problem(row, holders=False)
    if problem is not None:
        logger.error("escrow key refused: %s; nothing is sealed until an operator looks "
                     "(manage.py escrow_key_verify)", problem)
        raise EscrowKeyUnattested(
            "the active escrow key is not the one its logged ceremony names; enrolment is "
            "suspended until an operator looks"
        )
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


def legal_hold_list_for_agency(*, agency: Agency) -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(agency=agency).select_related("enrolment").order_by(
        "-placed_at"
    )


def legal_hold_list_for_staff() -> QuerySet[LegalHold]:
    return LegalHold.objects.select_related("enrolment", "agency").order_by("-placed_at")


def legal_hold_get_for_agency(*, agency: Agency, hold_id: UUID) -> LegalHold:
    hold = legal_hold_list_for_agency(agency=agency).filter(pk=hold_id).first()
    if hold is None:
        raise LegalHoldNotFound("no such legal hold")
    return hold


def legal_hold_get_for_staff(*, hold_id: UUID) -> LegalHold:
    hold = legal_hold_list_for_staff().filter(pk=hold_id).first()
    if hold is None:
        raise LegalHoldNotFound("no such legal hold")
    return hold


def legal_hold_is_active(hold: LegalHold) -> bool:
    return hold.lifted_at is None and hold.expires_at > timezone.now()
