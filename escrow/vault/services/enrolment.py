"""Changes to the vault: enrol, ban, unban, erase. One transaction each, audited."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Platform
from escrow.crypto.blind_index import identity_match_keys
from escrow.crypto.encoding import b64encode
from escrow.crypto.envelope import FieldContext, field_seal, point_commitment
from escrow.crypto.pseudonym import pseudonym_derive
from escrow.keys import platform_key, service_key
from escrow.log.events import Actor, event_record
from escrow.vault.identity import Evidence, Identity, match_attributes, sealed_field_values
from escrow.vault.models import BlindIndex, Enrolment
from escrow.vault.selectors import enrolment_legal_hold_active, escrow_key_active

# A person enrolled more often than this is reported as a match of at most this many.
MAX_REPORTED_MATCHES = 50


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used for a different request body."""


class EnrolmentStateConflict(Exception):
    """The enrolment is not in a state that allows this change."""


class EnrolmentUnderLegalHold(Exception):
    """A preservation request covers this enrolment; it cannot be erased now."""


@dataclass(frozen=True)
class EnrolmentResult:
    enrolment: Enrolment
    existing_pseudonyms: list[str]
    any_banned: bool
    replayed: bool


def _fingerprint(*, platform: Platform, identity: Identity, evidence: Evidence) -> bytes:
    # Keyed, so a database dump cannot test guessed identities against it.
    body = json.dumps(
        {"identity": asdict(identity), "evidence": asdict(evidence)},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    ).encode()
    return hmac.new(service_key("idempotency"), str(platform.id).encode() + b"\x00" + body,
                    hashlib.sha256).digest()


def _answer_from(enrolment: Enrolment, matches: list[tuple[str, str]]) -> EnrolmentResult:
    return EnrolmentResult(
        enrolment=enrolment,
        existing_pseudonyms=sorted({p for p, _ in matches}),
        any_banned=any(s == Enrolment.Status.BANNED for _, s in matches),
        replayed=False,
    )


@dataclass(frozen=True)
class _SealedEnrolment:
    """What is stored for a new enrolment, computed before the transaction opens."""

    record_id: uuid.UUID
    pseudonym: str
    epoch: int
    sealed_fields: dict[str, str]
    # field name -> hex commitment to the field's ephemeral point, logged at enrolment.
    point_commitments: dict[str, str]
    # blind index kind -> digest
    match_keys: dict[str, bytes]


def _identity_seal(
    *, platform: Platform, identity: Identity, evidence: Evidence
) -> _SealedEnrolment:
    """Seal every present field under the active escrow key and derive the pseudonym and
    blind indexes. It writes nothing, so the sealing stays outside the transaction."""
    public_key = escrow_key_active()
    record_id = uuid.uuid4()
    platform_id = str(platform.id)
    pseudonym = pseudonym_derive(
        platform_key=platform_key(platform_id=platform_id, purpose="pseudonym"),
        record_id=record_id.bytes,
    )
    sealed: dict[str, str] = {}
    point_commitments: dict[str, str] = {}
    for name, value in sealed_field_values(identity=identity, evidence=evidence).items():
        context = FieldContext(
            record_id=str(record_id), platform_id=platform_id, field_name=name,
            epoch=public_key.epoch,
        )
        envelope = field_seal(public_key=public_key, context=context, plaintext=value)
        sealed[name] = b64encode(envelope.to_bytes())
        point_commitments[name] = point_commitment(
            context=context, ephemeral_point=envelope.ephemeral_point
        ).hex()
    match_keys = identity_match_keys(
        key=platform_key(platform_id=platform_id, purpose="blind-index"),
        identity=match_attributes(identity),
    )
    return _SealedEnrolment(
        record_id=record_id, pseudonym=pseudonym, epoch=public_key.epoch, sealed_fields=sealed,
        point_commitments=point_commitments, match_keys=match_keys,
    )


def _enrolment_insert(
    *, platform: Platform, sealed: _SealedEnrolment, evidence: Evidence, idempotency_key: str,
    fingerprint: bytes, now: datetime,
) -> EnrolmentResult:
    """Inside the caller's transaction: earlier matches, the rows, and the audit event."""
    matches = list(
        BlindIndex.objects.filter(platform=platform, digest__in=list(sealed.match_keys.values()))
        .values_list("enrolment__pseudonym", "enrolment__status")
        .distinct()[:MAX_REPORTED_MATCHES]
    )
    enrolment = Enrolment.objects.create(
        id=sealed.record_id,
        platform=platform,
        pseudonym=sealed.pseudonym,
        key_epoch=sealed.epoch,
        sealed_fields=sealed.sealed_fields,
        evidence_provider=evidence.provider,
        evidence_assurance_level=evidence.assurance_level,
        evidence_verified_at=evidence.verified_at,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        created_at=now,
    )
    BlindIndex.objects.bulk_create(
        [
            BlindIndex(platform=platform, enrolment=enrolment, kind=kind, digest=digest)
            for kind, digest in sealed.match_keys.items()
        ]
    )
    result = _answer_from(enrolment, matches)
    event_record(
        event_type="enrolment.created",
        actor=Actor.for_platform(platform.id),
        object_ref=f"enrolment:{enrolment.id}",
        platform_id=platform.id,
        occurred_at=now,
        details={
            "epoch": sealed.epoch,
            # What custodians check a release challenge's points against.
            "points": sealed.point_commitments,
            "assurance_level": evidence.assurance_level,
            "matched_existing": len(result.existing_pseudonyms),
        },
    )
    return result


def enrolment_create(
    *, platform: Platform, identity: Identity, evidence: Evidence, idempotency_key: str
) -> EnrolmentResult:
    """Seal a verified identity, derive its pseudonym, and report earlier enrolments of the
    same person on this platform (by blind index), all in one transaction.

    A retry with the same key and body returns the first answer and stores nothing;
    the same key with another body raises IdempotencyKeyReused.
    """
    fingerprint = _fingerprint(platform=platform, identity=identity, evidence=evidence)
    sealed = _identity_seal(platform=platform, identity=identity, evidence=evidence)
    now = timezone.now()
    try:
        with transaction.atomic():
            return _enrolment_insert(
                platform=platform, sealed=sealed, evidence=evidence,
                idempotency_key=idempotency_key, fingerprint=fingerprint, now=now,
            )
    except IntegrityError:
        # The unique (platform, idempotency_key) constraint: a retry, or a racing twin.
        existing = Enrolment.objects.filter(
            platform=platform, idempotency_key=idempotency_key
        ).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint)


def _replay(existing: Enrolment, fingerprint: bytes) -> EnrolmentResult:
    if not hmac.compare_digest(bytes(existing.request_fingerprint), fingerprint):
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different body")
    # The same answer as the first time: matches made before that enrolment was created.
    matches = list(
        BlindIndex.objects.filter(
            platform_id=existing.platform_id,
            digest__in=BlindIndex.objects.filter(enrolment=existing).values("digest"),
            enrolment__created_at__lt=existing.created_at,
        )
        .values_list("enrolment__pseudonym", "enrolment__status")
        .distinct()[:MAX_REPORTED_MATCHES]
    )
    return replace(_answer_from(existing, matches), replayed=True)


def _transition(
    *, platform: Platform, enrolment: Enrolment, from_status: str, to_status: str, event_type: str
) -> Enrolment:
    now = timezone.now()
    with transaction.atomic():
        changes: dict[str, object] = {"status": to_status}
        if to_status == Enrolment.Status.BANNED:
            changes["banned_at"] = now
        elif from_status == Enrolment.Status.BANNED:
            changes["banned_at"] = None
        # Compare-and-swap: two racing calls cannot both move it.
        moved = Enrolment.objects.filter(
            pk=enrolment.pk, platform=platform, status=from_status
        ).update(**changes)
        if moved != 1:
            raise EnrolmentStateConflict(f"the enrolment is not {from_status}")
        event_record(
            event_type=event_type,
            actor=Actor.for_platform(platform.id),
            object_ref=f"enrolment:{enrolment.pk}",
            platform_id=platform.id,
            occurred_at=now,
        )
    enrolment.refresh_from_db()
    return enrolment


def enrolment_ban(*, platform: Platform, enrolment: Enrolment) -> Enrolment:
    return _transition(
        platform=platform,
        enrolment=enrolment,
        from_status=Enrolment.Status.ACTIVE,
        to_status=Enrolment.Status.BANNED,
        event_type="enrolment.banned",
    )


def enrolment_unban(*, platform: Platform, enrolment: Enrolment) -> Enrolment:
    return _transition(
        platform=platform,
        enrolment=enrolment,
        from_status=Enrolment.Status.BANNED,
        to_status=Enrolment.Status.ACTIVE,
        event_type="enrolment.unbanned",
    )


def enrolment_erase(*, platform: Platform, enrolment: Enrolment) -> Enrolment:
    """Crypto-shred: destroy the sealed fields and blind indexes, keep a tombstone."""
    now = timezone.now()
    with transaction.atomic():
        # The lock serialises erasure against a legal hold being placed at the same time.
        locked = Enrolment.objects.select_for_update().get(pk=enrolment.pk, platform=platform)
        if locked.status == Enrolment.Status.ERASED:
            raise EnrolmentStateConflict("the enrolment is already erased")
        if enrolment_legal_hold_active(enrolment=locked):
            raise EnrolmentUnderLegalHold("a legal hold covers this enrolment")
        locked.sealed_fields = None
        locked.status = Enrolment.Status.ERASED
        locked.erased_at = now
        locked.banned_at = None
        locked.save(update_fields=["sealed_fields", "status", "erased_at", "banned_at"])
        BlindIndex.objects.filter(enrolment=locked).delete()
        event_record(
            event_type="enrolment.erased",
            actor=Actor.for_platform(platform.id),
            object_ref=f"enrolment:{locked.pk}",
            platform_id=platform.id,
            occurred_at=now,
        )
    return locked
